import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from '@jest/globals'

import { issueBadge } from '../../../src/lib/badge/issue.js'
import { verifyBadge, type VerifyBadgeOptions } from '../../../src/lib/badge/verify.js'
import { CapiscioError } from '../../../src/lib/errors.js'
import { StaticKeySource } from '../../../src/lib/keysource/static.js'
import { TrustStoreKeySource } from '../../../src/lib/keysource/truststore.js'
import type { KeyQuery, KeySource } from '../../../src/lib/keysource/types.js'
import { TrustStore } from '../../../src/lib/store/truststore.js'
import { claims, clock, edKey, NOW, signHmac, signRaw, unsigned } from '../../helpers/badges.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'
import { keyPair } from '../../helpers/keypair.js'

afterAll(cleanupTmp)

const issuer = edKey()
const keys = new StaticKeySource([{ publicKey: issuer.publicKey, kid: 'issuer-1' }])
const header = { alg: 'EdDSA', typ: 'JWT', kid: 'issuer-1' }
const base: VerifyBadgeOptions = { keys, now: clock }

async function codeOf(token: string, options: VerifyBadgeOptions = base): Promise<string> {
  try {
    await verifyBadge(token, options)
  } catch (err) {
    expect(err).toBeInstanceOf(CapiscioError)
    return (err as CapiscioError).code
  }
  return 'VALID'
}

describe('verifyBadge accepts', () => {
  it('a valid EdDSA badge and returns {valid, claims, header, kid, trustLevel, warnings}', async () => {
    const token = signRaw(header, claims(), issuer.privateKey)
    const r = await verifyBadge(token, base)
    expect(r).toMatchObject({ valid: true, kid: 'issuer-1', trustLevel: '1', selfSigned: false, header })
    expect(r.claims.sub).toBe('did:capiscio:agent:client')
    expect(r.warnings).toEqual([])
  })

  it('the signing key, which stays out of the result’s keys, its JSON and a spread of it', async () => {
    const r = await verifyBadge(signRaw(header, claims(), issuer.privateKey), base)
    expect(r.signingKey.equals(issuer.publicKey)).toBe(true)
    expect(Object.keys(r)).toEqual([
      'valid',
      'claims',
      'header',
      'trustLevel',
      'selfSigned',
      'warnings',
      'kid',
    ])
    expect(JSON.parse(JSON.stringify(r))).not.toHaveProperty('signingKey')
    expect({ ...r }).not.toHaveProperty('signingKey')
  })

  it('a valid ES256 badge', async () => {
    const ec = keyPair('ec', { namedCurve: 'P-256' })
    const token = signRaw({ alg: 'ES256', kid: 'ec' }, claims(), ec.privateKey)
    const r = await verifyBadge(token, {
      keys: new StaticKeySource([{ publicKey: ec.publicKey, kid: 'ec' }]),
      now: clock,
    })
    expect(r.valid).toBe(true)
  })

  it('a Go-core-shaped badge (header {alg} only, ial "") from a did:key issuer with acceptSelfSigned', async () => {
    const agent = edKey()
    const payload = claims({
      iss: agent.did,
      sub: agent.did,
      ial: '',
      vc: { type: ['VerifiableCredential', 'AgentIdentity'], credentialSubject: { level: '0' } },
    })
    const token = signRaw({ alg: 'EdDSA' }, payload, agent.privateKey)
    const r = await verifyBadge(token, { acceptSelfSigned: true, now: clock })
    expect(r).toMatchObject({ valid: true, selfSigned: true, trustLevel: '0', kid: agent.did })
    expect(r.warnings.join(' ')).toMatch(/no kid/)
    expect(await codeOf(token, { now: clock })).toBe('BADGE_ISSUER_UNTRUSTED')
  })

  it('within the clock skew on either side', async () => {
    const iat = NOW / 1000
    expect(await codeOf(signRaw(header, claims({ iat: iat - 400, exp: iat - 30 }), issuer.privateKey))).toBe(
      'VALID',
    )
    expect(await codeOf(signRaw(header, claims({ iat: iat + 30 }), issuer.privateKey))).toBe('VALID')
    expect(
      await codeOf(signRaw(header, claims({ iat: iat - 400, exp: iat - 30 }), issuer.privateKey), {
        ...base,
        clockSkewSeconds: 0,
      }),
    ).toBe('BADGE_EXPIRED')
  })

  it('a badge without aud when the verifier has an audience, with a warning (RFC-002 §8.3)', async () => {
    const r = await verifyBadge(signRaw(header, claims(), issuer.privateKey), {
      ...base,
      audience: 'https://api.example.com',
    })
    expect(r.warnings.join(' ')).toMatch(/no aud/)
  })
})

describe('verifyBadge refuses, in the documented order (docs/architecture.md §5), with the right code', () => {
  const good = claims()

  it.each([
    ['alg none', () => unsigned({ alg: 'none' }, good), 'BADGE_MALFORMED'],
    ['alg none with a signature', () => unsigned({ alg: 'none' }, good) + 'AAAA', 'BADGE_MALFORMED'],
    [
      'HS256 with the public key as the HMAC secret',
      () =>
        signHmac(
          { alg: 'HS256', kid: 'issuer-1' },
          good,
          issuer.publicKey.export({ type: 'spki', format: 'pem' }) as string,
        ),
      'BADGE_MALFORMED',
    ],
    ['RS256', () => signRaw({ alg: 'RS256', kid: 'issuer-1' }, good, issuer.privateKey), 'BADGE_MALFORMED'],
    [
      'a crit header',
      () => signRaw({ ...header, crit: ['exp'] }, good, issuer.privateKey),
      'BADGE_MALFORMED',
    ],
    ['two parts', () => 'abc.def', 'BADGE_MALFORMED'],
    ['four parts', () => 'a.b.c.d', 'BADGE_MALFORMED'],
    ['a 17 KiB token', () => 'a'.repeat(17 * 1024), 'BADGE_MALFORMED'],
    ['a 10 MB token', () => 'a.' + 'b'.repeat(10 * 1024 * 1024) + '.c', 'BADGE_MALFORMED'],
    ['a non-JSON header', () => 'bm90IGpzb24.e30.AAAA', 'BADGE_MALFORMED'],
    [
      'a JSON array payload',
      () => signRaw(header, [] as unknown as Record<string, unknown>, issuer.privateKey),
      'BADGE_MALFORMED',
    ],
    [
      'a string aud',
      () => signRaw(header, claims({ aud: 'https://api.example.com' }), issuer.privateKey),
      'BADGE_CLAIMS_INVALID',
    ],
    [
      'a missing jti',
      () => signRaw(header, claims({ jti: undefined }), issuer.privateKey),
      'BADGE_CLAIMS_INVALID',
    ],
    [
      'a sub that is not a DID',
      () => signRaw(header, claims({ sub: 'agent-1' }), issuer.privateKey),
      'BADGE_CLAIMS_INVALID',
    ],
    [
      'a numeric level',
      () =>
        signRaw(
          header,
          claims({
            vc: { type: ['VerifiableCredential', 'AgentIdentity'], credentialSubject: { level: 1 } },
          }),
          issuer.privateKey,
        ),
      'BADGE_CLAIMS_INVALID',
    ],
    [
      'level "5"',
      () =>
        signRaw(
          header,
          claims({
            vc: { type: ['VerifiableCredential', 'AgentIdentity'], credentialSubject: { level: '5' } },
          }),
          issuer.privateKey,
        ),
      'BADGE_CLAIMS_INVALID',
    ],
    [
      'a string exp',
      () => signRaw(header, claims({ exp: '1800000300' }), issuer.privateKey),
      'BADGE_CLAIMS_INVALID',
    ],
    [
      'a kid the --key file lacks (no key is tried for it)',
      () => signRaw({ alg: 'EdDSA', kid: 'other' }, good, edKey().privateKey),
      'BADGE_ISSUER_UNTRUSTED',
    ],
    [
      'an expired exp',
      () => signRaw(header, claims({ iat: NOW / 1000 - 1000, exp: NOW / 1000 - 61 }), issuer.privateKey),
      'BADGE_EXPIRED',
    ],
    [
      'a future iat',
      () => signRaw(header, claims({ iat: NOW / 1000 + 120, exp: NOW / 1000 + 400 }), issuer.privateKey),
      'BADGE_NOT_YET_VALID',
    ],
    [
      'a future nbf',
      () => signRaw(header, claims({ nbf: NOW / 1000 + 120 }), issuer.privateKey),
      'BADGE_NOT_YET_VALID',
    ],
  ])('%s', async (_name, make, code) => {
    expect(await codeOf(make())).toBe(code)
  })

  it('a tampered payload (signature no longer matches)', async () => {
    const token = signRaw(header, claims(), issuer.privateKey)
    const [h, , s] = token.split('.')
    const forged = Buffer.from(JSON.stringify(claims({ sub: 'did:capiscio:agent:admin' }))).toString(
      'base64url',
    )
    expect(await codeOf(`${h}.${forged}.${s}`)).toBe('BADGE_SIGNATURE_INVALID')
  })

  it('a badge signed by an untrusted key (no trusted key at all)', async () => {
    const token = signRaw({ alg: 'EdDSA', kid: 'x' }, claims(), edKey().privateKey)
    expect(await codeOf(token, { now: clock })).toBe('BADGE_ISSUER_UNTRUSTED')
  })

  it('an issuer off the allow-list, before the key source is asked', async () => {
    let asked = 0
    const counting: KeySource = { kind: 'counting', find: async (q: KeyQuery) => (asked++, keys.find(q)) }
    const token = signRaw(header, claims(), issuer.privateKey)
    expect(
      await codeOf(token, { keys: counting, now: clock, issuers: ['https://registry.example.com'] }),
    ).toBe('BADGE_ISSUER_UNTRUSTED')
    expect(asked).toBe(0)
    expect(await codeOf(token, { keys: counting, now: clock, issuers: ['did:web:issuer.example.com'] })).toBe(
      'VALID',
    )
    expect(asked).toBe(1)
  })

  it('an aud that does not list the verifier', async () => {
    const token = signRaw(header, claims({ aud: ['https://other.example.com'] }), issuer.privateKey)
    expect(await codeOf(token, { ...base, audience: 'https://api.example.com' })).toBe(
      'BADGE_AUDIENCE_MISMATCH',
    )
    expect(await codeOf(token, { ...base, audience: 'https://other.example.com' })).toBe('VALID')
  })

  it('a badge older than maxAge', async () => {
    const token = signRaw(header, claims({ iat: NOW / 1000 - 600, exp: NOW / 1000 + 60 }), issuer.privateKey)
    expect(await codeOf(token, { ...base, maxAgeSeconds: 300 })).toBe('BADGE_EXPIRED')
  })

  it('a revoked jti', async () => {
    const token = signRaw(header, claims({ jti: 'revoked-1' }), issuer.privateKey)
    expect(await codeOf(token, { ...base, isRevoked: (jti) => jti === 'revoked-1' })).toBe('BADGE_REVOKED')
  })

  describe('self-signed rules', () => {
    const agent = edKey()
    it('a self-signed badge with a level above 0', async () => {
      const token = signRaw(
        { alg: 'EdDSA', kid: agent.did },
        claims({ iss: agent.did, sub: agent.did }),
        agent.privateKey,
      )
      expect(await codeOf(token, { acceptSelfSigned: true, now: clock })).toBe('BADGE_CLAIMS_INVALID')
    })
    it('a did:key issuer whose badge is signed by another key', async () => {
      const other = edKey()
      const token = signRaw(
        { alg: 'EdDSA' },
        claims({
          iss: agent.did,
          sub: agent.did,
          vc: { type: ['VerifiableCredential', 'AgentIdentity'], credentialSubject: { level: '0' } },
        }),
        other.privateKey,
      )
      expect(await codeOf(token, { acceptSelfSigned: true, now: clock })).toBe('BADGE_SIGNATURE_INVALID')
    })
    it('a did:key issuer vouching for another subject via did:key resolution', async () => {
      const token = signRaw(
        { alg: 'EdDSA' },
        claims({
          iss: agent.did,
          vc: { type: ['VerifiableCredential', 'AgentIdentity'], credentialSubject: { level: '0' } },
        }),
        agent.privateKey,
      )
      expect(await codeOf(token, { acceptSelfSigned: true, now: clock })).toBe('BADGE_CLAIMS_INVALID')
    })
  })
})

describe('verifyBadge with the trust store', () => {
  it('finds keys by kid, by issuers.json, and by a did:key issuer stored as a kid; honours revoked.json', async () => {
    const dir = tmpDir()
    const store = new TrustStore(dir)
    const ca = edKey()
    const partner = edKey()
    await store.add(ca.publicKey, 'ca-2026', { issuers: ['https://registry.example.com'] })
    await store.add(partner.publicKey, partner.did)
    const source = new TrustStoreKeySource(store, { now: clock, cacheMs: 0 })
    const opts = { keys: source, now: clock }

    const byKid = signRaw(
      { alg: 'EdDSA', kid: 'ca-2026' },
      claims({ iss: 'https://registry.example.com' }),
      ca.privateKey,
    )
    expect((await verifyBadge(byKid, opts)).kid).toBe('ca-2026')
    const byIssuer = signRaw(
      { alg: 'EdDSA' },
      claims({ iss: 'https://registry.example.com', jti: 'j-2' }),
      ca.privateKey,
    )
    expect((await verifyBadge(byIssuer, opts)).kid).toBe('ca-2026')
    const goShape = signRaw({ alg: 'EdDSA' }, claims({ iss: partner.did, ial: '' }), partner.privateKey)
    expect((await verifyBadge(goShape, opts)).kid).toBe(partner.did)

    writeFileSync(join(dir, 'revoked.json'), JSON.stringify(['j-2']))
    expect(await codeOf(byIssuer, opts)).toBe('BADGE_REVOKED')
  })

  it('refuses a trusted key speaking for an issuer it is not mapped to', async () => {
    const store = new TrustStore(tmpDir())
    const ca = edKey()
    await store.add(ca.publicKey, 'ca-2026', { issuers: ['https://registry.example.com'] })
    const token = signRaw(
      { alg: 'EdDSA', kid: 'ca-2026' },
      claims({ iss: 'https://other-registry.example.com' }),
      ca.privateKey,
    )
    expect(await codeOf(token, { keys: new TrustStoreKeySource(store), now: clock })).toBe(
      'BADGE_ISSUER_UNTRUSTED',
    )
  })

  it('refuses a trusted did:key signing a badge whose iss is a different did:key', async () => {
    const store = new TrustStore(tmpDir())
    const a = edKey()
    const b = edKey()
    await store.add(a.publicKey, a.did)
    const token = signRaw({ alg: 'EdDSA', kid: a.did }, claims({ iss: b.did }), a.privateKey)
    expect(await codeOf(token, { keys: new TrustStoreKeySource(store), now: clock })).toBe(
      'BADGE_ISSUER_UNTRUSTED',
    )
  })

  it('treats a path-traversal kid as simply unknown', async () => {
    const store = new TrustStore(tmpDir())
    const token = signRaw({ alg: 'EdDSA', kid: '../../../etc/passwd' }, claims(), edKey().privateKey)
    expect(await codeOf(token, { keys: new TrustStoreKeySource(store), now: clock })).toBe(
      'BADGE_ISSUER_UNTRUSTED',
    )
  })
})

describe('issueBadge → verifyBadge', () => {
  it('issues badges that verify, with a fresh jti each time', async () => {
    const a = await issueBadge({
      privateKey: issuer.privateKey,
      kid: 'issuer-1',
      sub: 'did:web:agent.example.com',
      iss: 'did:web:issuer.example.com',
      now: clock,
    })
    const b = await issueBadge({
      privateKey: issuer.privateKey,
      kid: 'issuer-1',
      sub: 'did:web:agent.example.com',
      iss: 'did:web:issuer.example.com',
      now: clock,
    })
    expect(a.claims.jti).not.toBe(b.claims.jti)
    expect(a.claims.jti).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect((await verifyBadge(a.token, base)).claims.jti).toBe(a.claims.jti)
  })

  it('issues self-signed badges that verify with acceptSelfSigned', async () => {
    const agent = edKey()
    const b = await issueBadge({ privateKey: agent.privateKey, selfSigned: true, now: clock })
    expect(b.claims).toMatchObject({
      iss: agent.did,
      sub: agent.did,
      vc: { type: ['VerifiableCredential', 'AgentIdentity'], credentialSubject: { level: '0' } },
    })
    expect(b.claims.key).toMatchObject({ kty: 'OKP', crv: 'Ed25519' })
    expect((await verifyBadge(b.token, { acceptSelfSigned: true, now: clock })).selfSigned).toBe(true)
  })
})
