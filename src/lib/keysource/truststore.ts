import type { KeyObject } from 'node:crypto'
import { stat } from 'node:fs/promises'

import { CapiscioError } from '../errors.js'
import type { TrustedKey, TrustStore } from '../store/truststore.js'
import { keyFitsAlg } from '../keys/alg.js'
import { didKeyOf } from '../keys/didkey.js'
import type { CandidateKey, KeyQuery, KeySource } from './types.js'

export interface TrustStoreSourceOptions {
  /** How long file reads are reused (ms); edits to the store show within this time. Default 5000. */
  cacheMs?: number
  now?: () => number
}

const MAX_CACHED_KIDS = 4096

interface Bindings {
  at: number
  /** issuer → the kids bound to it (issuers.json). */
  byIssuer: Map<string, string[]>
  /** kid → the issuers it is bound to. */
  byKid: Map<string, string[]>
}

interface CachedKey {
  at: number
  key: TrustedKey | undefined
  did: string | undefined
}

/**
 * The trust store as a key source (`--trust-dir`). Every key is bound to the issuers it may sign
 * for (docs/formats.md, "Trust store"), failing closed: the issuers issuers.json binds it to, its own did:key, and its
 * kid as a name when no other key is bound to that name. A token with a kid gets that key only; a
 * kid-less token (the Go core's) gets the keys bound to its issuer and a key stored under the
 * issuer itself (a did:key added with `trust add did:key:…`). Reads are cached briefly, misses
 * included, so a flood of unknown kids costs no disk reads.
 */
export class TrustStoreKeySource implements KeySource {
  readonly kind = 'trust-store'
  private readonly cacheMs: number
  private readonly now: () => number
  private keys = new Map<string, CachedKey>()
  private bindings?: Bindings
  private revoked?: { at: number; set: Set<string> }
  /**
   * The store-wide files that could not be read (issuers.json, revoked.json, or the directory
   * itself gone), kept for the cache time: while any is, the source is not ready (the gateway's
   * /ready says 503 and names it) and the file is not read again for every request.
   */
  private readonly failures = new Map<'bindings' | 'revoked', { at: number; error: unknown }>()
  /** Whether the directory has been seen: only then is its absence a failure. */
  private dirSeen = false

  constructor(
    private readonly store: TrustStore,
    options: TrustStoreSourceOptions = {},
  ) {
    this.cacheMs = options.cacheMs ?? 5000
    this.now = options.now ?? Date.now
  }

  private fresh(at: number): boolean {
    return this.now() - at < this.cacheMs
  }

  private async key(kid: string): Promise<CachedKey> {
    const hit = this.keys.get(kid)
    if (hit && this.fresh(hit.at)) return hit
    const key = await this.store.get(kid)
    if (this.keys.size >= MAX_CACHED_KIDS) this.keys.clear()
    const entry = { at: this.now(), key, did: key && didKeyOf(key.publicKey) }
    this.keys.set(kid, entry)
    return entry
  }

  /**
   * The key stored for a kid, as the SimpleGuard looks keys up (`trusted/<kid>.pem`), from the
   * same short-lived cache as find().
   */
  async keyFor(kid: string): Promise<KeyObject | undefined> {
    return (await this.key(kid)).key?.publicKey
  }

  /** The issuers issuers.json binds a kid to (empty: none recorded). */
  async issuersOf(kid: string): Promise<readonly string[]> {
    return (await this.loadBindings()).byKid.get(kid) ?? []
  }

  /** Whether the kid's key is a lone `<kid>.pem` (dropped in by hand, as Python deployments do). */
  async isLonePem(kid: string): Promise<boolean> {
    return (await this.key(kid)).key?.lonePem === true
  }

  /** The kids issuers.json binds an issuer to (empty: none). */
  async kidsBoundTo(iss: string): Promise<readonly string[]> {
    return (await this.loadBindings()).byIssuer.get(iss) ?? []
  }

  private async loadBindings(): Promise<Bindings> {
    if (this.bindings && this.fresh(this.bindings.at)) return this.bindings
    const byIssuer = await this.guarded('bindings', async () => {
      // A directory removed while the gateway runs would read as an empty store: every partner
      // refused as unknown, and /ready none the wiser. (One never there is an empty store: the
      // default store before anything was added; the gateway refuses a missing one at start.)
      const info = await stat(this.store.dir).catch(() => undefined)
      if (info?.isDirectory()) this.dirSeen = true
      else if (this.dirSeen)
        throw new CapiscioError('FILE_NOT_FOUND', `the trust directory ${this.store.dir} is gone`)
      return this.store.issuers()
    })
    const byKid = new Map<string, string[]>()
    for (const [iss, kids] of byIssuer)
      for (const kid of kids) byKid.set(kid, [...(byKid.get(kid) ?? []), iss])
    this.bindings = { at: this.now(), byIssuer, byKid }
    return this.bindings
  }

  /** A store-wide read, its failure remembered for the cache time (see `failures`). */
  private async guarded<T>(what: 'bindings' | 'revoked', read: () => Promise<T>): Promise<T> {
    const failed = this.failures.get(what)
    if (failed && this.fresh(failed.at)) throw failed.error
    try {
      const value = await read()
      this.failures.delete(what)
      return value
    } catch (err) {
      this.failures.set(what, { at: this.now(), error: err })
      throw err
    }
  }

  async find(query: KeyQuery): Promise<CandidateKey[]> {
    const bindings = await this.loadBindings()
    const out: CandidateKey[] = []
    for (const kid of kidsFor(query, bindings)) {
      const candidate = candidateOf(kid, await this.key(kid), query, bindings)
      if (candidate) out.push(candidate)
    }
    return out
  }

  /**
   * find() at once, when everything it needs was read within the cache time (the common case on a
   * busy gateway); undefined when something must be read again first.
   */
  findSync(query: KeyQuery): CandidateKey[] | undefined {
    const bindings = this.bindings
    if (!bindings || !this.fresh(bindings.at)) return undefined
    const out: CandidateKey[] = []
    for (const kid of kidsFor(query, bindings)) {
      const entry = this.keys.get(kid)
      if (!entry || !this.fresh(entry.at)) return undefined
      const candidate = candidateOf(kid, entry, query, bindings)
      if (candidate) out.push(candidate)
    }
    return out
  }

  async isRevoked(jti: string): Promise<boolean> {
    if (!this.revoked || !this.fresh(this.revoked.at))
      this.revoked = { at: this.now(), set: await this.guarded('revoked', () => this.store.revokedJtis()) }
    return this.revoked.set.has(jti)
  }

  /** isRevoked() at once, when the revocation list was read within the cache time; else undefined. */
  isRevokedSync(jti: string): boolean | undefined {
    if (!this.revoked || !this.fresh(this.revoked.at)) return undefined
    return this.revoked.set.has(jti)
  }

  /** Ready unless a store-wide file could not be read; a stale failure is read again in the background. */
  ready(): boolean {
    for (const [what, failed] of this.failures) {
      if (this.fresh(failed.at)) continue
      if (what === 'bindings') void this.loadBindings().catch(() => undefined)
      else void this.isRevoked('').catch(() => undefined) // reads revoked.json again; the jti is moot
    }
    return this.failures.size === 0
  }

  notReadyReason(): string | undefined {
    for (const { error } of this.failures.values())
      return error instanceof CapiscioError ? error.message : 'the trust store could not be read'
    return undefined
  }
}

/** The kids that may hold a query's key: its kid, else the keys bound to its issuer and the issuer itself. */
function kidsFor(query: KeyQuery, { byIssuer }: Bindings): string[] {
  const kids: string[] = []
  if (query.kid !== undefined) {
    kids.push(query.kid)
    // A did:key's kid may carry a fragment (did:key:z…#z…); the key is stored under the DID.
    if (query.kid.startsWith(`${query.iss}#`)) kids.push(query.iss)
  } else {
    kids.push(...(byIssuer.get(query.iss) ?? []))
    if (!kids.includes(query.iss)) kids.push(query.iss)
  }
  return kids
}

/** A stored key as a candidate, with the issuers it may sign for; undefined if absent or of another alg. */
function candidateOf(
  kid: string,
  { key, did }: CachedKey,
  query: KeyQuery,
  { byIssuer, byKid }: Bindings,
): CandidateKey | undefined {
  if (!key || !keyFitsAlg(key.publicKey, query.alg)) return undefined
  // A did:key names one key only: a key stored under, or bound to, another key's did:key (a store
  // written by hand, or by an older version) never signs as that identity.
  const ownDid = (name: string) => !name.startsWith('did:key:') || name.split('#')[0] === did
  const issuers = (byKid.get(kid) ?? []).filter(ownDid)
  // Its own names: the did:key always (the key is that identity); the kid unless other keys hold it.
  if (did !== undefined && !issuers.includes(did)) issuers.push(did)
  if (!byIssuer.has(kid) && !issuers.includes(kid) && ownDid(kid)) issuers.push(kid)
  // Handed out with its binding even when the issuer is not in it: verifyBadge refuses the key
  // then, and can say that the key is trusted but not for this issuer.
  const candidate: CandidateKey = { publicKey: key.publicKey, kid, issuers }
  if (key.maxLevel !== undefined) candidate.maxLevel = key.maxLevel
  return candidate
}
