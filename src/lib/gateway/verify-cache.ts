import { createHash } from 'node:crypto'

/**
 * A bounded LRU of verified credentials, keyed by the SHA-256 of the token (the token itself is
 * never kept as a key). An entry is never used past the credential's expiry.
 */
export class VerifyCache<T extends { exp: number }> {
  private readonly map = new Map<string, T>()

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  static keyOf(token: string): string {
    return createHash('sha256').update(token).digest('base64url')
  }

  get(key: string): T | undefined {
    const hit = this.map.get(key)
    if (hit === undefined) return undefined
    if (hit.exp * 1000 <= this.now()) {
      this.map.delete(key)
      return undefined
    }
    // Refresh recency: a Map iterates in insertion order, so re-inserting moves it to the end.
    this.map.delete(key)
    this.map.set(key, hit)
    return hit
  }

  set(key: string, value: T): void {
    if (this.maxEntries <= 0) return
    this.map.delete(key)
    this.map.set(key, value)
    if (this.map.size > this.maxEntries) this.map.delete(this.map.keys().next().value!)
  }

  get size(): number {
    return this.map.size
  }
}
