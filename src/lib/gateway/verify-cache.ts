import { hash } from 'node:crypto'

/**
 * A bounded cache of verified credentials, keyed by the SHA-256 of the token (the token itself is
 * never kept as a key). An entry is never used past the credential's expiry.
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

  constructor(
    maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {
    this.generation = Math.max(0, Math.ceil(maxEntries / 2))
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
