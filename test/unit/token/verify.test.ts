import { createHmac, sign, type KeyObject } from 'node:crypto'

import { describe, expect, it } from '@jest/globals'

import { isLowS } from '../../../src/lib/badge/jws.js'
import { CapiscioError } from '../../../src/lib/errors.js'
import { StaticKeySource } from '../../../src/lib/keysource/static.js'
import { TrustStoreKeySource } from '../../../src/lib/keysource/truststore.js'
import { TrustStore } from '../../../src/lib/store/truststore.js'
import { mintToken } from '../../../src/lib/token/mint.js'
import { createTokenVerifier, verifyToken, type VerifyTokenOptions } from '../../../src/lib/token/verify.js'
import { NOW, clock, signHmac, unsigned } from '../../helpers/badges.js'
import { tmpDir } from '../../helpers/tmp.js'
import { keyPair } from '../../helpers/keypair.js'

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256!'
const T = Math.floor(NOW / 1000)
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

/** Signs a JWT with node:crypto directly, so tests can build tokens mintToken refuses to make. */
function signed(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject): string {
  const input = `${b64(header)}.${b64(payload)}`
  const alg = header.alg
  const sig =
    alg === 'ES256'
      ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
      : sign(alg === 'RS256' ? 'sha256' : null, Buffer.from(input), key)
  return `${input}.${sig.toString('base64url')}`
}

async function codeOf(token: string, options: VerifyTokenOptions): Promise<string> {
  try {
    await verifyToken(token, options)
    return 'VALID'
  } catch (err) {
    if (!(err instanceof CapiscioError)) throw err
    return err.code
  }
}

const hs = (claims: Record<string, unknown>, secret = SECRET) =>
  signHmac({ alg: 'HS256', typ: 'JWT' }, claims, secret)
const opts = (extra: Partial<VerifyTokenOptions> = {}): VerifyTokenOptions => ({
  secret: SECRET,
  now: clock,
  ...extra,
})

describe('mintToken → verifyToken', () => {
  it('round-trips every algorithm with the claims it was given', async () => {
    const keys = {
      RS256: keyPair('rsa', { modulusLength: 2048 }),
      ES256: keyPair('ec', { namedCurve: 'P-256' }),
      EdDSA: keyPair('ed25519'),
    }
    for (const [alg, pair] of Object.entries(keys)) {
      const { token, header } = mintToken({ sub: 'svc', privateKey: pair.privateKey, kid: 'k1', now: clock })
      expect(header).toEqual({ alg, typ: 'JWT', kid: 'k1' })
      const source = new StaticKeySource([{ publicKey: pair.publicKey, kid: 'k1' }])
      const v = await verifyToken(token, { keys: source, now: clock })
      expect([v.alg, v.kid, v.claims.sub]).toEqual([alg, 'k1', 'svc'])
    }
    for (const [alg, size] of [
      ['HS256', 32],
      ['HS384', 48],
      ['HS512', 64],
    ] as const) {
      const secret = 'x'.repeat(size)
      const { token, claims } = mintToken({
        sub: 'svc',
        type: 'service',
        roles: ['a', 'b'],
        aud: ['api', 'web'],
        iss: 'https://issuer.example',
        claims: { tenant: { id: 7 } },
        secret,
        alg,
        ttlSeconds: 600,
        now: clock,
      })
      expect(claims).toMatchObject({
        iat: T,
        exp: T + 600,
        type: 'service',
        roles: ['a', 'b'],
        tenant: { id: 7 },
      })
      const v = await verifyToken(token, {
        secret,
        audience: 'web',
        issuer: 'https://issuer.example',
        now: clock,
      })
      expect(v.claims).toEqual(claims)
    }
  })

  it('refuses secrets shorter than the hash (RFC 7518 §3.2), to mint and to verify', () => {
    expect(() => mintToken({ sub: 's', secret: 'short' })).toThrow(/at least 32 bytes/)
    expect(() => mintToken({ sub: 's', secret: 'x'.repeat(40), alg: 'HS384' })).toThrow(/at least 48 bytes/)
    expect(() => createTokenVerifier({ secret: 'x'.repeat(31) })).toThrow(/at least 32 bytes/)
    expect(() => createTokenVerifier({ secret: 'x'.repeat(32), algorithms: ['HS512'] })).toThrow(/64 bytes/)
  })

  it('does not let extra claims override the ones it sets, and keeps __proto__ a plain claim', async () => {
    expect(() => mintToken({ sub: 's', secret: SECRET, claims: { exp: 1 } })).toThrow(
      /the claim "exp" is set by ttlSeconds/,
    )
    const claims = JSON.parse('{"__proto__": {"admin": true}}') as Record<string, unknown>
    const { token } = mintToken({ sub: 's', secret: SECRET, claims, now: clock })
    const v = await verifyToken(token, opts())
    expect(Object.hasOwn(v.claims, '__proto__')).toBe(true)
    expect(({} as Record<string, unknown>).admin).toBeUndefined()
  })
})

describe('verifyToken: the allow-list comes from the key, never from the token', () => {
  const ec = keyPair('ec', { namedCurve: 'P-256' })
  const ecKeys = new StaticKeySource([{ publicKey: ec.publicKey, kid: 'ec' }])

  it('refuses alg none, in any spelling, with TOKEN_MALFORMED', async () => {
    for (const alg of ['none', 'None', 'NONE', ''])
      expect(await codeOf(unsigned({ alg }, { sub: 'x' }), opts())).toBe('TOKEN_MALFORMED')
  })

  it('refuses an HS256 token keyed with the public key (PEM or JWK bytes) when verifying with keys', async () => {
    const pem = ec.publicKey.export({ type: 'spki', format: 'pem' }) as string
    const jwk = JSON.stringify(ec.publicKey.export({ format: 'jwk' }))
    for (const secret of [pem, jwk]) {
      const forged = signHmac({ alg: 'HS256', kid: 'ec' }, { sub: 'admin' }, secret)
      expect(await codeOf(forged, { keys: ecKeys, now: clock })).toBe('TOKEN_MALFORMED')
    }
  })

  it('will not mix: HMAC algorithms need a secret, public-key ones a key source', () => {
    expect(() => createTokenVerifier({ keys: ecKeys, algorithms: ['HS256'] })).toThrow(
      /cannot be verified with public keys/,
    )
    expect(() => createTokenVerifier({ secret: SECRET, algorithms: ['ES256'] })).toThrow(
      /cannot be verified with a secret/,
    )
    expect(() => createTokenVerifier({ secret: SECRET, keys: ecKeys })).toThrow(/not both/)
    expect(() => createTokenVerifier({})).toThrow(/secret or a key source is required/)
  })

  it('a key verifies only its own algorithm: an ES256 key never checks an EdDSA token', async () => {
    const ed = keyPair('ed25519')
    const token = signed({ alg: 'EdDSA', kid: 'ec' }, { sub: 'x' }, ed.privateKey)
    expect(await codeOf(token, { keys: ecKeys, now: clock })).toBe('TOKEN_SIGNATURE_INVALID')
  })

  it('accepts high-S ES256 signatures (other JWT libraries emit them), unlike badges', async () => {
    let highS: string | undefined
    for (let i = 0; i < 64 && !highS; i++) {
      const t = signed({ alg: 'ES256', kid: 'ec' }, { sub: 'x', n: i }, ec.privateKey)
      if (!isLowS(Buffer.from(t.split('.')[2]!, 'base64url'))) highS = t
    }
    expect(highS).toBeDefined()
    expect(await codeOf(highS!, { keys: ecKeys, now: clock })).toBe('VALID')
  })
})

describe('verifyToken: ordered checks, one code each', () => {
  it('shape: malformed, oversized, deeply nested, crit, a bad kid', async () => {
    const good = hs({ sub: 'x' })
    expect(await codeOf(good.slice(0, -3), opts())).toBe('TOKEN_SIGNATURE_INVALID')
    expect(await codeOf(good.split('.').slice(0, 2).join('.'), opts())).toBe('TOKEN_MALFORMED')
    expect(await codeOf(hs({ sub: 'x', pad: 'p'.repeat(64 * 1024) }), opts())).toBe('TOKEN_MALFORMED')
    // Built as text: JSON.stringify itself overflows the stack on 5,000 levels.
    const input = `${b64({ alg: 'HS256' })}.${Buffer.from(`{"sub":"x","deep":${'['.repeat(5000)}${']'.repeat(5000)}}`).toString('base64url')}`
    const deep = `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`
    expect(await codeOf(deep, opts())).toBe('TOKEN_MALFORMED')
    expect(await codeOf(signHmac({ alg: 'HS256', crit: ['exp'] }, { sub: 'x' }, SECRET), opts())).toBe(
      'TOKEN_MALFORMED',
    )
    expect(await codeOf(signHmac({ alg: 'HS256', kid: 7 }, { sub: 'x' }, SECRET), opts())).toBe(
      'TOKEN_MALFORMED',
    )
    expect(await codeOf('not a token', opts())).toBe('TOKEN_MALFORMED')
  })

  it('claim types: NumericDates are numbers, iss a string, aud a string or strings', async () => {
    for (const bad of [
      { exp: '9999999999' },
      { nbf: null },
      { iat: {} },
      { iss: 5 },
      { aud: [1] },
      { aud: {} },
      { jti: 3 },
    ])
      expect(await codeOf(hs({ sub: 'x', ...bad }), opts())).toBe('TOKEN_CLAIMS_INVALID')
  })

  it('NumericDates past year 9999 are TOKEN_CLAIMS_INVALID (no date to show, and 1e20 lost its seconds)', async () => {
    for (const name of ['exp', 'nbf', 'iat'])
      expect(await codeOf(hs({ sub: 'x', [name]: 253_402_300_800 }), opts())).toBe('TOKEN_CLAIMS_INVALID')
    expect(await codeOf(hs({ sub: 'x', exp: 1e20 }), opts())).toBe('TOKEN_CLAIMS_INVALID')
    expect(await codeOf(hs({ sub: 'x', exp: 253_402_300_799 }), opts())).toBe('VALID')
  })

  it('issuer: expected and absent or other → TOKEN_ISSUER_MISMATCH, before the signature', async () => {
    const o = opts({ issuer: ['https://a.example', 'https://b.example'] })
    expect(await codeOf(hs({ sub: 'x', iss: 'https://b.example' }), o)).toBe('VALID')
    expect(await codeOf(hs({ sub: 'x', iss: 'https://c.example' }), o)).toBe('TOKEN_ISSUER_MISMATCH')
    expect(await codeOf(hs({ sub: 'x' }), o)).toBe('TOKEN_ISSUER_MISMATCH')
    expect(
      await codeOf(hs({ sub: 'x', iss: 'https://c.example' }, 'another-secret-another-secret-another'), o),
    ).toBe('TOKEN_ISSUER_MISMATCH')
  })

  it('signature: another secret, a flipped byte', async () => {
    expect(await codeOf(hs({ sub: 'x' }, 'y'.repeat(40)), opts())).toBe('TOKEN_SIGNATURE_INVALID')
    const t = hs({ sub: 'x' })
    const flipped = t.slice(0, -2) + (t.at(-2) === 'A' ? 'B' : 'A') + t.at(-1)
    expect(await codeOf(flipped, opts())).toBe('TOKEN_SIGNATURE_INVALID')
  })

  it('time: exp and nbf within the clock skew, iat in the future, max age', async () => {
    expect(await codeOf(hs({ sub: 'x', exp: T - 59 }), opts())).toBe('VALID')
    expect(await codeOf(hs({ sub: 'x', exp: T - 60 }), opts())).toBe('TOKEN_EXPIRED')
    expect(await codeOf(hs({ sub: 'x', exp: T - 1 }), opts({ clockSkewSeconds: 0 }))).toBe('TOKEN_EXPIRED')
    expect(await codeOf(hs({ sub: 'x', nbf: T + 60 }), opts())).toBe('VALID')
    expect(await codeOf(hs({ sub: 'x', nbf: T + 61 }), opts())).toBe('TOKEN_NOT_YET_VALID')
    expect(await codeOf(hs({ sub: 'x', iat: T + 61 }), opts())).toBe('TOKEN_NOT_YET_VALID')
    expect(await codeOf(hs({ sub: 'x', iat: T - 400 }), opts({ maxAgeSeconds: 300 }))).toBe('TOKEN_EXPIRED')
    expect(await codeOf(hs({ sub: 'x', iat: T - 100 }), opts({ maxAgeSeconds: 300 }))).toBe('VALID')
    expect(await codeOf(hs({ sub: 'x' }), opts({ maxAgeSeconds: 300 }))).toBe('TOKEN_CLAIMS_INVALID')
  })

  it('audience: aud may be a string or an array (RFC 7519 §4.1.3); absent is refused when one is expected', async () => {
    const o = opts({ audience: 'api' })
    expect(await codeOf(hs({ sub: 'x', aud: 'api' }), o)).toBe('VALID')
    expect(await codeOf(hs({ sub: 'x', aud: ['web', 'api'] }), o)).toBe('VALID')
    expect(await codeOf(hs({ sub: 'x', aud: ['web'] }), o)).toBe('TOKEN_AUDIENCE_MISMATCH')
    expect(await codeOf(hs({ sub: 'x' }), o)).toBe('TOKEN_AUDIENCE_MISMATCH')
    // No audience configured: the token's aud is not checked (as jose, jsonwebtoken and fast-jwt).
    expect(await codeOf(hs({ sub: 'x', aud: 'other' }), opts())).toBe('VALID')
  })

  it('required claims: sub by default; own claims only, never inherited names', async () => {
    expect(await codeOf(hs({ type: 'user' }), opts())).toBe('TOKEN_CLAIMS_INVALID')
    expect(await codeOf(hs({ sub: null }), opts())).toBe('TOKEN_CLAIMS_INVALID')
    expect(await codeOf(hs({ sub: 'x' }), opts({ requiredClaims: ['constructor'] }))).toBe(
      'TOKEN_CLAIMS_INVALID',
    )
    expect(await codeOf(hs({ sub: 'x' }), opts({ requiredClaims: ['exp'] }))).toBe('TOKEN_CLAIMS_INVALID')
    expect(await codeOf(hs({ sub: 'x', exp: T + 10 }), opts({ requiredClaims: ['exp', 'sub'] }))).toBe(
      'VALID',
    )
  })

  it('the error message never contains the token or the secret', async () => {
    const token = hs({ sub: 'x', exp: T - 3600 })
    const err = (await verifyToken(token, opts()).catch((e: unknown) => e)) as CapiscioError
    expect(err.code).toBe('TOKEN_EXPIRED')
    expect(err.message).not.toContain(token.split('.')[1])
    expect(err.message).not.toContain(SECRET)
  })
})

describe('verifyToken with a trust store: keys speak only for their issuers', () => {
  it("a partner's key cannot sign a token claiming another issuer; a token without iss claims none", async () => {
    const dir = tmpDir()
    const store = new TrustStore(dir)
    const a = keyPair('ed25519')
    const p = keyPair('ed25519')
    await store.add(a.publicKey, 'a-key', { issuers: ['https://a.example'] })
    await store.add(p.publicKey, 'partner', { issuers: ['https://partner.example'] })
    const keys = new TrustStoreKeySource(new TrustStore(dir), { now: clock })
    const o = { keys, now: clock }
    const tok = (kid: string, key: KeyObject, iss?: string) =>
      signed({ alg: 'EdDSA', kid }, iss ? { sub: 'x', iss } : { sub: 'x' }, key)
    expect(await codeOf(tok('a-key', a.privateKey, 'https://a.example'), o)).toBe('VALID')
    expect(await codeOf(tok('partner', p.privateKey, 'https://a.example'), o)).toBe('TOKEN_SIGNATURE_INVALID')
    expect(await codeOf(tok('partner', p.privateKey), o)).toBe('VALID')
    expect(await codeOf(tok('../../etc/passwd', p.privateKey), o)).toBe('TOKEN_SIGNATURE_INVALID')
    expect(await codeOf(tok('unknown', p.privateKey), o)).toBe('TOKEN_SIGNATURE_INVALID')
  })
})

describe('createTokenVerifier', () => {
  it('checks options once and verifies many tokens with the same result as verifyToken', async () => {
    const verify = createTokenVerifier(opts())
    const tokens = Array.from({ length: 20 }, (_, i) => hs({ sub: `s${i}` }))
    const subs = await Promise.all(tokens.map(async (t) => (await verify(t)).claims.sub))
    expect(subs).toEqual(tokens.map((_, i) => `s${i}`))
  })
})

describe('mintToken refuses keys no verifier takes', () => {
  it.each([
    ['P-384', () => keyPair('ec', { namedCurve: 'P-384' }).privateKey],
    ['secp256k1', () => keyPair('ec', { namedCurve: 'secp256k1' }).privateKey],
    ['RSA-1024', () => keyPair('rsa', { modulusLength: 1024 }).privateKey],
  ])('%s is a usage error, not a token labelled with an algorithm it cannot meet', (_name, make) => {
    expect(() => mintToken({ sub: 'a', privateKey: make() })).toThrow(
      expect.objectContaining({ code: 'USAGE' }) as unknown as Error,
    )
  })
})

describe('mintToken signs only what JSON carries', () => {
  it.each([
    ['undefined', undefined],
    ['NaN', Number.NaN],
    ['a BigInt', 10n],
    ['a Date', new Date(0)],
    ['a nested Infinity', { a: [1, Infinity] }],
  ])('a claim holding %s is a usage error', (_name, value) => {
    expect(() => mintToken({ sub: 'a', secret: 'x'.repeat(32), claims: { bad: value } })).toThrow(
      expect.objectContaining({
        code: 'USAGE',
        message: 'the claim bad is not a JSON value',
      }) as unknown as Error,
    )
  })

  it('a lifetime that puts exp past year 9999, or a token over 16 KiB, is a usage error: no verifier would take it', () => {
    const secret = 'x'.repeat(32)
    const usage = (message: RegExp) =>
      expect.objectContaining({ code: 'USAGE', message: expect.stringMatching(message) }) as unknown as Error
    expect(() => mintToken({ sub: 'a', secret, ttlSeconds: 99_999_999_999_999, now: () => NOW })).toThrow(
      usage(/past 253402300799/),
    )
    expect(() => mintToken({ sub: 'B'.repeat(20_000), secret })).toThrow(usage(/at most 16384/))
    expect(() => mintToken({ sub: 'a', secret, claims: { big: 'B'.repeat(13_000) } })).toThrow(
      usage(/at most 16384/),
    )
    const justUnder = mintToken({ sub: 'a', secret, claims: { big: 'B'.repeat(11_000) } }).token
    expect(justUnder.length).toBeLessThanOrEqual(16_384)
  })

  it('a clock that returns no number is a usage error, not a token with null times', () => {
    expect(() => mintToken({ sub: 'a', secret: 'x'.repeat(32), now: () => Number.NaN })).toThrow(
      expect.objectContaining({ code: 'USAGE' }) as unknown as Error,
    )
  })
})
