import { sign, type KeyObject } from 'node:crypto'

import { describe, expect, it } from '@jest/globals'

import { decodeBadge } from '../../../src/lib/badge/decode.js'
import { issueBadge } from '../../../src/lib/badge/issue.js'
import { verifyBadge, type VerifyBadgeOptions } from '../../../src/lib/badge/verify.js'
import { CapiscioError } from '../../../src/lib/errors.js'
import { StaticKeySource } from '../../../src/lib/keysource/static.js'
import { claims, clock, edKey, NOW, signRaw } from '../../helpers/badges.js'
import { keyPair } from '../../helpers/keypair.js'

const issuer = edKey()
const ec = keyPair('ec', { namedCurve: 'P-256' })
const keys = new StaticKeySource([
  { publicKey: issuer.publicKey, kid: 'ed' },
  { publicKey: ec.publicKey, kid: 'ec' },
])
const base: VerifyBadgeOptions = { keys, now: clock }
const edHeader = { alg: 'EdDSA', typ: 'JWT', kid: 'ed' }

async function codeOf(token: string, options: VerifyBadgeOptions = base): Promise<string> {
  try {
    await verifyBadge(token, options)
  } catch (err) {
    expect(err).toBeInstanceOf(CapiscioError)
    return (err as CapiscioError).code
  }
  return 'VALID'
}

/** Signs a signing input exactly as given (so tests can sign non-canonical encodings). */
function signInput(input: string, key: KeyObject = issuer.privateKey): string {
  return `${input}.${sign(null, Buffer.from(input, 'latin1'), key).toString('base64url')}`
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** The same bytes, spelled with the last character's unused bits set (decoders ignore them). */
function nonCanonical(segment: string): string {
  const rem = segment.length % 4
  if (rem === 0) throw new Error('no unused bits in this segment')
  const last = B64.indexOf(segment.at(-1)!)
  const spelled = segment.slice(0, -1) + B64[last | 1]
  expect(Buffer.from(spelled, 'base64url')).toEqual(Buffer.from(segment, 'base64url'))
  expect(spelled).not.toBe(segment)
  return spelled
}

/** A JSON segment whose base64url has unused bits (length not a multiple of 3 bytes). */
function segmentWithSpareBits(value: unknown): string {
  let json = JSON.stringify(value)
  while (json.length % 3 === 0) json += ' '
  return Buffer.from(json).toString('base64url')
}

// P-256's group order n and n/2: an ECDSA signature (r, s) also verifies as (r, n − s).
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n
const sOf = (sig: Buffer) => BigInt('0x' + sig.subarray(32).toString('hex'))
function withS(sig: Buffer, s: bigint): Buffer {
  return Buffer.concat([sig.subarray(0, 32), Buffer.from(s.toString(16).padStart(64, '0'), 'hex')])
}

describe('one token string per signature (issue 7 item 6)', () => {
  it('refuses a header whose base64url is not canonical, even when the signature covers it', async () => {
    const h = segmentWithSpareBits(edHeader)
    const p = Buffer.from(JSON.stringify(claims())).toString('base64url')
    expect(await codeOf(signInput(`${h}.${p}`))).toBe('VALID')
    expect(await codeOf(signInput(`${nonCanonical(h)}.${p}`))).toBe('BADGE_MALFORMED')
  })

  it('refuses a payload whose base64url is not canonical, even when the signature covers it', async () => {
    const h = Buffer.from(JSON.stringify(edHeader)).toString('base64url')
    const p = segmentWithSpareBits(claims())
    expect(await codeOf(signInput(`${h}.${p}`))).toBe('VALID')
    expect(await codeOf(signInput(`${h}.${nonCanonical(p)}`))).toBe('BADGE_MALFORMED')
  })

  it('refuses a part with a stray sixth-bit character (length 4k+1), which decoders drop', async () => {
    const h = Buffer.from(JSON.stringify(edHeader)).toString('base64url')
    let json = JSON.stringify(claims())
    while (json.length % 3 !== 0) json += ' '
    const p = Buffer.from(json).toString('base64url')
    expect(await codeOf(signInput(`${h}.${p}`))).toBe('VALID')
    expect(Buffer.from(p + 'A', 'base64url')).toEqual(Buffer.from(p, 'base64url'))
    expect(await codeOf(signInput(`${h}.${p}A`))).toBe('BADGE_MALFORMED')
  })

  it('accepts a low-S ES256 signature and refuses its high-S twin (r, n − s)', async () => {
    const token = signRaw({ alg: 'ES256', kid: 'ec' }, claims(), ec.privateKey)
    const [h, p, s] = token.split('.') as [string, string, string]
    const sig = Buffer.from(s, 'base64url')
    const low = sOf(sig) <= N / 2n ? sig : withS(sig, N - sOf(sig))
    const high = withS(low, N - sOf(low))
    expect(sOf(high) > N / 2n).toBe(true)
    expect(await codeOf(`${h}.${p}.${low.toString('base64url')}`)).toBe('VALID')
    expect(await codeOf(`${h}.${p}.${high.toString('base64url')}`)).toBe('BADGE_SIGNATURE_INVALID')
  })

  it('issues only low-S ES256 badges, so every badge it signs verifies (64 signatures)', async () => {
    for (let i = 0; i < 64; i++) {
      const b = await issueBadge({
        privateKey: ec.privateKey,
        kid: 'ec',
        iss: 'https://issuer.example.com',
        sub: 'did:web:agent.example.com',
        now: clock,
      })
      const sig = Buffer.from(b.token.split('.')[2]!, 'base64url')
      expect(sOf(sig) <= N / 2n).toBe(true)
      expect(await codeOf(b.token)).toBe('VALID')
    }
  })

  it('never issues a badge its verifier would refuse (a jti with a space, a negative nbf)', async () => {
    const base = { privateKey: issuer.privateKey, sub: 'did:web:agent.example.com', now: clock }
    await expect(issueBadge({ ...base, jti: 'badge 1' })).rejects.toMatchObject({ code: 'USAGE' })
    await expect(issueBadge({ ...base, nbf: -5 })).rejects.toMatchObject({ code: 'USAGE' })
  })

  // iss, sub and jti become X-Capiscio-* header values at the gateway: anything outside printable
  // ASCII would make the HTTP client refuse the header (a 502) or be rewritten on the way.
  it.each([
    ['an https issuer with a non-ASCII character', { iss: 'https://issuer.example.com/é' }],
    ['an https issuer with a non-ASCII host', { iss: 'https://issüer.example.com' }],
    ['an issuer with a line separator', { iss: 'https://issuer.example.com/\u2028' }],
    ['a sub with a non-ASCII character', { sub: 'did:web:agént.example.com' }],
    ['a jti with a non-ASCII character', { jti: 'badge-é' }],
    ['a jti with a newline', { jti: 'badge\r\nX-Capiscio-Trust-Level: 4' }],
    ['a jti with a space', { jti: 'badge 1' }],
    ['a jti with a DEL', { jti: 'badge\u007f' }],
  ])('refuses %s as BADGE_CLAIMS_INVALID', async (_name, override) => {
    expect(await codeOf(signRaw(edHeader, claims(override), issuer.privateKey))).toBe('BADGE_CLAIMS_INVALID')
  })
})

describe('vc.type (DESIGN §6 step 2)', () => {
  const level = { credentialSubject: { level: '1' } }
  it.each([
    ['no vc.type', { vc: level }],
    ['an empty vc.type', { vc: { ...level, type: [] } }],
    ['a vc.type that is a string', { vc: { ...level, type: 'VerifiableCredential' } }],
    ['a vc.type holding an empty name', { vc: { ...level, type: [''] } }],
    ['a vc.type holding a number', { vc: { ...level, type: ['VerifiableCredential', 1] } }],
  ])('refuses %s as BADGE_CLAIMS_INVALID', async (_name, override) => {
    expect(await codeOf(signRaw(edHeader, claims(override), issuer.privateKey))).toBe('BADGE_CLAIMS_INVALID')
  })

  it('does not judge the names it lists', async () => {
    const token = signRaw(
      edHeader,
      claims({ vc: { ...level, type: ['VerifiableCredential'] } }),
      issuer.privateKey,
    )
    expect(await codeOf(token)).toBe('VALID')
  })
})

describe('bounded inputs (issue 7 item 13)', () => {
  const MAX_DATE = 253402300799 // 9999-12-31T23:59:59Z

  it.each([
    ['exp 1e308', { exp: 1e308 }],
    ['exp after year 9999', { exp: MAX_DATE + 1 }],
    ['iat after year 9999', { iat: MAX_DATE + 1, exp: MAX_DATE + 2 }],
    ['nbf 1e308', { nbf: 1e308 }],
    ['a negative nbf', { nbf: -1 }],
  ])('refuses %s as BADGE_CLAIMS_INVALID', async (_name, override) => {
    expect(await codeOf(signRaw(edHeader, claims(override), issuer.privateKey))).toBe('BADGE_CLAIMS_INVALID')
  })

  it('accepts the last second of year 9999 as exp, and fractional NumericDates', async () => {
    const iat = NOW / 1000
    expect(await codeOf(signRaw(edHeader, claims({ exp: MAX_DATE }), issuer.privateKey))).toBe('VALID')
    expect(
      await codeOf(signRaw(edHeader, claims({ iat: iat + 0.5, exp: iat + 60.25 }), issuer.privateKey)),
    ).toBe('VALID')
  })

  const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)
  const token = (payloadJson: string) =>
    signInput(
      `${Buffer.from(JSON.stringify(edHeader)).toString('base64url')}.${Buffer.from(payloadJson).toString('base64url')}`,
    )

  it('refuses a payload nested 5,000 arrays deep as BADGE_MALFORMED, in decode and verify', async () => {
    const deep = token(`{"x":${nested(5000)}}`)
    expect(() => decodeBadge(deep)).toThrow(expect.objectContaining({ code: 'BADGE_MALFORMED' }))
    expect(await codeOf(deep)).toBe('BADGE_MALFORMED')
  })

  it('allows 32 levels of nesting, refuses 33, and counts depth, not brackets (none inside strings)', () => {
    // The payload object itself is level 1.
    expect(decodeBadge(token(`{"x":${nested(31)}}`)).claims.x).toBeDefined()
    expect(() => decodeBadge(token(`{"x":${nested(32)}}`))).toThrow(
      expect.objectContaining({ code: 'BADGE_MALFORMED' }),
    )
    const wide = `[${Array(100).fill('{"a":[]}').join(',')}]`
    expect(decodeBadge(token(`{"x":${wide}}`)).claims.x).toHaveLength(100)
    const brackets = `"${'['.repeat(100)}\\"${'{'.repeat(100)}"`
    expect(decodeBadge(token(`{"x":${brackets}}`)).claims.x).toBe(`${'['.repeat(100)}"${'{'.repeat(100)}`)
  })

  it('refuses a header nested too deep as BADGE_MALFORMED', () => {
    const h = Buffer.from(`{"alg":"EdDSA","x":${nested(100)}}`).toString('base64url')
    const p = Buffer.from(JSON.stringify(claims())).toString('base64url')
    expect(() => decodeBadge(signInput(`${h}.${p}`))).toThrow(
      expect.objectContaining({ code: 'BADGE_MALFORMED' }),
    )
  })
})
