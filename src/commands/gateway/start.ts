import cluster from 'node:cluster'

import { BaseCommand } from '../../base-command.js'
import { resolveGatewaySetting } from '../../lib/config.js'
import {
  GATEWAY_SETTINGS,
  gatewayFlagName,
  gatewaySettingsFrom,
  type GatewaySettingKey,
} from '../../lib/gateway/settings.js'
import { gatewayFlags } from '../../gateway-flags.js'

export default class GatewayStart extends BaseCommand<typeof GatewayStart> {
  static override description =
    'run the gateway in front of an agent, or as a forward-auth service: only requests with a valid badge, JWT or signed request get through (every flag is also a config `gateway` key and a CAPISCIO_GATEWAY_* variable)'
  static override examples = [
    '<%= config.bin %> <%= command.id %> --port 8080 --target http://localhost:3000 --local-key partner/public.jwk',
    '<%= config.bin %> <%= command.id %> --target http://agent:3000 --registry-url https://registry.example.com/.well-known/jwks.json --redis redis://redis:6379 --log-format json',
    '<%= config.bin %> <%= command.id %> --target http://localhost:3000 --trust-dir capiscio_keys/trusted --verify badge,jwt,guard --jwt-secret-file jwt.secret',
    '<%= config.bin %> <%= command.id %> --mode auth --port 9000 --trust-dir capiscio_keys/trusted',
  ]
  static override jsonLines = true
  /** GatewaySettings names that are not the table's keys, as the flags that set them. */
  static override optionFlags = {
    algorithms: '--alg',
    tokenAudience: '--aud',
    tokenIssuers: '--iss',
    issuers: '--issuer',
    maxBodyBytes: '--max-body',
    clockSkewSeconds: '--clock-skew',
  }
  static override flags = gatewayFlags

  async run(): Promise<void> {
    const loaded = await this.config_()
    const flags = this.flags as Record<string, unknown>
    const settings = gatewaySettingsFrom(<K extends GatewaySettingKey>(key: K) =>
      resolveGatewaySetting(key, flags[gatewayFlagName(key)] as never, loaded),
    )
    // --json on a long-running command means JSON lines: here, the log (as --log-format json).
    const format = flags.json === true ? 'json' : (settings.logFormat ?? 'text')
    const workers = settings.workers ?? (GATEWAY_SETTINGS.workers.default as number)
    // The gateway code (undici, prom-client, ioredis) loads only here, so other commands start fast.
    const { runGatewayProcess } = await import('../../gateway-process.js')
    await runGatewayProcess(settings, { format, workers, cluster, quiet: this.isQuiet })
  }
}
