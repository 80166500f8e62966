import { readFile, stat } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto'
import { createSecureContext } from 'node:tls'

import { CapiscioError } from '../errors.js'
import { fsError } from '../io.js'
import { keySourceFrom, StaticKeySource } from '../keysource/index.js'
import { privateKeyWarning } from '../keysource/private-warning.js'
import { redactUrl } from '../net/redact.js'
import type { KeySource } from '../keysource/types.js'
import { createBadgeVerifier } from './badge-verifier.js'
import { loadCard } from './card.js'
import { GatewayMetrics } from './metrics.js'
import { checkAuthPath } from './forward-auth.js'
import { MemoryReplayStore } from './replay.js'
import { createGateway, type Gateway } from './server.js'
import { validateTarget } from './target.js'
import type { CredentialKind, GatewayVerifier, ReplayStore, RequestLogEntry } from './types.js'
import type { ClaimMapping } from '../auth/identity.js'
import { SECRET_ENV } from '../auth/jwt.js'
import type { TokenAlg } from '../token/algs.js'
import { createJwtVerifier } from './jwt-verifier.js'
import { createGuardVerifier } from './guard-verifier.js'
import { TrustStoreKeySource } from '../keysource/truststore.js'
import { TrustStore } from '../store/truststore.js'
import { readSecret } from '../token/secret-file.js'

/** Everything `capiscio gateway start` can set, already parsed (times in ms, sizes in bytes). */
export interface GatewaySettings {
  /** "proxy" (default) or "auth" (forward-auth only; no target). */
  mode?: 'proxy' | 'auth'
  port: number
  host: string
  /** The agent to protect; proxy mode only. */
  target?: string
  /** The credentials accepted, any of (default ["badge"]). */
  verify?: CredentialKind[]
  /** The forward-auth endpoint in proxy mode (default /auth; "" for none). */
  authPath?: string
  localKey?: string
  registryUrl?: string
  trustDir?: string
  issuers?: string[]
  audience?: string
  clockSkewSeconds?: number
  acceptSelfSigned?: boolean
  /** SimpleGuard's trust store when it is not trustDir (default trustDir, else capiscio_keys/trusted). */
  guardTrustDir?: string
  /** Bearer JWTs (verify jwt): an HMAC secret file, a JWKS URL or file, or a public key file; else the environment secret. */
  jwtSecretFile?: string
  jwks?: string
  jwtKey?: string
  algorithms?: TokenAlg[]
  tokenAudience?: string[]
  tokenIssuers?: string[]
  claimMapping?: ClaimMapping
  card?: string
  forwardCredential?: boolean
  trustForwarded?: boolean
  maxBodyBytes?: number
  upstreamTimeoutMs?: number
  drainTimeoutMs?: number
  /** Whole-request time limit, body included (0 = none). */
  requestTimeoutMs?: number
  maxConnections?: number
  tlsCert?: string
  tlsKey?: string
  replayProtection?: boolean
  redis?: string
  /** How long a Redis command may wait for its answer (default 1000). */
  redisTimeoutMs?: number
  cacheSize?: number
  /** For runGatewayProcess: the request log's format and how many processes serve the port. */
  logFormat?: 'text' | 'json' | 'off'
  workers?: number
}

export interface StartedGateway extends Gateway {
  /** One line saying what runs where, for the start-up log. */
  summary: string
  /** Problems that do not stop the start (registry or Redis unreachable): the gateway fails closed. */
  warnings: string[]
}

export interface StartHooks {
  onLog?: (entry: RequestLogEntry) => void
  onWarning?: (message: string) => void
  /** The metrics to count in (a `--workers` worker passes one whose `/metrics` is the cluster's sum). */
  metrics?: GatewayMetrics
}

/** Checks the key-source choice: exactly one of --local-key, --registry-url, --trust-dir. */
export function checkKeySourceChoice(
  s: Pick<GatewaySettings, 'localKey' | 'registryUrl' | 'trustDir'>,
): void {
  const given = [s.localKey && 'localKey', s.registryUrl && 'registryUrl', s.trustDir && 'trustDir'].filter(
    (g): g is string => Boolean(g),
  )
  const options = ['localKey', 'registryUrl', 'trustDir']
  if (given.length === 0) {
    throw new CapiscioError('USAGE', 'must provide either localKey or registryUrl (or trustDir)', {
      hint: 'e.g. localKey partner/public.jwk, registryUrl https://registry.example.com/.well-known/jwks.json, or trustDir capiscio_keys/trusted',
      options,
    })
  }
  if (given.length > 1)
    throw new CapiscioError('USAGE', `choose one key source: ${given.join(' and ')} were both given`, {
      options,
    })
}

/** The credentials a gateway accepts: the settings' list, badges by default. */
const kindsOf = (s: GatewaySettings): CredentialKind[] => (s.verify?.length ? s.verify : ['badge'])

/**
 * Checks settings that need no network before anything starts (the `--workers` primary runs it
 * once rather than each worker failing): the mode and target, the key source for each credential
 * kind, the TLS pair, the trust directory, and in-memory replay protection with several workers
 * (each would keep its own memory, admitting a credential once per worker, and forgetting on
 * restart).
 */
export async function checkGatewaySettings(s: GatewaySettings, workers = 1): Promise<void> {
  const kinds = kindsOf(s)
  if (s.mode === 'auth') {
    if (s.target !== undefined)
      throw new CapiscioError('USAGE', 'mode auth proxies nothing: leave out target', {
        hint: 'the proxy in front (nginx auth_request, Traefik forwardAuth, Envoy ext_authz) reaches the agent itself',
        options: ['mode', 'target'],
      })
    if (s.card !== undefined)
      throw new CapiscioError(
        'USAGE',
        'card is served by a proxying gateway only; in mode auth the proxy in front routes /.well-known/agent-card.json to the agent',
        {
          options: ['mode', 'card'],
        },
      )
  } else validateTarget(s.target ?? '')
  checkAuthPath(s.authPath)
  if (kinds.includes('badge')) checkKeySourceChoice(s)
  else onlyFor(s, 'badge', 'badges', ['localKey', 'registryUrl', 'acceptSelfSigned', 'issuers', 'audience'])
  if (!kinds.includes('jwt'))
    onlyFor(s, 'jwt', 'JWTs', [
      'jwtSecretFile',
      'jwks',
      'jwtKey',
      'algorithms',
      'tokenAudience',
      'tokenIssuers',
    ])
  else {
    const given = (['jwtSecretFile', 'jwks', 'jwtKey'] as const).filter((k) => s[k] !== undefined)
    if (given.length > 1)
      throw new CapiscioError('USAGE', `choose one JWT key: ${given.join(' and ')} were both given`, {
        options: [...given],
      })
    if (given.length === 0 && !SECRET_ENV.some((name) => process.env[name]))
      throw new CapiscioError(
        'USAGE',
        `verifying JWTs needs a key: jwtSecretFile, jwks or jwtKey, or ${SECRET_ENV.join(' or ')} set`,
        { options: ['jwtSecretFile', 'jwks', 'jwtKey'] },
      )
  }
  if (Boolean(s.tlsCert) !== Boolean(s.tlsKey)) {
    const [given, missing] = s.tlsCert ? ['tlsCert', 'tlsKey'] : ['tlsKey', 'tlsCert']
    throw new CapiscioError('USAGE', `${given} was given without ${missing}: the two go together`, {
      options: [given, missing],
    })
  }
  if (s.redis !== undefined && !isRedisUrl(s.redis))
    // ioredis reads anything else as a host or a socket path, and every request would get 503.
    throw new CapiscioError(
      'USAGE',
      'redis must be a "redis://" or "rediss://" URL, e.g. "redis://127.0.0.1:6379"',
      {
        options: ['redis'],
      },
    )
  if (s.replayProtection === false && s.redis !== undefined)
    // redis turns replay protection on; turned off beside it, one of the two would be ignored.
    throw new CapiscioError(
      'USAGE',
      'replayProtection is turned off, but redis (which turns it on) is set: the two contradict each other',
      {
        hint: 'leave out redis to run without replay protection, or leave out replayProtection to keep each jti in Redis',
        options: ['replayProtection', 'redis'],
      },
    )
  if (s.redisTimeoutMs !== undefined) {
    if (s.redis === undefined)
      throw new CapiscioError('USAGE', 'redisTimeout is for redis, which is not set', {
        options: ['redisTimeout', 'redis'],
      })
    // 0 would be no limit: a stalled Redis would hold every badged request.
    if (!(s.redisTimeoutMs >= 1))
      throw new CapiscioError('USAGE', 'redisTimeout must be at least 1ms', { options: ['redisTimeout'] })
  }
  if (workers > 1 && s.replayProtection && !s.redis) {
    throw new CapiscioError(
      'USAGE',
      `replayProtection with workers ${workers} would keep a separate memory in each worker and accept a credential once per worker`,
      {
        // Worded around the setting names: each is shown as the flag or variable that set it.
        hint: 'set redis to a Redis URL, for one memory that every worker process shares, or run a single worker',
        options: ['replayProtection', 'workers', 'redis'],
      },
    )
  }
  if (s.guardTrustDir !== undefined && !kinds.includes('guard'))
    throw new CapiscioError(
      'USAGE',
      'guardTrustDir is for SimpleGuard requests, which verify does not include',
      {
        hint: 'add guard to verify, or leave it out',
        options: ['guardTrustDir', 'verify'],
      },
    )
  const dirs: [string, string][] = []
  if (s.trustDir !== undefined) dirs.push([s.trustDir, 'trustDir'])
  if (kinds.includes('guard') && s.guardTrustDir === undefined && s.trustDir === undefined)
    dirs.push([DEFAULT_GUARD_TRUST_DIR, 'guardTrustDir'])
  if (s.guardTrustDir !== undefined) dirs.push([s.guardTrustDir, 'guardTrustDir'])
  for (const [dir, option] of dirs) {
    // A missing trust directory would start a gateway that is "ready" and refuses everyone.
    const info = await stat(dir).catch((err: unknown) => {
      throw fsError(err, dir)
    })
    if (!info.isDirectory())
      throw new CapiscioError(
        'FILE_NOT_FOUND',
        `${dir} is not a directory (${option} needs the trust store directory)`,
        {
          options: [option],
        },
      )
  }
}

/** Settings of one credential kind given while `verify` leaves that kind out: a usage error naming them. */
function onlyFor(
  s: GatewaySettings,
  kind: CredentialKind,
  what: string,
  keys: readonly (keyof GatewaySettings)[],
): void {
  const given = keys.filter((k) => s[k] !== undefined)
  if (given.length === 0) return
  throw new CapiscioError(
    'USAGE',
    `${given.join(', ')} ${given.length === 1 ? 'is' : 'are'} for ${what}, which verify does not include`,
    { hint: `add ${kind} to verify, or leave them out`, options: [...given, 'verify'] },
  )
}

/** Where SimpleGuard tokens' keys are found when no trustDir is given: SimpleGuard's own place. */
export const DEFAULT_GUARD_TRUST_DIR = 'capiscio_keys/trusted'

async function readPem(path: string): Promise<Buffer> {
  try {
    return await readFile(path)
  } catch (err) {
    throw fsError(err, path)
  }
}

function isRedisUrl(text: string): boolean {
  try {
    const url = new URL(text)
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== ''
  } catch {
    return false
  }
}

/** The certificate and key, checked as a pair now: a bad PEM is a coded error, not a crash at listen. */
async function readTls(certPath: string, keyPath: string): Promise<{ cert: Buffer; key: Buffer }> {
  const cert = await readPem(certPath)
  const key = await readPem(keyPath)
  const names = `tlsCert ${JSON.stringify(certPath)} and tlsKey ${JSON.stringify(keyPath)}`
  const hint = 'give the PEM certificate (its chain may follow) and the private key it was issued for'
  let matches: boolean
  try {
    createSecureContext({ cert, key })
    // OpenSSL checks the pair only for keys of the certificate's type: an Ed25519 or RSA key with
    // an EC certificate loads, and then every handshake fails.
    const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' })
    matches = spki(new X509Certificate(cert).publicKey).equals(spki(createPublicKey(key)))
  } catch (err) {
    throw new CapiscioError(
      'KEY_INVALID',
      `${names} are not a PEM certificate and its private key (${(err as Error).message})`,
      { hint, options: ['tlsCert', 'tlsKey'], cause: err },
    )
  }
  if (!matches)
    throw new CapiscioError('KEY_INVALID', `${names} do not match: the key is not the certificate's`, {
      hint,
      options: ['tlsCert', 'tlsKey'],
    })
  return { cert, key }
}

/** Builds and starts the gateway from settings: the verifiers, replay store, card, TLS. */
export async function startGateway(s: GatewaySettings, hooks: StartHooks = {}): Promise<StartedGateway> {
  await checkGatewaySettings(s)
  const kinds = kindsOf(s)
  const metrics = hooks.metrics ?? new GatewayMetrics()
  const warnings: string[] = []
  const warn = (m: string) => (warnings.push(m), hooks.onWarning?.(m))
  const onCache = (result: 'hit' | 'miss') => metrics.cacheLookup(result)

  /** A registry's fetch hook, told whether the key source it belongs to (made later) has keys yet. */
  const fetchHook = (what: string) => {
    const ref: { keys?: KeySource } = {}
    const onFetch = (result: 'ok' | 'error', error?: CapiscioError) => {
      metrics.jwksFetches.inc({ result })
      if (!error) return
      const fallback = ref.keys?.ready?.()
        ? 'keeping the last good keys'
        : `no keys yet: ${what} get 503 until it answers`
      warn(`registry fetch failed: ${error.message}; ${fallback}`)
    }
    return { ref, onFetch }
  }

  const verifiers: GatewayVerifier[] = []
  const sources: string[] = []
  for (const kind of kinds) {
    if (kind === 'badge') {
      const hook = fetchHook('badged requests')
      const keys = (await aboutOption(s.registryUrl ? 'registryUrl' : undefined, () =>
        keySourceFrom({
          key: s.localKey,
          jwks: s.registryUrl,
          trustDir: s.trustDir,
          jwksOptions: { onFetch: hook.onFetch },
          issuers: s.issuers,
        }),
      )) as KeySource
      hook.ref.keys = keys
      await keys.warmUp?.()
      if (keys instanceof StaticKeySource && keys.heldPrivateKey)
        warn(privateKeyWarning((s.localKey ?? s.registryUrl)!))
      verifiers.push(
        createBadgeVerifier({
          keys,
          acceptSelfSigned: s.acceptSelfSigned ?? false,
          issuers: s.issuers,
          audience: s.audience,
          clockSkewSeconds: s.clockSkewSeconds,
          cacheSize: s.cacheSize,
          onCache,
        }),
      )
      sources.push(
        s.localKey
          ? `badges: local key ${s.localKey}`
          : s.registryUrl
            ? `badges: registry ${redactUrl(s.registryUrl)}`
            : `badges: trust store ${s.trustDir}`,
      )
    } else if (kind === 'jwt') {
      const hook = fetchHook('JWT requests')
      const keys = await aboutOption(
        s.jwks ? 'jwks' : undefined,
        () =>
          keySourceFrom({
            key: s.jwtKey,
            jwks: s.jwks,
            jwksOptions: { onFetch: hook.onFetch },
            issuers: s.tokenIssuers,
          }),
        { issuers: 'tokenIssuers' },
      )
      hook.ref.keys = keys
      await keys?.warmUp?.()
      const secret = s.jwtSecretFile ? await readSecret(s.jwtSecretFile, s.jwtSecretFile) : undefined
      const verifier = createJwtVerifier({
        ...(keys ? { keys } : {}),
        ...(secret ? { secret } : {}),
        algorithms: s.algorithms,
        audience: s.tokenAudience,
        issuer: s.tokenIssuers,
        clockSkewSeconds: s.clockSkewSeconds,
        claimMapping: s.claimMapping,
        cacheSize: s.cacheSize,
        onCache,
      })
      verifiers.push(verifier)
      sources.push(
        `JWTs: ${s.jwtSecretFile ? `secret ${s.jwtSecretFile}` : s.jwks ? `JWKS ${redactUrl(s.jwks)}` : s.jwtKey ? `key ${s.jwtKey}` : 'secret from the environment'}`,
      )
    } else {
      const dir = s.guardTrustDir ?? s.trustDir ?? DEFAULT_GUARD_TRUST_DIR
      verifiers.push(
        createGuardVerifier({
          keys: new TrustStoreKeySource(new TrustStore(dir)),
          cacheSize: s.cacheSize,
          onCache,
        }),
      )
      sources.push(`signed requests: trust store ${dir}`)
    }
  }

  let replay: ReplayStore | undefined
  if (s.redis) {
    const { RedisReplayStore } = await import('./replay-redis.js')
    const store = new RedisReplayStore(s.redis, s.clockSkewSeconds ?? 60, undefined, {
      commandTimeoutMs: s.redisTimeoutMs,
    })
    await store
      .waitReady()
      .catch((err: CapiscioError) => warn(`${err.message}; requests get 503 until it is back`))
    replay = store
  } else if (s.replayProtection) {
    replay = new MemoryReplayStore(Date.now, s.clockSkewSeconds ?? 60)
  }

  const gateway = await createGateway({
    mode: s.mode,
    target: s.mode === 'auth' ? undefined : s.target,
    verifiers,
    authPath: s.authPath,
    port: s.port,
    host: s.host,
    replay,
    card: s.card ? await loadCard(s.card) : undefined,
    forwardCredential: s.forwardCredential,
    trustForwarded: s.trustForwarded,
    maxBodyBytes: s.maxBodyBytes,
    upstreamTimeoutMs: s.upstreamTimeoutMs,
    drainTimeoutMs: s.drainTimeoutMs,
    requestTimeoutMs: s.requestTimeoutMs,
    maxConnections: s.maxConnections,
    tls: s.tlsCert && s.tlsKey ? await readTls(s.tlsCert, s.tlsKey) : undefined,
    metrics,
    onLog: hooks.onLog,
  })
  const replayMode = s.redis
    ? ', replay protection in Redis'
    : s.replayProtection
      ? ', replay protection in memory'
      : ''
  const { port } = gateway.server.address() as AddressInfo
  const listen = listenAddress(s.tlsCert ? 'https' : 'http', s.host, port)
  const where = s.mode === 'auth' ? 'forward-auth' : `→ ${s.target}`
  return {
    ...gateway,
    summary: `listening on ${listen} ${where} (${sources.join('; ')}${replayMode})`,
    warnings,
  }
}

/** Where the gateway listens, for the start-up line: always with its port, `:80` and `:443` included. */
export function listenAddress(proto: 'http' | 'https', host: string, port: number): string {
  return `${proto}://${host.includes(':') ? `[${host}]` : host}:${port}`
}

/**
 * A usage error that names no option (a bad JWKS URL: the URL checks serve every caller) is about
 * `option`, the setting that gave the URL: said so, so that the command can name the flag, the
 * variable or the config key it came from.
 */
async function aboutOption<T>(
  option: string | undefined,
  make: () => Promise<T>,
  /** The gateway's names for the key source's options (its `issuers` are the JWT's `tokenIssuers`). */
  renamed: Record<string, string> = {},
): Promise<T> {
  try {
    return await make()
  } catch (err) {
    if (option === undefined || !(err instanceof CapiscioError) || err.code !== 'USAGE') throw err
    const rename = (text: string) =>
      Object.entries(renamed).reduce((t, [from, to]) => t.replace(new RegExp(`\\b${from}\\b`, 'g'), to), text)
    const options = [...new Set([...(err.options ?? []).map((o) => renamed[o] ?? o), option])]
    const message = err.options?.length ? rename(err.message) : `${option}: ${err.message}`
    const hint = err.hint === undefined ? undefined : rename(err.hint)
    throw new CapiscioError('USAGE', message, { hint, cause: err.cause, options })
  }
}
