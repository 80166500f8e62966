// Bearer tokens against two independent JWT implementations, both directions, for every algorithm
// the toolkit signs: jose (JavaScript) in process, and PyJWT (Python, on `cryptography`) in a child
// process. Real keys, real signatures; nothing here is checked by our own code on both ends.
import { execFileSync } from 'node:child_process'
import { createPublicKey, type KeyObject } from 'node:crypto'

import { beforeAll, describe, expect, it } from '@jest/globals'
import { importPKCS8, importSPKI, jwtVerify, SignJWT } from 'jose'

import { JWTAuthenticator } from '../../../src/lib/auth/jwt.js'
import { CapiscioError } from '../../../src/lib/errors.js'
import { generateKey } from '../../../src/lib/keys/generate.js'
import { StaticKeySource } from '../../../src/lib/keysource/static.js'
import { mintToken } from '../../../src/lib/token/mint.js'
import { verifyToken, type VerifyTokenOptions } from '../../../src/lib/token/verify.js'
import { pythonWith } from '../../helpers/python.js'

const ALGS = ['HS256', 'RS256', 'ES256', 'EdDSA'] as const
type Alg = (typeof ALGS)[number]
const SECRET = 'interop-secret-of-at-least-thirty-two-bytes!'
const AUD = 'https://agent.example.com'
const ISS = 'https://idp.example.com'

interface Material {
  alg: Alg
  kid: string
  privateKey?: KeyObject
  publicKey?: KeyObject
  privatePem?: string
  publicPem?: string
}

const material = {} as Record<Alg, Material>

beforeAll(async () => {
  material.HS256 = { alg: 'HS256', kid: 'shared-1' }
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    const key = await generateKey(alg)
    const publicKey = createPublicKey(key.privateKey)
    material[alg] = {
      alg,
      kid: key.kid,
      privateKey: key.privateKey,
      publicKey,
      privatePem: key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    }
  }
}, 30_000)

function mintFor(m: Material, extra: Record<string, unknown> = {}): string {
  const signer = m.alg === 'HS256' ? { secret: SECRET } : { privateKey: m.privateKey!, kid: m.kid }
  return mintToken({
    ...signer,
    sub: `svc-${m.alg}`,
    type: 'service',
    roles: ['reader', 'writer'],
    aud: AUD,
    iss: ISS,
    claims: { tenant: 'acme', ...extra },
  }).token
}

function verifyOptions(m: Material): VerifyTokenOptions {
  return m.alg === 'HS256'
    ? { secret: SECRET }
    : { keys: new StaticKeySource([{ publicKey: m.publicKey!, kid: m.kid }]) }
}

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n

/** The S of an ES256 token's signature (IEEE P1363: r ‖ s, 32 bytes each). */
function sOf(token: string): bigint {
  const sig = Buffer.from(token.split('.')[2]!, 'base64url')
  expect(sig).toHaveLength(64)
  return BigInt('0x' + sig.subarray(32).toString('hex'))
}

/** The same ES256 token with the other valid signature (r, n − s): its S-twin. */
function sTwin(token: string): string {
  const [h, p, s] = token.split('.')
  const sig = Buffer.from(s!, 'base64url')
  const twinS = P256_N - BigInt('0x' + sig.subarray(32).toString('hex'))
  const twin = Buffer.concat([sig.subarray(0, 32), Buffer.from(twinS.toString(16).padStart(64, '0'), 'hex')])
  return `${h}.${p}.${twin.toString('base64url')}`
}

/** Runs a Python script under PyJWT with a JSON input on stdin; returns its JSON output. */
function python(script: string, input: unknown): unknown {
  const out = execFileSync(pythonWith('jwt', 'cryptography'), ['-c', script], {
    input: JSON.stringify(input),
    encoding: 'utf8',
  })
  return JSON.parse(out)
}

describe('bearer tokens: our mint → jose and jose → our verify', () => {
  it.each(ALGS)('%s: a token we mint verifies under jose with its claims', async (alg) => {
    const m = material[alg]
    const key = alg === 'HS256' ? new TextEncoder().encode(SECRET) : m.publicKey!
    const { payload, protectedHeader } = await jwtVerify(mintFor(m), key, {
      algorithms: [alg],
      audience: AUD,
      issuer: ISS,
    })
    expect(protectedHeader.alg).toBe(alg)
    expect(payload).toMatchObject({
      sub: `svc-${alg}`,
      type: 'service',
      roles: ['reader', 'writer'],
      tenant: 'acme',
      aud: AUD,
    })
  })

  it.each(ALGS)('%s: a token jose signs verifies under verifyToken with its claims', async (alg) => {
    const m = material[alg]
    const key = alg === 'HS256' ? new TextEncoder().encode(SECRET) : await importPKCS8(m.privatePem!, alg)
    const token = await new SignJWT({ type: 'user', roles: ['admin'], team: 'core' })
      .setProtectedHeader({ alg, kid: m.kid })
      .setSubject('jose-user')
      .setIssuer(ISS)
      .setAudience([AUD, 'https://other.example.com'])
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(key)
    const verified = await verifyToken(token, { ...verifyOptions(m), audience: AUD, issuer: ISS })
    expect(verified.alg).toBe(alg)
    expect(verified.header).toMatchObject({ alg, kid: m.kid })
    // The kid of the key that verified it: a key source's keys only, never a secret's.
    expect(verified.kid).toBe(alg === 'HS256' ? undefined : m.kid)
    expect(verified.claims).toMatchObject({
      sub: 'jose-user',
      type: 'user',
      roles: ['admin'],
      team: 'core',
      iss: ISS,
      aud: [AUD, 'https://other.example.com'],
    })
  })

  it('a jose token becomes the right Identity through JWTAuthenticator', async () => {
    const m = material.ES256
    const token = await new SignJWT({ type: 'service', roles: ['ops', 7, true] })
      .setProtectedHeader({ alg: 'ES256', kid: m.kid })
      .setSubject('billing')
      .setExpirationTime('5m')
      .sign(await importPKCS8(m.privatePem!, 'ES256'))
    const auth = new JWTAuthenticator({
      keys: new StaticKeySource([{ publicKey: m.publicKey!, kid: m.kid }]),
    })
    expect(await auth.authenticate({ authorization: `Bearer ${token}` })).toEqual({
      id: 'billing',
      type: 'service',
      roles: ['ops', '7', 'true'],
      attrs: {},
    })
  })

  it('jose tokens we must refuse: another audience, an RS256 token offered to a secret', async () => {
    const m = material.RS256
    const rs = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: m.kid })
      .setSubject('x')
      .setAudience('https://elsewhere.example.com')
      .setExpirationTime('5m')
      .sign(await importPKCS8(m.privatePem!, 'RS256'))
    await expect(verifyToken(rs, { ...verifyOptions(m), audience: AUD })).rejects.toMatchObject({
      code: 'TOKEN_AUDIENCE_MISMATCH',
    })
    await expect(verifyToken(rs, { secret: SECRET })).rejects.toMatchObject({ code: 'TOKEN_MALFORMED' })
    // jose's verifier holds the same line against the public key as an HMAC secret.
    await expect(
      jwtVerify(rs, await importSPKI(m.publicPem!, 'RS256'), { algorithms: ['HS256'] }),
    ).rejects.toThrow()
  })

  it('a high-S twin of an ES256 signature still verifies as a token (JWT signers emit both forms)', async () => {
    const m = material.ES256
    // We mint low S (ECDSA alone gives high S half the time: 16 tokens all low by chance is 2^-16);
    // the twin is the high-S form another signer could as well have produced.
    const minted = Array.from({ length: 16 }, () => mintFor(m))
    expect(minted.filter((t) => sOf(t) > P256_N / 2n)).toEqual([])
    const token = minted[0]!
    const highS = sTwin(token)
    expect(sOf(highS) > P256_N / 2n).toBe(true)
    expect(highS.slice(0, highS.lastIndexOf('.'))).toBe(token.slice(0, token.lastIndexOf('.')))
    await expect(verifyToken(highS, { ...verifyOptions(m), audience: AUD })).resolves.toMatchObject({
      alg: 'ES256',
      kid: m.kid,
      claims: { sub: 'svc-ES256' },
    })
    // jose takes it too: both forms are valid ECDSA signatures.
    await expect(jwtVerify(highS, m.publicKey!, { algorithms: ['ES256'] })).resolves.toBeDefined()
    // The twin is a real signature, not anything with the right length: another r fails.
    const sig = Buffer.from(highS.split('.')[2]!, 'base64url')
    sig[0] = sig[0]! ^ 1
    const badR = `${highS.slice(0, highS.lastIndexOf('.'))}.${sig.toString('base64url')}`
    await expect(verifyToken(badR, verifyOptions(m))).rejects.toMatchObject({
      code: 'TOKEN_SIGNATURE_INVALID',
    })
  })
})

const PY_VERIFY = `
import json, sys, jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
out = {}
for case in json.load(sys.stdin):
    key = case['secret'] if case['alg'] == 'HS256' else load_pem_public_key(case['key'].encode())
    try:
        claims = jwt.decode(case['token'], key, algorithms=[case['alg']], audience=case['aud'], issuer=case['iss'])
        out[case['alg']] = {'ok': True, 'claims': claims, 'header': jwt.get_unverified_header(case['token'])}
    except Exception as e:
        out[case['alg']] = {'ok': False, 'error': type(e).__name__ + ': ' + str(e)}
print(json.dumps(out))
`

const PY_SIGN = `
import json, sys, time, jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key
out = {}
now = int(time.time())
for case in json.load(sys.stdin):
    key = case['secret'] if case['alg'] == 'HS256' else load_pem_private_key(case['key'].encode(), password=None)
    payload = {'sub': 'py-' + case['alg'], 'type': 'user', 'roles': ['admin'], 'iss': case['iss'], 'aud': case['aud'],
               'iat': now, 'exp': now + 600, 'tier': 'gold'}
    headers = {'kid': case['kid']} if case.get('kid') else None
    out[case['alg']] = jwt.encode(payload, key, algorithm=case['alg'], headers=headers)
print(json.dumps(out))
`

describe('bearer tokens: our mint → PyJWT and PyJWT → our verify', () => {
  it('every token we mint (HS256, RS256, ES256, EdDSA) verifies under PyJWT with its claims', () => {
    const cases = ALGS.map((alg) => ({
      alg,
      token: mintFor(material[alg]),
      secret: SECRET,
      key: material[alg].publicPem,
      aud: AUD,
      iss: ISS,
    }))
    const out = python(PY_VERIFY, cases) as Record<
      Alg,
      { ok: boolean; error?: string; claims: Record<string, unknown>; header: Record<string, unknown> }
    >
    for (const alg of ALGS) {
      expect({ alg, ...out[alg] }).toMatchObject({ alg, ok: true })
      expect(out[alg].claims).toMatchObject({
        sub: `svc-${alg}`,
        type: 'service',
        roles: ['reader', 'writer'],
        tenant: 'acme',
        aud: AUD,
        iss: ISS,
      })
      expect(out[alg].header).toEqual(
        alg === 'HS256' ? { alg, typ: 'JWT' } : { alg, typ: 'JWT', kid: material[alg].kid },
      )
    }
  })

  it('every token PyJWT signs verifies under verifyToken and JWTAuthenticator', async () => {
    const cases = ALGS.map((alg) => ({
      alg,
      secret: SECRET,
      key: material[alg].privatePem,
      kid: alg === 'HS256' ? undefined : material[alg].kid,
      aud: AUD,
      iss: ISS,
    }))
    const tokens = python(PY_SIGN, cases) as Record<Alg, string>
    for (const alg of ALGS) {
      const m = material[alg]
      const { claims, alg: verifiedAlg } = await verifyToken(tokens[alg], {
        ...verifyOptions(m),
        audience: AUD,
        issuer: ISS,
      })
      expect(verifiedAlg).toBe(alg)
      expect(claims).toMatchObject({ sub: `py-${alg}`, type: 'user', roles: ['admin'], tier: 'gold' })
      const auth = new JWTAuthenticator({
        ...verifyOptions(m),
        audience: AUD,
        issuer: ISS,
        claimMapping: { attrsClaims: ['tier'] },
      })
      expect(await auth.authenticate({ authorization: `Bearer ${tokens[alg]}` })).toEqual({
        id: `py-${alg}`,
        type: 'user',
        roles: ['admin'],
        attrs: { tier: 'gold' },
      })
    }
    // PyJWT's ECDSA signs high or low S at random: its token and the S-twin of its token, one of
    // them high S, both verify (bearer tokens take either form; badges would refuse the high one).
    const twin = sTwin(tokens.ES256)
    expect([sOf(tokens.ES256), sOf(twin)].filter((s) => s > P256_N / 2n)).toHaveLength(1)
    await expect(
      verifyToken(twin, { ...verifyOptions(material.ES256), audience: AUD, issuer: ISS }),
    ).resolves.toMatchObject({ alg: 'ES256', claims: { sub: 'py-ES256' } })
  })

  it('PyJWT tokens we must refuse: another secret, and a token PyJWT signs with alg none', async () => {
    const out = python(
      `
import json, sys, jwt
case = json.load(sys.stdin)
print(json.dumps({'wrong': jwt.encode({'sub': 'x'}, case['other'], algorithm='HS256'),
                  'none': jwt.encode({'sub': 'x'}, None, algorithm='none')}))
`,
      { other: 'a-different-secret-that-is-also-32-bytes-long' },
    ) as { wrong: string; none: string }
    const refusal = (t: string) =>
      verifyToken(t, { secret: SECRET }).then(
        () => 'accepted',
        (e: unknown) => (e instanceof CapiscioError ? e.code : String(e)),
      )
    expect(await refusal(out.wrong)).toBe('TOKEN_SIGNATURE_INVALID')
    expect(await refusal(out.none)).toBe('TOKEN_MALFORMED')
  })
})
