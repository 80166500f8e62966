import { readFile } from 'node:fs/promises'

import { CapiscioError } from '../errors.js'
import { fsError } from '../io.js'
import { keySourceFrom } from '../keysource/index.js'
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
}

/** Checks the key-source choice: exactly one of --local-key, --registry-url, --trust-dir. */
export function checkKeySourceChoice(
  s: Pick<GatewaySettings, 'localKey' | 'registryUrl' | 'trustDir'>,
): void {
  const given = [
    s.localKey && '--local-key',
    s.registryUrl && '--registry-url',
    s.trustDir && '--trust-dir',
  ].filter(Boolean)
  if (given.length === 0) {
    throw new CapiscioError('USAGE', 'must provide either --local-key or --registry-url (or --trust-dir)', {
      hint: 'e.g. --local-key partner/public.jwk, --registry-url https://registry.example.com/.well-known/jwks.json, or --trust-dir capiscio_keys/trusted',
    })
  }
  if (given.length > 1)
    throw new CapiscioError('USAGE', `choose one key source: ${given.join(' and ')} were both given`)
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
  validateTarget(s.target)
  checkKeySourceChoice(s)
  if (Boolean(s.tlsCert) !== Boolean(s.tlsKey))
    throw new CapiscioError('USAGE', '--tls-cert and --tls-key go together')
  const metrics = new GatewayMetrics()
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
    tls: s.tlsCert && s.tlsKey ? { cert: await readPem(s.tlsCert), key: await readPem(s.tlsKey) } : undefined,
    metrics,
    onLog: hooks.onLog,
  })
  const source = s.localKey
    ? `local key ${s.localKey}`
    : s.registryUrl
      ? `registry ${s.registryUrl}`
      : `trust store ${s.trustDir}`
  const replayMode = s.redis
    ? ', replay protection in Redis'
    : s.replayProtection
      ? ', replay protection in memory'
      : ''
  const port = new URL(gateway.url).port
  const listen = `${s.tlsCert ? 'https' : 'http'}://${s.host.includes(':') ? `[${s.host}]` : s.host}:${port}`
  return { ...gateway, summary: `listening on ${listen} → ${s.target} (${source}${replayMode})`, warnings }
}
