import { CapiscioError } from '../errors.js'
import { keyFitsAlg } from '../keys/alg.js'
import { parseJwk } from '../keys/parse.js'
import { checkFetchUrl, fetchJson, type FetchLike } from '../net/fetch-json.js'
import { redactUrl } from '../net/redact.js'
import type { CandidateKey, KeyQuery, KeySource } from './types.js'

export type JwksFetchOutcome = 'ok' | 'error'

export interface RemoteJwksOptions {
  /**
   * The issuers this JWKS's keys may sign for. Default: the registry's own issuer, the URL minus
   * `/.well-known/jwks.json`; a URL of another shape must name them (the keys are never unbound).
   */
  issuers?: readonly string[]
  /**
   * For what names no issuer (an agent card's signature): the keys are bound to none, and none
   * need be named, as a JWKS read from a file.
   */
  unbound?: boolean
  /** How long a fetched set is used before it is fetched again (default 10 min). */
  cacheMs?: number
  /** The least time between two fetches caused by unknown kids (default 30 s). */
  minRefetchMs?: number
  maxBytes?: number
  timeoutMs?: number
  fetch?: FetchLike
  now?: () => number
  /** Told of every fetch, for metrics and logs. */
  onFetch?: (outcome: JwksFetchOutcome, error?: CapiscioError) => void
}

interface KeySet {
  byKid: Map<string, CandidateKey>
  all: CandidateKey[]
}

/** The issuer a registry's JWKS URL speaks for: the URL minus `/.well-known/jwks.json`. */
export function issuerOfJwksUrl(url: URL): string | undefined {
  const suffix = '/.well-known/jwks.json'
  // The query (an API key, say) and user-info are how the set is fetched, not whose keys these are.
  if (!url.pathname.endsWith(suffix)) return undefined
  return url.origin + url.pathname.slice(0, -suffix.length)
}

/**
 * Parses a JWKS leniently: keys the toolkit cannot use (encryption keys, other curves, symmetric
 * or private members) are skipped rather than failing the set, as a registry may publish them.
 */
export function parseJwks(doc: unknown, issuers?: readonly string[]): KeySet {
  const keys = (doc as { keys?: unknown })?.keys
  if (!Array.isArray(keys)) throw new CapiscioError('NETWORK_ERROR', 'the JWKS has no "keys" array')
  const set: KeySet = { byKid: new Map(), all: [] }
  for (const jwk of keys.slice(0, 100)) {
    if ((jwk as { use?: unknown })?.use === 'enc') continue
    try {
      const parsed = parseJwk(jwk, 'a JWKS key', 'jwks')
      if (parsed.privateKey) continue
      const candidate: CandidateKey = { publicKey: parsed.publicKey }
      if (parsed.kid !== undefined) candidate.kid = parsed.kid
      if (issuers !== undefined) candidate.issuers = issuers
      set.all.push(candidate)
      if (parsed.kid !== undefined) set.byKid.set(parsed.kid, candidate)
    } catch {
      // unusable key: skipped
    }
  }
  if (set.all.length === 0) throw new CapiscioError('NETWORK_ERROR', 'the JWKS holds no usable signing key')
  return set
}

/**
 * A remote JWKS (`--jwks URL`, a gateway's `--registry-url`), kept the way Envoy and oauth2-proxy
 * keep theirs: cached for `cacheMs`; refetched early when a token names an unknown kid, but at most
 * once per `minRefetchMs`; concurrent refetches share one request; and when the endpoint fails, the
 * last good keys stay in use.
 */
export class RemoteJwksKeySource implements KeySource {
  readonly kind = 'jwks'
  readonly url: URL
  private readonly opts: Required<Pick<RemoteJwksOptions, 'cacheMs' | 'minRefetchMs'>> & RemoteJwksOptions
  private readonly now: () => number
  private keys?: KeySet
  private fetchedAt = -Infinity
  private attemptedAt = -Infinity
  private inflight?: Promise<void>
  private lastError?: CapiscioError
  /** The issuers every key of this set is bound to; none when it is unbound (its keys carry no binding). */
  readonly issuers: readonly string[]

  constructor(url: string, options: RemoteJwksOptions = {}) {
    this.url = checkFetchUrl(url)
    const own = issuerOfJwksUrl(this.url)
    if (options.unbound && options.issuers?.length)
      throw new CapiscioError('USAGE', 'a JWKS is bound to issuers or unbound, not both', {
        options: ['issuers', 'unbound'],
      })
    if (options.unbound) this.issuers = []
    else if (options.issuers?.length) this.issuers = [...options.issuers]
    else if (own !== undefined) this.issuers = [own]
    else
      throw new CapiscioError(
        'USAGE',
        `the JWKS at ${redactUrl(this.url)} does not say which issuer its keys sign for; name the issuers`,
        {
          options: ['issuers'],
          hint: 'pass issuers (whom its keys may sign for), or a URL ending in /.well-known/jwks.json',
        },
      )
    this.opts = { cacheMs: 10 * 60_000, minRefetchMs: 30_000, ...options }
    this.now = options.now ?? Date.now
  }

  /** Fetches now (sharing a fetch already under way); failures keep the last good keys. */
  refresh(): Promise<void> {
    this.inflight ??= this.fetchOnce().finally(() => (this.inflight = undefined))
    return this.inflight
  }

  private async fetchOnce(): Promise<void> {
    this.attemptedAt = this.now()
    try {
      const doc = await fetchJson(this.url, {
        fetch: this.opts.fetch,
        maxBytes: this.opts.maxBytes,
        timeoutMs: this.opts.timeoutMs,
      })
      this.keys = parseJwks(doc, this.opts.unbound ? undefined : this.issuers)
      this.fetchedAt = this.now()
      this.lastError = undefined
      this.opts.onFetch?.('ok')
    } catch (err) {
      const error =
        err instanceof CapiscioError
          ? err
          : new CapiscioError('NETWORK_ERROR', `${redactUrl(this.url)}: fetch failed`, { cause: err })
      this.lastError = error
      this.opts.onFetch?.('error', error)
    }
  }

  async find(query: KeyQuery): Promise<CandidateKey[]> {
    const now = this.now()
    const mayFetch = now - this.attemptedAt >= this.opts.minRefetchMs
    if (!this.keys) {
      if (mayFetch || this.inflight) await this.refresh()
    } else if (query.kid !== undefined && !this.keys.byKid.has(query.kid)) {
      // A kid we have not seen may be a rotation: worth one wait, but at most once per minRefetchMs.
      if (mayFetch || this.inflight) await this.refresh()
    } else if (now - this.fetchedAt >= this.opts.cacheMs && mayFetch) {
      // Stale but usable: refresh in the background and answer from the keys we have.
      void this.refresh()
    }
    const set = this.keys
    if (!set) return []
    const exact = query.kid === undefined ? undefined : set.byKid.get(query.kid)
    if (exact) return keyFitsAlg(exact.publicKey, query.alg) ? [exact] : []
    // A kid the set does not hold matches nothing; only kid-less tokens try every key.
    return query.kid === undefined ? set.all.filter((k) => keyFitsAlg(k.publicKey, query.alg)) : []
  }

  /** Loads the key set before the first request (a gateway's start-up); failures are kept, not thrown. */
  warmUp(): Promise<void> {
    return this.refresh()
  }

  notReadyReason(): string | undefined {
    if (this.ready()) return undefined
    return `key source not loaded${this.lastError ? `: ${this.lastError.message}` : ''}`
  }

  /** Ready once a key set has been loaded (and kept, even if later fetches fail). */
  ready(): boolean {
    return this.keys !== undefined
  }

  /** The last fetch error while it is unresolved, for logs and /ready. */
  get error(): CapiscioError | undefined {
    return this.lastError
  }
}
