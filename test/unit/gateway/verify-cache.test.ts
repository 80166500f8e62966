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
    cache.offer('a', { exp: 10 })
    cache.offer('a', { exp: 10 })
    expect(cache.get('a')).toBeUndefined()
  })

  it('keeps an offered credential from its second offer on, not its first (one-time credentials evict nothing)', () => {
    const cache = new VerifyCache<{ exp: number; n: number }>(1000, () => 0)
    for (let n = 0; n < 4; n++) cache.offer(`k${n}`, { exp: 100, n })
    expect(cache.size).toBe(0)
    cache.offer('k1', { exp: 100, n: 11 })
    expect(cache.get('k1')?.n).toBe(11)
    // 10 000 credentials seen once each: only those whose bit another key had set get in (about
    // 0.5 % here), and the one in use stays.
    for (let n = 100; n < 10_100; n++) cache.offer(`once-${n}`, { exp: 100, n })
    expect(cache.get('k1')?.n).toBe(11)
    expect(cache.size).toBeLessThan(1 + 100)
  })

  it('forgets the first offers after 2^17 keys, so that unrelated keys rarely pass for seen', () => {
    const cache = new VerifyCache<{ exp: number }>(1_000_000, () => 0)
    cache.offer('early', { exp: 100 })
    // 2^17 keys marked (a key whose bit was set already marks nothing), then 20 000 more.
    const fillers = (1 << 17) + 20_000
    for (let n = 0; n < fillers; n++) cache.offer(`filler-${n}`, { exp: 100 })
    // At most 1 in 8 bits is set before a clearing (1 in 16 on average): far fewer got in unseen.
    expect(cache.size).toBeLessThan(fillers / 16)
    cache.offer('early', { exp: 100 }) // the clearing forgot it: this is a first offer again
    expect(cache.get('early')).toBeUndefined()
    cache.offer('early', { exp: 100 })
    expect(cache.get('early')).toBeDefined()
  })
})
