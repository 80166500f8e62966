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
import { createTokenVerifier, verifyToken, type VerifyTokenOptions } from '../../../src/lib/token/verify.js'

const SECRET = 'property-test-secret-of-at-least-32-bytes'
const NOW = 1_800_000_000_000
const now = () => NOW
let ed: GeneratedKey
let edVerify: VerifyTokenOptions
/** One key of each public-key algorithm, kid-less, so any kid-less token is tried against its alg's key. */
let allKeysVerify: VerifyTokenOptions

beforeAll(async () => {
  ed = await generateKey('EdDSA')
  edVerify = { keys: new StaticKeySource([{ publicKey: createPublicKey(ed.privateKey), kid: ed.kid }]), now }
  const others = await Promise.all([generateKey('ES256'), generateKey('RS256')])
  allKeysVerify = {
    keys: new StaticKeySource([ed, ...others].map((k) => ({ publicKey: createPublicKey(k.privateKey) }))),
    now,
  }
}, 30_000)

const reserved = new Set<string>(RESERVED_CLAIMS)
/** Any text: ASCII mostly, whole Unicode, and lone surrogates (JSON.stringify escapes them). */
const anyText = (constraints: { minLength?: number; maxLength?: number }) =>
  fc.oneof(fc.string(constraints), fc.string({ ...constraints, unit: 'binary' }))
// fc.string leans towards names like __proto__ and constructor, which must stay plain claims.
const claimName = fc
  .oneof(anyText({ minLength: 1, maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'toString'))
  .filter((k) => !reserved.has(k))
const jsonValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 2, stringUnit: 'binary' }))
/** As JSON carries a value: -0 travels as 0, the one JSON value that does not survive. */
const asJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v))
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
            sub: anyText({ minLength: 1, maxLength: 40 }),
            // What mintToken signs: names (non-empty; a role without a comma).
            roles: fc.array(
              anyText({ minLength: 1, maxLength: 10 }).filter((r) => !r.includes(',')),
              { maxLength: 4 },
            ),
            type: fc.option(anyText({ minLength: 1, maxLength: 10 }), { nil: undefined }),
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
            expect(verified.claims).toEqual(asJson(minted.claims))
            // Exactly the claims asked for, built from the inputs rather than from what mint reports.
            const expected: Record<string, unknown> = {
              ...claims,
              sub,
              roles,
              iat: NOW / 1000,
              exp: NOW / 1000 + ttl,
              jti: minted.claims.jti,
            }
            if (type !== undefined) expected.type = type
            if (aud !== undefined) expected.aud = aud.length === 1 ? aud[0] : aud
            // toEqual plus the key lists, not toStrictEqual: that compares .constructor, and a claim
            // may be named constructor.
            expect(verified.claims).toEqual(asJson(expected))
            expect(Object.keys(verified.claims).sort()).toEqual(Object.keys(expected).sort())
            expect(Object.getPrototypeOf(verified.claims)).toBe(Object.prototype)
            expect(typeof verified.claims.jti).toBe('string')
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

  it.each(['HS256', 'EdDSA'] as const)(
    '%s: every single-character change at every position is refused with a TOKEN_* code',
    async (alg) => {
      // Exhaustive where the sampled property above only samples: it includes each segment's last
      // character, where a non-canonical spelling of the same bytes would otherwise slip through.
      const signer = alg === 'HS256' ? { secret: SECRET } : { privateKey: ed.privateKey, kid: ed.kid }
      const { token } = mintToken({ sub: 'bob', aud: 'https://b.example', now, ...signer })
      const verify = createTokenVerifier(alg === 'HS256' ? { secret: SECRET, now } : edVerify)
      await expect(verify(token)).resolves.toMatchObject({ alg })
      const accepted: string[] = []
      const codes = new Set<string>()
      let tried = 0
      for (let at = 0; at < token.length; at++) {
        for (const ch of B64URL + '.') {
          if (token[at] === ch) continue
          const tampered = token.slice(0, at) + ch + token.slice(at + 1)
          tried++
          try {
            await verify(tampered)
            accepted.push(tampered)
          } catch (err) {
            if (!(err instanceof CapiscioError)) throw err
            codes.add(err.code)
          }
        }
      }
      expect(tried).toBe(token.length * B64URL.length)
      expect(accepted).toEqual([])
      expect([...codes].every((c) => c.startsWith('TOKEN_'))).toBe(true)
      // Sanity: the changes reached past the shape check into the signature.
      expect(codes).toContain('TOKEN_SIGNATURE_INVALID')
      expect(codes).toContain('TOKEN_MALFORMED')
    },
    30_000,
  )

  it('arbitrary text, and arbitrary dot-joined base64url triples, are refused with a TOKEN_* code', async () => {
    const b64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url')
    const json = (v: unknown) => b64(JSON.stringify(v) ?? 'null')
    // Raw base64url text: mostly non-canonical or of an impossible length (4k+1).
    const raw = fc.string({ unit: fc.constantFrom(...B64URL), maxLength: 60 })
    // Canonical by construction, so the decoder has to look inside: random bytes, random text.
    const bytes = fc.uint8Array({ minLength: 1, maxLength: 48 }).map(b64)
    const text = anyText({ minLength: 1, maxLength: 30 }).map(b64)
    // Headers and payloads of every JSON kind; plausible ones (the only kind that gets as far as
    // the claim and signature checks) most often.
    const header = fc.oneof(
      {
        weight: 3,
        arbitrary: fc
          .record(
            { alg: fc.constantFrom('HS256', 'EdDSA', 'ES256', 'RS256'), kid: fc.string({ minLength: 1 }) },
            { requiredKeys: ['alg'] },
          )
          .map(json),
      },
      {
        weight: 1,
        arbitrary: fc
          .record(
            {
              alg: fc.constantFrom('HS512', 'none', 'hs256', '', 7, null),
              kid: fc.oneof(fc.constant(''), fc.jsonValue({ maxDepth: 1 })),
              crit: fc.constant(['exp']),
            },
            { requiredKeys: [] },
          )
          .map(json),
      },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map(json) },
    )
    const payload = fc.oneof(
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map(json) },
      {
        weight: 1,
        arbitrary: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }).map(json),
      },
      {
        weight: 3,
        arbitrary: fc
          .record(
            {
              sub: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 1 })),
              exp: fc.oneof(fc.integer(), fc.constant('soon')),
              iat: fc.integer(),
              nbf: fc.integer(),
              aud: fc.oneof(fc.string(), fc.array(fc.jsonValue({ maxDepth: 1 }))),
            },
            { requiredKeys: [] },
          )
          .map(json),
      },
    )
    // Signatures of any length, and of exactly the lengths ES256/EdDSA (64) and RS256 (256) check.
    const ofLength = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map(b64)
    const signature = fc.oneof(bytes, ofLength(64), ofLength(256))
    const candidates = fc.oneof(
      fc.string(),
      fc.string({ unit: 'grapheme' }),
      fc.string({ unit: 'binary' }),
      fc.tuple(raw, raw, raw).map((p) => p.join('.')),
      fc.tuple(fc.oneof(bytes, text), fc.oneof(bytes, text, payload), signature).map((p) => p.join('.')),
      { weight: 4, arbitrary: fc.tuple(header, payload, signature).map((p) => p.join('.')) },
    )
    const seen = new Set<string>()
    await fc.assert(
      fc.asyncProperty(candidates, async (token) => {
        for (const options of [{ secret: SECRET, now }, edVerify, allKeysVerify]) {
          // allKeysVerify: RS256 and ES256 keys too, which any kid-less header's signature reaches.
          const code = await outcome(token, options)
          expect(code).toMatch(/^TOKEN_/)
          seen.add(code)
        }
      }),
      { numRuns: 400 },
    )
    // The inputs reached past the shape check, into the claim and signature checks.
    expect([...seen].sort()).toEqual(
      expect.arrayContaining(['TOKEN_CLAIMS_INVALID', 'TOKEN_MALFORMED', 'TOKEN_SIGNATURE_INVALID']),
    )
  })
})
