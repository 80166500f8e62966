import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'

import { verifyBadge } from '../../../src/lib/badge/verify.js'
import { CapiscioError } from '../../../src/lib/errors.js'
import { StaticKeySource } from '../../../src/lib/keysource/static.js'
import { claims, clock, edKey, signRaw } from '../../helpers/badges.js'

const issuer = edKey()
const keys = new StaticKeySource([{ publicKey: issuer.publicKey, kid: 'k' }])
const valid = signRaw({ alg: 'EdDSA', typ: 'JWT', kid: 'k' }, claims(), issuer.privateKey)
const options = { keys, now: clock, acceptSelfSigned: true }

async function outcome(token: string): Promise<'valid' | string> {
  try {
    await verifyBadge(token, options)
    return 'valid'
  } catch (err) {
    if (!(err instanceof CapiscioError) || !err.code.startsWith('BADGE_')) throw err
    return err.code
  }
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

describe('verifyBadge under random and mutated input (fast-check)', () => {
  it('the unmutated token is valid (the baseline the mutations start from)', async () => {
    expect(await outcome(valid)).toBe('valid')
  })

  it('throws only BADGE_* errors on arbitrary strings', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom(...B64URL, '.') })),
        async (s) => {
          expect(await outcome(s)).not.toBe('valid')
        },
      ),
      { numRuns: 500 },
    )
  })

  it('throws only BADGE_* errors on arbitrary JSON headers and payloads', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), fc.jsonValue(), async (h, p) => {
        const b = (v: unknown) => Buffer.from(JSON.stringify(v) ?? 'null').toString('base64url')
        expect(await outcome(`${b(h)}.${b(p)}.AAAA`)).not.toBe('valid')
      }),
      { numRuns: 300 },
    )
  })

  it('never accepts a token with any character replaced', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(valid.length - 1),
        fc.constantFrom(...B64URL, '.', '=', ' ', '~'),
        async (i, c) => {
          fc.pre(valid[i] !== c)
          expect(await outcome(valid.slice(0, i) + c + valid.slice(i + 1))).not.toBe('valid')
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('never accepts a token with bytes inserted or removed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(valid.length),
        fc.string({ minLength: 1, maxLength: 4, unit: fc.constantFrom(...B64URL) }),
        fc.boolean(),
        async (i, s, insert) => {
          const mutated = insert
            ? valid.slice(0, i) + s + valid.slice(i)
            : valid.slice(0, i) + valid.slice(i + s.length)
          fc.pre(mutated !== valid)
          expect(await outcome(mutated)).not.toBe('valid')
        },
      ),
      { numRuns: 1000 },
    )
  })
})
