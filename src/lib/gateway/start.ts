import { readFile, stat } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'

import { CapiscioError } from '../errors.js'
import { fsError } from '../io.js'
import { keySourceFrom, StaticKeySource } from '../keysource/index.js'
import { privateKeyWarning } from '../keysource/private-warning.js'
import { redactUrl } from '../net/redact.js'
import type { KeySource } from '../keysource/types.js'
import { createBadgeVerifier } from './badge-verifier.js'
import { loadCard } from './card.js'
import { GatewayMetrics } from './metrics.js'
import { MemoryReplayStore } from './replay.js'
import { createGateway, validateTarget, type Gateway } from './server.js'
import type { ReplayStore, RequestLogEntry } from './types.js'

/** Everything `capiscio gateway start` can set, already parsed (times in ms, sizes in bytes). */
export interface GatewaySettings {
  port: number
  host: string
  target: string
  localKey?: string
  registryUrl?: string
  trustDir?: string
  issuers?: string[]
  audience?: string
  clockSkewSeconds?: number
  acceptSelfSigned?: boolean
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
  cacheSize?: number
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

/**
 * Checks settings that need no network before anything starts (the `--workers` primary runs it
 * once rather than each worker failing): target, key source, TLS pair, the trust directory, and
 * in-memory replay protection with several workers (each would keep its own memory, admitting a
 * badge once per worker, and forgetting on restart).
 */
export async function checkGatewaySettings(s: GatewaySettings, workers = 1): Promise<void> {
  validateTarget(s.target)
  checkKeySourceChoice(s)
  if (Boolean(s.tlsCert) !== Boolean(s.tlsKey))
    throw new CapiscioError('USAGE', 'tlsCert and tlsKey go together', { options: ['tlsCert', 'tlsKey'] })
  if (workers > 1 && s.replayProtection && !s.redis) {
    throw new CapiscioError(
      'USAGE',
      `replayProtection with workers ${workers} would keep a separate memory in each worker and accept a badge once per worker`,
      {
        hint: 'add redis URL to share it between workers, or run workers 1',
        options: ['replayProtection', 'workers', 'redis'],
      },
    )
  }
  if (s.trustDir !== undefined) {
    // A missing trust directory would start a gateway that is "ready" and refuses everyone.
    const info = await stat(s.trustDir).catch((err: unknown) => {
      throw fsError(err, s.trustDir!)
    })
    if (!info.isDirectory())
      throw new CapiscioError(
        'FILE_NOT_FOUND',
        `${s.trustDir} is not a directory (trustDir needs the trust store directory)`,
        { options: ['trustDir'] },
      )
  }
}

async function readPem(path: string): Promise<Buffer> {
  try {
    return await readFile(path)
  } catch (err) {
    throw fsError(err, path)
  }
}

/** Builds and starts the gateway from settings: key source, verifier, replay store, card, TLS. */
export async function startGateway(s: GatewaySettings, hooks: StartHooks = {}): Promise<StartedGateway> {
  await checkGatewaySettings(s)
  const metrics = hooks.metrics ?? new GatewayMetrics()
  const warnings: string[] = []
  const warn = (m: string) => (warnings.push(m), hooks.onWarning?.(m))

  // The fetch hook reads the key source it belongs to, which does not exist yet when it is made.
  const ref: { keys?: KeySource } = {}
  const onFetch = (result: 'ok' | 'error', error?: CapiscioError) => {
    metrics.jwksFetches.inc({ result })
    if (!error) return
    const fallback = ref.keys?.ready?.()
      ? 'keeping the last good keys'
      : 'no keys yet: badged requests get 503 until it answers'
    warn(`registry fetch failed: ${error.message}; ${fallback}`)
  }
  const keys = (await keySourceFrom({
    key: s.localKey,
    jwks: s.registryUrl,
    trustDir: s.trustDir,
    jwksOptions: { onFetch },
    issuers: s.issuers,
  })) as KeySource
  ref.keys = keys
  await keys.warmUp?.()
  if (keys instanceof StaticKeySource && keys.heldPrivateKey) warn(privateKeyWarning(s.localKey!))

  let replay: ReplayStore | undefined
  if (s.redis) {
    const { RedisReplayStore } = await import('./replay-redis.js')
    const store = new RedisReplayStore(s.redis, s.clockSkewSeconds ?? 60)
    await store
      .waitReady()
      .catch((err: CapiscioError) => warn(`${err.message}; requests get 503 until it is back`))
    replay = store
  } else if (s.replayProtection) {
    replay = new MemoryReplayStore(Date.now, s.clockSkewSeconds ?? 60)
  }

  const verifier = createBadgeVerifier({
    keys,
    acceptSelfSigned: s.acceptSelfSigned ?? false,
    issuers: s.issuers,
    audience: s.audience,
    clockSkewSeconds: s.clockSkewSeconds,
    cacheSize: s.cacheSize,
    onCache: (result) => metrics.verifyCache.inc({ result }),
  })
  const gateway = await createGateway({
    target: s.target,
    verifier,
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
    tls: s.tlsCert && s.tlsKey ? { cert: await readPem(s.tlsCert), key: await readPem(s.tlsKey) } : undefined,
    metrics,
    onLog: hooks.onLog,
  })
  const source = s.localKey
    ? `local key ${s.localKey}`
    : s.registryUrl
      ? `registry ${redactUrl(s.registryUrl)}`
      : `trust store ${s.trustDir}`
  const replayMode = s.redis
    ? ', replay protection in Redis'
    : s.replayProtection
      ? ', replay protection in memory'
      : ''
  const { port } = gateway.server.address() as AddressInfo
  const listen = listenAddress(s.tlsCert ? 'https' : 'http', s.host, port)
  return { ...gateway, summary: `listening on ${listen} → ${s.target} (${source}${replayMode})`, warnings }
}

/** Where the gateway listens, for the start-up line: always with its port, `:80` and `:443` included. */
export function listenAddress(proto: 'http' | 'https', host: string, port: number): string {
  return `${proto}://${host.includes(':') ? `[${host}]` : host}:${port}`
}
