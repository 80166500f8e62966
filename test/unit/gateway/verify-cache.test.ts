import { describe, expect, it } from '@jest/globals'

import { VerifyCache } from '../../../src/lib/gateway/verify-cache.js'

describe('VerifyCache', () => {
  it('holds at most maxEntries, keeps entries in use, and drops idle ones', () => {
    const cache = new VerifyCache<{ exp: number; n: number }>(4, () => 0)
    for (let n = 0; n < 4; n++) cache.set(`k${n}`, { exp: 100, n })
    expect(cache.get('k0')?.n).toBe(0) // in use: survives what follows
    for (let n = 4; n < 8; n++) {
      cache.set(`k${n}`, { exp: 100, n })
      expect(cache.size).toBeLessThanOrEqual(4)
      cache.get('k0')
    }
    expect(cache.get('k0')?.n).toBe(0)
    expect(cache.get('k1')).toBeUndefined()
    expect(cache.get('k7')?.n).toBe(7)
  })

  it('never returns an entry at or past its exp, from either generation', () => {
    let now = 0
    const cache = new VerifyCache<{ exp: number }>(2, () => now)
    cache.set('a', { exp: 10 })
    cache.set('b', { exp: 10 }) // 'a' is now in the older generation
    now = 10_000
    expect(cache.get('a')).toBeUndefined()
    expect(cache.get('b')).toBeUndefined()
  })

  it('stores nothing with size 0', () => {
    const cache = new VerifyCache<{ exp: number }>(0, () => 0)
    cache.set('a', { exp: 10 })
    expect(cache.get('a')).toBeUndefined()
  })
})
