import { hash } from 'node:crypto'

/**
 * A bounded cache of verified credentials, keyed by the SHA-256 of the token (the token itself is
 * never kept as a key). An entry is never used past the credential's expiry.
 *
 * A verifier offers each credential it verified (`offer`); one is kept from its second offer on (a
 * doorkeeper, as in TinyLFU): clients reuse a credential for its lifetime, so what comes once only
 * (a client minting one per request, a scan) would only evict the credentials in use, and cost every
 * such request an entry kept alive. A credential used twice is verified twice (rarely once, when its
 * bit was set by another key), then answered from the cache.
 *
 * Two generations approximate LRU at O(1) with no per-hit reordering: new entries go into the
 * current map; when it holds half the capacity it becomes the previous one and the old previous is
 * dropped whole. A hit in the previous generation moves the entry forward, so entries in use
 * survive and idle ones age out, and at most `maxEntries` are held.
 */
export class VerifyCache<T extends { exp: number }> {
  private current = new Map<string, T>()
  private previous = new Map<string, T>()
  private readonly generation: number
  /** None when the cache is off (`--cache-size 0`): its 128 KiB would serve nothing. */
  private readonly offered: Doorkeeper | undefined

  constructor(
    maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {
    this.generation = Math.max(0, Math.ceil(maxEntries / 2))
    this.offered = this.generation === 0 ? undefined : new Doorkeeper()
  }

  static keyOf(token: string): string {
    // The one-shot hash: about twice as fast as createHash().update().digest() per request.
    return hash('sha256', token, 'base64url')
  }

  /**
   * A credential's id for replay protection and X-Capiscio-Jti: its jti, else `sig:` + the SHA-256
   * of what it signs (header.payload). Not of the signature: an ES256 signature has a twin (high-S)
   * that verifies too, so the signature would let one token count as two.
   */
  static idOf(token: string, jti: string | undefined): string {
    return jti ?? `sig:${hash('sha256', token.slice(0, token.lastIndexOf('.')), 'base64url')}`
  }

  get(key: string): T | undefined {
    let hit = this.current.get(key)
    if (hit === undefined) {
      hit = this.previous.get(key)
      if (hit === undefined) return undefined
      this.previous.delete(key)
      if (hit.exp * 1000 > this.now()) this.put(key, hit)
    }
    if (hit.exp * 1000 <= this.now()) {
      this.current.delete(key)
      return undefined
    }
    return hit
  }

  /** Keeps a credential just verified if it was offered before (see above). */
  offer(key: string, value: T): void {
    if (this.offered === undefined || !this.offered.seenBefore(key)) return
    this.set(key, value)
  }

  /** Keeps an entry at once. */
  set(key: string, value: T): void {
    if (this.generation === 0) return
    this.previous.delete(key)
    this.put(key, value)
  }

  delete(key: string): void {
    this.current.delete(key)
    this.previous.delete(key)
  }

  private put(key: string, value: T): void {
    if (!this.current.has(key) && this.current.size >= this.generation) {
      this.previous = this.current
      this.current = new Map()
    }
    this.current.set(key, value)
  }

  get size(): number {
    return this.current.size + this.previous.size
  }
}

/**
 * Which keys have been offered: one bit per key in 2^20 (128 KiB), by the key's 32-bit FNV-1a hash.
 * Two keys may share a bit, which only lets a credential in at its first offer; so that this stays
 * rare (at most 1 in 8), the bits are cleared whenever 2^17 keys have been marked since the last
 * clearing. A credential offered just before a clearing is kept at its next offer but one.
 */
class Doorkeeper {
  private readonly bits = new Uint32Array(BITS / 32)
  private marked = 0

  /** Whether the key was offered before (or shares its bit with one that was); marks it if not. */
  seenBefore(key: string): boolean {
    let h = 0x811c9dc5
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
    const bit = (h >>> 0) % BITS
    const word = bit >>> 5
    const mask = 1 << (bit & 31)
    if ((this.bits[word]! & mask) !== 0) return true
    this.bits[word]! |= mask
    if (++this.marked >= BITS / 8) {
      this.bits.fill(0)
      this.marked = 0
    }
    return false
  }
}

const BITS = 1 << 20
