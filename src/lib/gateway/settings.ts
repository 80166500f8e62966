import { commaItems, commaListProblem, EMPTY_ITEM } from '../comma-list.js'
import { CapiscioError } from '../errors.js'
import { parseDuration } from '../duration.js'
import { parseSize } from '../size.js'
import { isTokenAlg, type TokenAlg } from '../token/algs.js'
import type { GatewaySettings } from './start.js'

/**
 * Every `gateway start` setting, once (docs/deployment.md, "Settings"): its kind, default and help.
 * The command's flags (kebab-case of the key, or `flag`), the config file's `gateway` section (the
 * key) and the CAPISCIO_GATEWAY_* variables (the key in upper snake case) are all derived from this
 * table, and so is how each resolves into GatewaySettings: a new setting is one entry.
 */
export const GATEWAY_SETTINGS = {
  mode: {
    kind: 'enum',
    values: ['proxy', 'auth'],
    default: 'proxy',
    help: 'proxy: pass admitted requests to the target; auth: forward-auth only (nginx auth_request, Traefik forwardAuth, Envoy ext_authz)',
  },
  port: { kind: 'integer', min: 0, max: 65535, default: 8080, help: 'port to listen on' },
  host: { kind: 'string', default: '0.0.0.0', help: 'address to listen on' },
  target: {
    kind: 'string',
    helpValue: 'URL',
    default: 'http://localhost:3000',
    help: 'the agent to protect (proxy mode)',
  },
  verify: {
    kind: 'list',
    values: ['badge', 'jwt', 'guard'],
    default: 'badge',
    help: 'credentials to accept, any of: badge, jwt, guard (comma-separated or repeated)',
  },
  authPath: {
    kind: 'string',
    default: '/auth',
    help: 'the forward-auth endpoint in proxy mode ("off" turns it off)',
  },
  localKey: {
    kind: 'path',
    helpValue: 'FILE',
    help: "the trusted badge issuer's public key: JWK, JWKS or PEM",
  },
  registryUrl: { kind: 'string', helpValue: 'URL', help: 'trusted badge keys from a JWKS endpoint' },
  trustDir: {
    kind: 'path',
    helpValue: 'DIR',
    help: 'trusted keys from a trust store directory (badges, and SimpleGuard requests)',
  },
  guardTrustDir: {
    kind: 'path',
    helpValue: 'DIR',
    help: 'trusted keys for SimpleGuard requests, when they are not the badge trust store [default: trustDir, else capiscio_keys/trusted]',
  },
  issuers: {
    kind: 'list',
    flag: 'issuer',
    help: 'allowed badge issuer (repeatable); others are refused before any key lookup',
  },
  audience: { kind: 'string', help: "this verifier's identity; a badge with an aud must list it" },
  clockSkew: { kind: 'duration', default: '60s', help: 'tolerated clock difference for badges and JWTs' },
  acceptSelfSigned: { kind: 'boolean', help: 'accept self-signed badges (did:key issuer, level 0)' },
  jwtSecretFile: {
    kind: 'path',
    helpValue: 'FILE',
    help: 'verify HS256/384/512 JWTs with the secret in this file (else CAPISCIO_JWT_SECRET or APCORE_JWT_SECRET)',
  },
  jwks: {
    kind: 'string',
    helpValue: 'URL|FILE',
    help: 'verify JWTs with the keys of this JWKS (a URL, or a file)',
  },
  jwtKey: { kind: 'path', helpValue: 'FILE', help: 'verify JWTs with this public key: JWK, JWKS or PEM' },
  alg: {
    kind: 'list',
    help: 'JWT algorithms accepted [default: from the key: HS* for a secret, else RS256, ES256, EdDSA]',
  },
  aud: { kind: 'list', help: "JWT audience: the token's aud must include one of these" },
  iss: { kind: 'list', help: "expected JWT issuer(s): the token's iss must be one" },
  idClaim: { kind: 'string', default: 'sub', help: 'JWT claim naming the caller' },
  typeClaim: { kind: 'string', default: 'type', help: "JWT claim with the caller's type" },
  rolesClaim: { kind: 'string', default: 'roles', help: "JWT claim with the caller's roles" },
  card: {
    kind: 'path',
    helpValue: 'FILE',
    help: 'serve this agent card at the well-known paths (else they pass through)',
  },
  forwardCredential: { kind: 'boolean', help: 'also forward the credential to the target' },
  trustForwarded: {
    kind: 'boolean',
    help: 'keep the X-Forwarded-*, Forwarded and X-Real-IP headers a proxy in front sets (only when clients cannot bypass it)',
  },
  maxBody: {
    kind: 'size',
    default: '10mb',
    help: 'largest request body, e.g. 10mb (SimpleGuard reads the body whole, up to this)',
  },
  upstreamTimeout: {
    kind: 'duration',
    default: '30s',
    help: 'how long the target may take to send its response headers (a streamed body may idle)',
  },
  drainTimeout: {
    kind: 'duration',
    default: '30s',
    help: 'on SIGTERM, how long in-flight requests may finish',
  },
  requestTimeout: {
    kind: 'duration',
    default: '5m',
    help: 'how long a client may take to send a whole request, body included; 0 for none',
  },
  maxConnections: {
    kind: 'integer',
    min: 1,
    max: 1_000_000,
    default: 1024,
    help: 'most client connections open at once, per worker',
  },
  logFormat: {
    kind: 'enum',
    values: ['text', 'json', 'off'],
    default: 'text',
    help: 'request log format: text, json, or off (no line per request; start, stop and warnings still print)',
  },
  workers: { kind: 'integer', min: 1, max: 64, default: 1, help: 'processes serving the port' },
  tlsCert: { kind: 'path', helpValue: 'FILE', help: 'serve HTTPS with this certificate (PEM)' },
  tlsKey: { kind: 'path', helpValue: 'FILE', help: 'the private key of the TLS certificate (PEM)' },
  replayProtection: {
    kind: 'boolean',
    help: 'accept each credential once (by jti; with several workers, share it through Redis)',
  },
  redis: {
    kind: 'string',
    helpValue: 'URL',
    help: 'share replay protection across replicas through Redis (turns replay protection on)',
  },
  redisTimeout: {
    kind: 'duration',
    default: '1s',
    help: 'how long Redis may take to answer; a badged request it keeps waiting gets 503, and /ready 503 until Redis answers',
  },
  cacheSize: {
    kind: 'integer',
    min: 0,
    max: 10_000_000,
    default: 10_000,
    help: 'verified credentials to remember; 0 turns the cache off',
  },
} as const satisfies Record<string, SettingDef>

export interface SettingDef {
  kind: 'string' | 'path' | 'integer' | 'boolean' | 'list' | 'enum' | 'duration' | 'size'
  help: string
  default?: string | number
  /** The flag's name when it is not the key in kebab-case. */
  flag?: string
  helpValue?: string
  min?: number
  max?: number
  /** The allowed values of an enum, or of each element of a list. */
  values?: readonly string[]
}

export type GatewaySettingKey = keyof typeof GATEWAY_SETTINGS

type ValueOf<D> = D extends { kind: 'integer' }
  ? number
  : D extends { kind: 'boolean' }
    ? boolean
    : D extends { kind: 'list' }
      ? string[]
      : D extends { kind: 'enum'; values: readonly (infer V)[] }
        ? V
        : string

/** The `gateway` section of the config file, as written (durations and sizes as text). */
export type GatewayConfig = { [K in GatewaySettingKey]?: ValueOf<(typeof GATEWAY_SETTINGS)[K]> }

/** CAPISCIO_GATEWAY_ + the key in upper snake case: maxBody → CAPISCIO_GATEWAY_MAX_BODY. */
export function gatewayEnvName(key: string): string {
  return 'CAPISCIO_GATEWAY_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()
}

/** The flag of a setting: its `flag`, else the key in kebab-case (maxBody → max-body). */
export function gatewayFlagName(key: GatewaySettingKey): string {
  const def: SettingDef = GATEWAY_SETTINGS[key]
  return def.flag ?? key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())
}

/** Where each setting's value was found, by precedence: flag > CAPISCIO_GATEWAY_* > config file > default. */
export type SettingLookup = <K extends GatewaySettingKey>(key: K) => GatewayConfig[K] | undefined

/** A value's parse, its error naming the setting as an option (the CLI shows the flag or variable). */
function parsed<T>(key: GatewaySettingKey, parse: (what: string) => T): T {
  try {
    return parse(key)
  } catch (err) {
    if (!(err instanceof CapiscioError) || err.options) throw err
    throw new CapiscioError(err.code, err.message, { hint: err.hint, options: [key] })
  }
}

const seconds = (key: GatewaySettingKey, v: string | undefined) =>
  v === undefined ? undefined : parsed(key, (what) => parseDuration(v, what))

/**
 * The settings startGateway takes, from the table's values (`get` applies the precedence and
 * validates each value's type): durations become seconds or milliseconds, sizes bytes, lists
 * are split at commas, and each default applies when nothing else gave a value.
 */
export function gatewaySettingsFrom(get: SettingLookup): GatewaySettings {
  const value = <K extends GatewaySettingKey>(key: K): GatewayConfig[K] | undefined => {
    const v = get(key)
    if (v !== undefined) return v
    const def: SettingDef = GATEWAY_SETTINGS[key]
    if (def.default === undefined) return undefined
    return (def.kind === 'list' ? String(def.default).split(',') : def.default) as GatewayConfig[K]
  }
  const list = (key: 'verify' | 'issuers' | 'alg' | 'aud' | 'iss'): string[] | undefined => {
    const v = value(key)
    if (v === undefined) return undefined
    const items = commaItems(v)
    const problem = commaListProblem(items)
    if (problem)
      throw new CapiscioError('USAGE', `${key} ${problem === 'empty' ? 'must not be empty' : EMPTY_ITEM}`, {
        options: [key],
      })
    const def: SettingDef = GATEWAY_SETTINGS[key]
    for (const x of items)
      if (def.values && !def.values.includes(x))
        throw new CapiscioError(
          'USAGE',
          `${key} ${JSON.stringify(x)} is not one of ${def.values.join(', ')}`,
          { options: [key] },
        )
    return [...new Set(items)]
  }
  const algs = list('alg')
  for (const a of algs ?? [])
    if (!isTokenAlg(a))
      throw new CapiscioError(
        'USAGE',
        `alg ${JSON.stringify(a)} is not HS256, HS384, HS512, RS256, ES256 or EdDSA`,
        {
          options: ['alg'],
        },
      )
  const redis = value('redis')
  const authPath = value('authPath')!
  const ms = (key: 'upstreamTimeout' | 'drainTimeout' | 'requestTimeout' | 'redisTimeout') =>
    seconds(key, value(key))! * 1000
  const mode = value('mode') ?? 'proxy'
  const out: GatewaySettings = {
    mode,
    port: value('port')!,
    host: value('host')!,
    // Forward-auth proxies nothing: the default target is for proxy mode only.
    target: mode === 'auth' ? get('target') : value('target'),
    verify: list('verify') as GatewaySettings['verify'],
    authPath: authPath === 'off' ? '' : authPath,
    localKey: value('localKey'),
    registryUrl: value('registryUrl'),
    trustDir: value('trustDir'),
    guardTrustDir: value('guardTrustDir'),
    issuers: list('issuers'),
    audience: value('audience'),
    clockSkewSeconds: seconds('clockSkew', value('clockSkew')),
    acceptSelfSigned: value('acceptSelfSigned'),
    jwtSecretFile: value('jwtSecretFile'),
    jwks: value('jwks'),
    jwtKey: value('jwtKey'),
    algorithms: algs as TokenAlg[] | undefined,
    tokenAudience: list('aud'),
    tokenIssuers: list('iss'),
    claimMapping: {
      idClaim: value('idClaim')!,
      typeClaim: value('typeClaim')!,
      rolesClaim: value('rolesClaim')!,
    },
    card: value('card'),
    forwardCredential: value('forwardCredential'),
    trustForwarded: value('trustForwarded'),
    maxBodyBytes: parsed('maxBody', (what) => parseSize(value('maxBody')!, what)),
    upstreamTimeoutMs: ms('upstreamTimeout'),
    drainTimeoutMs: ms('drainTimeout'),
    requestTimeoutMs: ms('requestTimeout'),
    maxConnections: value('maxConnections'),
    tlsCert: value('tlsCert'),
    tlsKey: value('tlsKey'),
    // Unset, it follows redis; set off beside a redis URL, checkGatewaySettings refuses the pair.
    replayProtection: value('replayProtection') ?? redis !== undefined,
    redis,
    // Its default only with redis: given without it, checkGatewaySettings says it has no use.
    redisTimeoutMs: redis !== undefined || get('redisTimeout') !== undefined ? ms('redisTimeout') : undefined,
    cacheSize: value('cacheSize'),
    logFormat: value('logFormat'),
    workers: value('workers'),
  }
  for (const k of Object.keys(out) as (keyof GatewaySettings)[]) if (out[k] === undefined) delete out[k]
  return out
}
