import type { TrustedKey, TrustStore } from '../store/truststore.js'
import { keyFitsAlg } from '../keys/alg.js'
import type { CandidateKey, KeyQuery, KeySource } from './types.js'

export interface TrustStoreSourceOptions {
  /** How long file reads are reused (ms); edits to the store show within this time. Default 5000. */
  cacheMs?: number
  now?: () => number
}

const MAX_CACHED_KIDS = 4096

/**
 * The trust store as a key source (`--trust-dir`): a key by kid, else the kids issuers.json maps to
 * the issuer, else a key stored under the issuer itself (a did:key added with `trust add did:key:…`).
 * Reads are cached briefly, misses included, so a flood of unknown kids costs no disk reads.
 */
export class TrustStoreKeySource implements KeySource {
  readonly kind = 'trust-store'
  private readonly cacheMs: number
  private readonly now: () => number
  private keys = new Map<string, { at: number; key: TrustedKey | undefined }>()
  private issuers?: { at: number; map: Record<string, string[]>; byKid: Map<string, string[]> }
  private revoked?: { at: number; set: Set<string> }

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

  private async key(kid: string): Promise<TrustedKey | undefined> {
    const hit = this.keys.get(kid)
    if (hit && this.fresh(hit.at)) return hit.key
    const key = await this.store.get(kid)
    if (this.keys.size >= MAX_CACHED_KIDS) this.keys.clear()
    this.keys.set(kid, { at: this.now(), key })
    return key
  }

  private async issuerMap(): Promise<{ map: Record<string, string[]>; byKid: Map<string, string[]> }> {
    if (this.issuers && this.fresh(this.issuers.at)) return this.issuers
    const map = await this.store.issuers()
    const byKid = new Map<string, string[]>()
    for (const [iss, kids] of Object.entries(map))
      for (const kid of kids) byKid.set(kid, [...(byKid.get(kid) ?? []), iss])
    this.issuers = { at: this.now(), map, byKid }
    return this.issuers
  }

  async find(query: KeyQuery): Promise<CandidateKey[]> {
    const { map, byKid } = await this.issuerMap()
    const kids: string[] = []
    if (query.kid !== undefined) kids.push(query.kid)
    for (const kid of map[query.iss] ?? []) if (!kids.includes(kid)) kids.push(kid)
    if (!kids.includes(query.iss)) kids.push(query.iss)
    const out: CandidateKey[] = []
    for (const kid of kids) {
      const key = await this.key(kid)
      if (!key || !keyFitsAlg(key.publicKey, query.alg)) continue
      const candidate: CandidateKey = { publicKey: key.publicKey, kid }
      const mapped = byKid.get(kid)
      if (mapped) candidate.issuers = mapped
      out.push(candidate)
    }
    return out
  }

  async isRevoked(jti: string): Promise<boolean> {
    if (!this.revoked || !this.fresh(this.revoked.at))
      this.revoked = { at: this.now(), set: await this.store.revokedJtis() }
    return this.revoked.set.has(jti)
  }

  ready(): boolean {
    return true
  }
}
