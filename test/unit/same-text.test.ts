import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'

import { sameText } from '../../src/lib/same-text.js'

describe('sameText', () => {
  it('answers what === answers, for any two strings (lone surrogates and NULs included)', () => {
    const text = fc.string({ unit: 'binary', maxLength: 64 })
    fc.assert(fc.property(text, text, (a, b) => sameText(a, b) === (a === b)))
  })

  it('finds a difference in any one position of a 43-character MAC, and a difference in length', () => {
    const mac = 'x4jbJ0Kdkm7mKqcT0YBg9NRu7r0Bcx8gZlhFjCnX9-s'
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: mac.length - 1 }),
        fc.integer({ min: 1, max: 0xffff }),
        (i, d) => {
          const changed = mac.slice(0, i) + String.fromCharCode(mac.charCodeAt(i) ^ d) + mac.slice(i + 1)
          return !sameText(mac, changed) && !sameText(changed, mac)
        },
      ),
    )
    expect(sameText(mac, mac.slice(0, -1))).toBe(false)
    expect(sameText('', '')).toBe(true)
    expect(sameText(mac, `${mac}`)).toBe(true)
  })
})
