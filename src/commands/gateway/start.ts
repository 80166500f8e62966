import cluster from 'node:cluster'

import { Flags } from '@oclif/core'

import { BaseCommand } from '../../base-command.js'
import { resolveGatewaySetting, type GatewayConfig } from '../../lib/config.js'
import { parseDuration } from '../../lib/duration.js'
import { parseSize } from '../../lib/size.js'
import type { GatewaySettings } from '../../lib/gateway/start.js'
import { verifierFlags } from '../../verify-flags.js'

export default class GatewayStart extends BaseCommand<typeof GatewayStart> {
  static override description =
    'run the gateway in front of an agent: only requests with a valid badge reach it (every flag is also a config `gateway` key and a CAPISCIO_GATEWAY_* variable)'
  static override examples = [
    '<%= config.bin %> <%= command.id %> --port 8080 --target http://localhost:3000 --local-key partner/public.jwk',
    '<%= config.bin %> <%= command.id %> --target http://agent:3000 --registry-url https://registry.example.com/.well-known/jwks.json --redis redis://redis:6379 --log-format json',
    '<%= config.bin %> <%= command.id %> --target http://localhost:3000 --trust-dir capiscio_keys/trusted --workers 2',
  ]
  static override jsonLines = true
  static override flags = {
    ...verifierFlags,
    'cache-size': Flags.integer({
      description: 'verified badges to remember [default: 10000; 0 turns the cache off]',
      min: 0,
    }),
    card: Flags.string({
      description: 'serve this agent card at the well-known paths (else they pass through)',
      helpValue: 'FILE',
    }),
    'drain-timeout': Flags.string({
      description: 'on SIGTERM, how long in-flight requests may finish [default: 30s]',
    }),
    'forward-credential': Flags.boolean({ description: 'also forward the badge to the target' }),
    host: Flags.string({ description: 'address to listen on [default: 0.0.0.0]' }),
    'local-key': Flags.string({
      description: "the trusted issuer's public key: JWK, JWKS or PEM",
      helpValue: 'FILE',
    }),
    'log-format': Flags.string({
      description: 'request log format [default: text]',
      options: ['text', 'json'],
    }),
    'max-body': Flags.string({ description: 'largest request body, e.g. 10mb [default: 10mb]' }),
    'max-connections': Flags.integer({
      description: 'most client connections open at once, per worker [default: 1024]',
      min: 1,
      max: 1_000_000,
    }),
    port: Flags.integer({ description: 'port to listen on [default: 8080]', min: 0, max: 65535 }),
    redis: Flags.string({
      description: 'share replay protection across replicas through Redis (implies --replay-protection)',
      helpValue: 'URL',
    }),
    'request-timeout': Flags.string({
      description:
        'how long a client may take to send a whole request, body included; 0 for none [default: 5m]',
    }),
    'registry-url': Flags.string({ description: 'trusted keys from a JWKS endpoint', helpValue: 'URL' }),
    'replay-protection': Flags.boolean({
      description: 'accept each badge jti once (with --workers 2 or more, also give --redis)',
    }),
    target: Flags.string({
      description: 'the agent to protect [default: http://localhost:3000]',
      helpValue: 'URL',
    }),
    'tls-cert': Flags.string({ description: 'serve HTTPS with this certificate (PEM)', helpValue: 'FILE' }),
    'tls-key': Flags.string({ description: 'the private key for --tls-cert (PEM)', helpValue: 'FILE' }),
    'trust-forwarded': Flags.boolean({
      description:
        'keep the X-Forwarded-*, Forwarded and X-Real-IP headers a proxy in front sets (only when clients cannot bypass it)',
    }),
    'trust-dir': Flags.string({ description: 'trusted keys from a trust store directory', helpValue: 'DIR' }),
    'upstream-timeout': Flags.string({
      description: 'how long the target may take to answer [default: 30s]',
    }),
    workers: Flags.integer({ description: 'processes serving the port [default: 1]', min: 1, max: 64 }),
  }

  async run(): Promise<void> {
    const f = this.flags
    const loaded = await this.config_()
    const get = <K extends keyof GatewayConfig>(key: K, flag: GatewayConfig[K] | undefined) =>
      resolveGatewaySetting(key, flag, loaded)
    const bool = (v: boolean | undefined) => (v ? true : undefined)
    const redis = get('redis', f.redis)
    const settings: GatewaySettings = {
      port: get('port', f.port) ?? 8080,
      host: get('host', f.host) ?? '0.0.0.0',
      target: get('target', f.target) ?? 'http://localhost:3000',
      localKey: get('localKey', f['local-key']),
      registryUrl: get('registryUrl', f['registry-url']),
      trustDir: get('trustDir', f['trust-dir']),
      issuers: get(
        'issuers',
        f.issuer?.flatMap((i) => i.split(',').map((x) => x.trim())),
      ),
      audience: get('audience', f.audience),
      clockSkewSeconds: parseDuration(get('clockSkew', f['clock-skew']) ?? '60s', 'clock skew'),
      acceptSelfSigned: get('acceptSelfSigned', bool(f['accept-self-signed'])),
      card: get('card', f.card),
      forwardCredential: get('forwardCredential', bool(f['forward-credential'])),
      trustForwarded: get('trustForwarded', bool(f['trust-forwarded'])),
      maxBodyBytes: parseSize(get('maxBody', f['max-body']) ?? '10mb', 'max body'),
      upstreamTimeoutMs:
        parseDuration(get('upstreamTimeout', f['upstream-timeout']) ?? '30s', 'upstream timeout') * 1000,
      drainTimeoutMs: parseDuration(get('drainTimeout', f['drain-timeout']) ?? '30s', 'drain timeout') * 1000,
      requestTimeoutMs:
        parseDuration(get('requestTimeout', f['request-timeout']) ?? '5m', 'request timeout') * 1000,
      maxConnections: get('maxConnections', f['max-connections']),
      tlsCert: get('tlsCert', f['tls-cert']),
      tlsKey: get('tlsKey', f['tls-key']),
      replayProtection: get('replayProtection', bool(f['replay-protection'])) || redis !== undefined,
      redis,
      cacheSize: get('cacheSize', f['cache-size']),
    }
    // --json on a long-running command means JSON lines: here, the log (as --log-format json).
    const format = f.json
      ? 'json'
      : (get('logFormat', f['log-format'] as 'text' | 'json' | undefined) ?? 'text')
    const workers = get('workers', f.workers) ?? 1
    // The gateway code (undici, prom-client, ioredis) loads only here, so other commands start fast.
    const { runGatewayProcess } = await import('../../gateway-process.js')
    await runGatewayProcess(settings, { format, workers, cluster })
  }
}
