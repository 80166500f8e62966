import cluster from 'node:cluster'

import { BaseCommand } from '../../base-command.js'
import { forCli } from '../../cli-errors.js'
import { gatewaySettingOrigin, resolveGatewaySetting } from '../../lib/config.js'
import { CapiscioError } from '../../lib/errors.js'
import {
  GATEWAY_SETTINGS,
  gatewayEnvName,
  gatewayFlagName,
  gatewaySettingsFrom,
  type GatewaySettingKey,
} from '../../lib/gateway/settings.js'
import { gatewayFlags } from '../../gateway-flags.js'
import { closest } from '../../suggest.js'

const GATEWAY_VARIABLES = new Set(Object.keys(GATEWAY_SETTINGS).map(gatewayEnvName))

/**
 * A CAPISCIO_GATEWAY_* variable that names no setting would be ignored, and a misspelt security
 * setting (CAPISCIO_GATEWAY_ISSUER for ISSUERS) would then fail open: it stops start-up instead, as
 * an unknown key in the config file does.
 */
function checkGatewayVariables(env: NodeJS.ProcessEnv): void {
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('CAPISCIO_GATEWAY_') || GATEWAY_VARIABLES.has(name) || !env[name]) continue
    const guess = closest(name, GATEWAY_VARIABLES)
    throw new CapiscioError('CONFIG_INVALID', `environment variable ${name} is not a gateway setting`, {
      hint: guess
        ? `did you mean ${guess}?`
        : 'a variable is CAPISCIO_GATEWAY_ and a setting in upper snake case, e.g. CAPISCIO_GATEWAY_TARGET (docs/deployment.md)',
    })
  }
}

/**
 * Option names (GatewaySettings', or the table's where its flag is named otherwise) and the table's
 * keys that set them: the flags errors show and the origins they are traced to both come from here.
 */
const SETTING_OF: Record<string, GatewaySettingKey> = {
  issuers: 'issuers',
  algorithms: 'alg',
  tokenAudience: 'aud',
  tokenIssuers: 'iss',
  maxBodyBytes: 'maxBody',
  clockSkewSeconds: 'clockSkew',
  upstreamTimeoutMs: 'upstreamTimeout',
  drainTimeoutMs: 'drainTimeout',
  requestTimeoutMs: 'requestTimeout',
  redisTimeoutMs: 'redisTimeout',
}

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
  static override optionFlags = Object.fromEntries(
    Object.entries(SETTING_OF).map(([option, key]) => [option, `--${gatewayFlagName(key)}`]),
  )
  static override flags = gatewayFlags

  /** The settings whose values came from a CAPISCIO_GATEWAY_* variable or the config file. */
  private origins = new Map<string, NonNullable<ReturnType<typeof gatewaySettingOrigin>>>()

  async run(): Promise<void> {
    checkGatewayVariables(process.env)
    const loaded = await this.config_()
    const flags = this.flags as Record<string, unknown>
    for (const key of Object.keys(GATEWAY_SETTINGS) as GatewaySettingKey[]) {
      const origin = gatewaySettingOrigin(key, flags[gatewayFlagName(key)], loaded)
      if (origin) this.origins.set(key, origin)
    }
    const settings = gatewaySettingsFrom(<K extends GatewaySettingKey>(key: K) =>
      resolveGatewaySetting(key, flags[gatewayFlagName(key)] as never, loaded),
    )
    // --json on a long-running command means JSON lines: here, the log (as --log-format json). With
    // --log-format off there is no line per request; the start, stop and warning lines still print.
    const logFormat = settings.logFormat ?? 'text'
    const format = flags.json === true || logFormat === 'json' ? 'json' : 'text'
    const requestLog = logFormat !== 'off'
    const workers = settings.workers ?? (GATEWAY_SETTINGS.workers.default as number)
    // The gateway code (undici, prom-client, ioredis) loads only here, so other commands start fast.
    const { runGatewayProcess } = await import('../../gateway-process.js')
    await runGatewayProcess(settings, { format, requestLog, workers, cluster, quiet: this.isQuiet })
  }

  /**
   * A setting's value that came from a variable or the config file is named as such
   * (CAPISCIO_GATEWAY_TARGET, or gateway.target and the file), not as the flag the user never
   * typed; and a usage error about values that all came from there is CONFIG_INVALID (exit 4), as
   * the type errors of those values are, not a usage error (exit 2).
   */
  protected override namedBySource(error: CapiscioError): CapiscioError {
    if (!error.options?.length) return error
    const names: Record<string, string> = {}
    let file: string | undefined
    let fromFlags = false
    for (const option of error.options) {
      const key = SETTING_OF[option] ?? option
      const origin = this.origins.get(key)
      if (origin === undefined) {
        const flags = this.flags as Record<string, unknown> | undefined
        if (key in GATEWAY_SETTINGS && flags?.[gatewayFlagName(key as GatewaySettingKey)] !== undefined)
          fromFlags = true
        continue
      }
      if ('env' in origin) names[option] = origin.env
      else {
        names[option] = origin.key
        file = origin.file
      }
    }
    if (Object.keys(names).length === 0) return error
    const named = forCli(error, { ...GatewayStart.optionFlags, ...names })
    const usage = error.code === 'USAGE' && !fromFlags
    return new CapiscioError(
      usage ? 'CONFIG_INVALID' : error.code,
      file ? `${file}: ${named.message}` : named.message,
      {
        hint: named.hint,
        cause: error.cause,
      },
    )
  }
}
