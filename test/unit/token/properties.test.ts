// Properties of mint and verify over generated inputs (fast-check): what is minted verifies with
// exactly its claims; any one-character change to a valid token is refused with a TOKEN_* code;
// arbitrary input is refused with a TOKEN_* code, never another kind of error.
import { createPublicKey } from 'node:crypto'

import { beforeAll, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'

import { CapiscioError } from '../../../src/lib/errors.js'
import { generateKey, type GeneratedKey } from '../../../src/lib/keys/generate.js'
import { StaticKeySource } from '../../../src/lib/keysource/static.js'
import { mintToken, RESERVED_CLAIMS, type MintTokenOptions } from '../../../src/lib/token/mint.js'
import { verifyToken, type VerifyTokenOptions } from '../../../src/lib/token/verify.js'

const SECRET = 'property-test-secret-of-at-least-32-bytes'
const NOW = 1_800_000_000_000
const now = () => NOW
let ed: GeneratedKey
let edVerify: VerifyTokenOptions

beforeAll(async () => {
  ed = await generateKey('EdDSA')
  edVerify = { keys: new StaticKeySource([{ publicKey: createPublicKey(ed.privateKey), kid: ed.kid }]), now }
})

const reserved = new Set<string>(RESERVED_CLAIMS)
const claimName = fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !reserved.has(k))
const jsonValue = fc.jsonValue({ maxDepth: 3 })
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** The code of the refusal, or "accepted"; anything but a CapiscioError is rethrown to fail the test. */
async function outcome(token: string, options: VerifyTokenOptions): Promise<string> {
  try {
    await verifyToken(token, options)
    return 'accepted'
  } catch (err) {
    if (err instanceof CapiscioError) return err.code
    throw err
  }
}

describe('bearer token properties', () => {
  it.each(['HS256', 'EdDSA'] as const)(
    '%s: a minted token verifies with exactly the claims it was given',
    async (alg) => {
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            sub: fc.string({ minLength: 1, maxLength: 40 }),
            roles: fc.array(fc.string({ maxLength: 10 }), { maxLength: 4 }),
            type: fc.option(fc.string({ maxLength: 10 }), { nil: undefined }),
            claims: fc.dictionary(claimName, jsonValue, { maxKeys: 4 }),
            ttl: fc.integer({ min: 1, max: 1_000_000 }),
            aud: fc.option(fc.array(fc.webUrl(), { minLength: 1, maxLength: 3 }), { nil: undefined }),
          }),
          async ({ sub, roles, type, claims, ttl, aud }) => {
            const options: MintTokenOptions = { sub, roles, claims, ttlSeconds: ttl, now }
            if (type !== undefined) options.type = type
            if (aud !== undefined) options.aud = aud
            const signer = alg === 'HS256' ? { secret: SECRET } : { privateKey: ed.privateKey, kid: ed.kid }
            const minted = mintToken({ ...options, ...signer })
            const verified = await verifyToken(
              minted.token,
              alg === 'HS256' ? { secret: SECRET, now } : edVerify,
            )
            expect(verified.alg).toBe(alg)
            // As JSON carries them: -0 travels as 0, the one value JSON does not keep.
            const asJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v))
            expect(verified.claims).toEqual(asJson(minted.claims))
            expect(verified.claims.sub).toBe(sub)
            expect(verified.claims.roles).toEqual(roles)
            expect(verified.claims.exp).toBe(NOW / 1000 + ttl)
            for (const [name, value] of Object.entries(claims)) {
              expect(Object.hasOwn(verified.claims, name)).toBe(true)
              expect(verified.claims[name]).toEqual(asJson(value))
            }
          },
        ),
        { numRuns: 150 },
      )
    },
  )

  it('a claim named __proto__ round-trips as an own claim and changes no prototype', async () => {
    const claims = JSON.parse('{"__proto__":{"admin":true}}') as Record<string, unknown>
    const { token } = mintToken({ sub: 'x', secret: SECRET, claims, now })
    const { claims: got } = await verifyToken(token, { secret: SECRET, now })
    expect(Object.hasOwn(got, '__proto__')).toBe(true)
    expect((got as { admin?: unknown }).admin).toBeUndefined()
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype)
  })

  it.each(['HS256', 'EdDSA'] as const)(
    '%s: changing any one character of a valid token is refused with a TOKEN_* code',
    async (alg) => {
      const signer = alg === 'HS256' ? { secret: SECRET } : { privateKey: ed.privateKey, kid: ed.kid }
      const { token } = mintToken({
        sub: 'alice',
        roles: ['admin'],
        aud: 'https://a.example',
        now,
        ...signer,
      })
      const options = alg === 'HS256' ? { secret: SECRET, now } : edVerify
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: token.length - 1 }),
          fc.constantFrom(...B64URL, '.', '=', '+', '/', ' '),
          async (at, ch) => {
            fc.pre(token[at] !== ch)
            const tampered = token.slice(0, at) + ch + token.slice(at + 1)
            expect(await outcome(tampered, options)).toMatch(/^TOKEN_/)
          },
        ),
        { numRuns: 300 },
      )
    },
  )

  it('arbitrary text, and arbitrary dot-joined base64url triples, are refused with a TOKEN_* code', async () => {
    const part = fc.string({ unit: fc.constantFrom(...B64URL), maxLength: 60 })
    const json = fc
      .jsonValue({ maxDepth: 3 })
      .map((v) => Buffer.from(JSON.stringify(v) ?? 'null').toString('base64url'))
    const header = fc
      .record({
        alg: fc.constantFrom('HS256', 'HS512', 'none', 'EdDSA', 'RS256', 'ES256', 'hs256', ''),
        kid: fc.option(fc.string()),
      })
      .map((h) => Buffer.from(JSON.stringify(h)).toString('base64url'))
    const candidates = fc.oneof(
      fc.string(),
      fc.string({ unit: 'grapheme' }),
      fc.tuple(part, part, part).map((p) => p.join('.')),
      fc.tuple(header, json, part).map((p) => p.join('.')),
    )
    await fc.assert(
      fc.asyncProperty(candidates, async (text) => {
        expect(await outcome(text, { secret: SECRET, now })).toMatch(/^TOKEN_/)
        expect(await outcome(text, edVerify)).toMatch(/^TOKEN_/)
      }),
      { numRuns: 400 },
    )
  })
})
