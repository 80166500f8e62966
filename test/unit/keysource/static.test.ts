import { createPublicKey, generateKeyPairSync } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from '@jest/globals'

import { MAX_KIDLESS_KEYS, verifyBadge } from '../../../src/lib/badge/verify.js'
import { createBadgeVerifier } from '../../../src/lib/gateway/badge-verifier.js'
import { publicJwkOf } from '../../../src/lib/keys/key.js'
import { keySourceFrom } from '../../../src/lib/keysource/index.js'
import { StaticKeySource } from '../../../src/lib/keysource/static.js'
import { TrustStoreKeySource } from '../../../src/lib/keysource/truststore.js'
import type { CandidateKey, KeyQuery, KeySource } from '../../../src/lib/keysource/types.js'
import { addTrustedKeys } from '../../../src/lib/store/trust-add.js'
import { TrustStore } from '../../../src/lib/store/truststore.js'
import { claims, clock, edKey, NOW, signRaw } from '../../helpers/badges.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'

afterAll(cleanupTmp)

/** Counts the candidate keys a source hands the verifier: each is one signature check at most. */
function counting(source: KeySource): { source: KeySource; tried: () => number } {
  let tried = 0
  return {
    source: {
      kind: source.kind,
      async find(q: KeyQuery): Promise<CandidateKey[]> {
        const found = await source.find(q)
        tried += found.length
        return found
      },
    },
    tried: () => tried,
  }
}

describe('StaticKeySource: the cost of junk kids', () => {
  it('refuses an unknown kid against a 100-key JWKS file without trying any key', async () => {
    const keys = Array.from({ length: 100 }, () => edKey())
    const file = join(tmpDir(), 'jwks.json')
    writeFileSync(file, JSON.stringify({ keys: keys.map((k, i) => publicJwkOf(k.publicKey, `k${i}`)) }))
    const { source, tried } = counting((await keySourceFrom({ key: file }))!)
    const junk = signRaw({ alg: 'EdDSA', kid: 'nobody' }, claims(), edKey().privateKey)
    await expect(verifyBadge(junk, { keys: source, now: clock })).rejects.toMatchObject({
      code: 'BADGE_ISSUER_UNTRUSTED',
    })
    expect(tried()).toBe(0)
    // A known kid is one key.
    const good = signRaw({ alg: 'EdDSA', kid: 'k42' }, claims(), keys[42]!.privateKey)
    expect((await verifyBadge(good, { keys: source, now: clock })).kid).toBe('k42')
    expect(tried()).toBe(1)
  })

  it('refuses a kid-less token against more keys than MAX_KIDLESS_KEYS without trying any', async () => {
    const keys = Array.from({ length: 100 }, () => edKey())
    const file = join(tmpDir(), 'jwks.json')
    writeFileSync(file, JSON.stringify({ keys: keys.map((k, i) => publicJwkOf(k.publicKey, `k${i}`)) }))
    const source = (await keySourceFrom({ key: file }))!
    const junk = signRaw({ alg: 'EdDSA' }, claims(), edKey().privateKey)
    // Refused at the key step (4), so the signature step (5) never runs: no key is tried.
    await expect(verifyBadge(junk, { keys: source, now: clock })).rejects.toMatchObject({
      code: 'BADGE_ISSUER_UNTRUSTED',
      message: expect.stringContaining('the badge has no kid and 100 trusted keys'),
    })
  })

  it('still finds a kid-less token (the Go core shape) among a few keys', async () => {
    const keys = Array.from({ length: MAX_KIDLESS_KEYS }, () => edKey())
    const file = join(tmpDir(), 'jwks.json')
    writeFileSync(file, JSON.stringify({ keys: keys.map((k, i) => publicJwkOf(k.publicKey, `k${i}`)) }))
    const source = (await keySourceFrom({ key: file }))!
    const goShape = signRaw({ alg: 'EdDSA' }, claims(), keys[MAX_KIDLESS_KEYS - 1]!.privateKey)
    expect((await verifyBadge(goShape, { keys: source, now: clock })).kid).toBe(`k${MAX_KIDLESS_KEYS - 1}`)
  })

  it('hands out only the keys of the asked algorithm, the same on every call, and copies a caller may change', () => {
    const ed = edKey()
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const source = new StaticKeySource([
      { publicKey: ed.publicKey, kid: 'ed' },
      { publicKey: p256.publicKey, kid: 'p256' },
      { publicKey: createPublicKey(ed.privateKey) },
    ])
    const kids = (q: KeyQuery) => source.findSync(q).map((c) => c.kid ?? '(none)')
    expect(kids({ iss: 'x', alg: 'EdDSA' })).toEqual(['ed', '(none)'])
    expect(kids({ iss: 'x', alg: 'ES256' })).toEqual(['p256'])
    expect(kids({ iss: 'x', alg: 'RS256' })).toEqual([])
    // An unknown kid may try only the key without a kid of its own, and only for its algorithm.
    expect(kids({ iss: 'x', alg: 'EdDSA', kid: 'nobody' })).toEqual(['(none)'])
    expect(kids({ iss: 'x', alg: 'ES256', kid: 'nobody' })).toEqual([])
    // A caller emptying what it was given does not empty the source.
    source.findSync({ iss: 'x', alg: 'EdDSA' }).length = 0
    expect(kids({ iss: 'x', alg: 'EdDSA' })).toEqual(['ed', '(none)'])
  })

  it('still tries a key without a kid of its own (a PEM) for any kid', async () => {
    const key = edKey()
    const file = join(tmpDir(), 'public.pem')
    writeFileSync(file, key.publicKey.export({ type: 'spki', format: 'pem' }))
    const source = (await keySourceFrom({ key: file }))!
    const token = signRaw({ alg: 'EdDSA', kid: 'whatever-the-issuer-calls-it' }, claims(), key.privateKey)
    expect((await verifyBadge(token, { keys: source, now: clock })).valid).toBe(true)
  })
})

describe('TrustStoreKeySource: bindings fail closed', () => {
  it('lets an unbound key sign only as its own did:key or kid, never as a name bound to another key', async () => {
    const store = new TrustStore(tmpDir())
    const a = edKey()
    const partner = edKey()
    const named = edKey()
    await addTrustedKeys(store, JSON.stringify(publicJwkOf(a.publicKey, 'a-1')), {
      issuers: ['https://a.example.com'],
    })
    await addTrustedKeys(store, JSON.stringify(publicJwkOf(partner.publicKey, partner.did)))
    // A key whose kid is issuer A's name: the kid is no identity while A is bound to another key.
    await addTrustedKeys(store, JSON.stringify(publicJwkOf(named.publicKey, 'https://a.example.com')))
    await addTrustedKeys(store, JSON.stringify(publicJwkOf(edKey().publicKey, 'did:web:b.example.com')))
    const source = new TrustStoreKeySource(store)
    // The keys that may sign for the issuer: those found whose binding names it (verifyBadge's rule).
    const kids = async (q: { kid?: string; iss: string }) =>
      (await source.find({ alg: 'EdDSA', ...q })).filter((c) => c.issuers?.includes(q.iss)).map((c) => c.kid)
    expect(await kids({ iss: 'https://a.example.com' })).toEqual(['a-1'])
    expect(await kids({ kid: 'https://a.example.com', iss: 'https://a.example.com' })).toEqual([])
    expect(await kids({ kid: partner.did, iss: 'https://a.example.com' })).toEqual([])
    expect(await kids({ kid: partner.did, iss: partner.did })).toEqual([partner.did])
    expect(await kids({ iss: partner.did })).toEqual([partner.did])
    expect(await kids({ kid: 'did:web:b.example.com', iss: 'did:web:b.example.com' })).toEqual([
      'did:web:b.example.com',
    ])
    expect(await kids({ kid: 'a-1', iss: 'did:web:b.example.com' })).toEqual([])
  })
})

describe('verifyBadge says why a trusted key is refused', () => {
  it('names the binding, not a missing key, when a trusted key signs for an issuer it is not bound to', async () => {
    const store = new TrustStore(tmpDir())
    const partner = edKey()
    await addTrustedKeys(store, JSON.stringify(publicJwkOf(partner.publicKey, partner.did)))
    const keys = new TrustStoreKeySource(store)
    const forged = signRaw(
      { alg: 'EdDSA', kid: partner.did },
      claims({ iss: 'https://a.example.com' }),
      partner.privateKey,
    )
    await expect(verifyBadge(forged, { keys, now: clock })).rejects.toMatchObject({
      code: 'BADGE_ISSUER_UNTRUSTED',
      message: `the trusted key for kid "${partner.did}" may not sign for issuer "https://a.example.com" at level 1`,
      hint: expect.stringContaining('add the key again with issuers "https://a.example.com"'),
      options: ['issuers', 'maxLevel'],
    })
    const unknown = signRaw({ alg: 'EdDSA', kid: 'nobody' }, claims(), partner.privateKey)
    await expect(verifyBadge(unknown, { keys, now: clock })).rejects.toMatchObject({
      message: 'no trusted key for kid nobody',
    })
  })
})

describe('trust add --max-level', () => {
  it('refuses a badge above the level a key may vouch for, stored in the key, also on a cache hit', async () => {
    const dir = tmpDir()
    const store = new TrustStore(dir)
    const partner = edKey()
    const jwk = JSON.stringify(publicJwkOf(partner.publicKey, 'p-1'))
    const iss = 'https://partner.example.com'
    await addTrustedKeys(store, jwk, { issuers: [iss], maxLevel: 2 })
    expect((await store.list())[0]).toMatchObject({ kid: 'p-1', maxLevel: 2 })
    let now = NOW
    const keys = new TrustStoreKeySource(store, { now: () => now, cacheMs: 1000 })
    const at = (level: string) =>
      signRaw(
        { alg: 'EdDSA', kid: 'p-1' },
        claims({
          iss,
          vc: { type: ['VerifiableCredential', 'AgentIdentity'], credentialSubject: { level } },
        }),
        partner.privateKey,
      )
    const verifier = createBadgeVerifier({ keys, now: () => now })
    const two = at('2')
    expect((await verifier.verify(two)).trustLevel).toBe('2')
    expect((await verifier.verify(two)).trustLevel).toBe('2') // the second use puts it in the cache
    // Refused at once (the key was read within the cache time): verify throws rather than rejects.
    await expect(Promise.resolve().then(() => verifier.verify(at('3')))).rejects.toMatchObject({
      code: 'BADGE_ISSUER_UNTRUSTED',
    })
    // Lowering the limit (trust add again) ends a cached level-2 badge too.
    await addTrustedKeys(store, jwk, { issuers: [iss], maxLevel: 1 })
    now += 1000
    await expect(verifier.verify(two)).rejects.toMatchObject({ code: 'BADGE_ISSUER_UNTRUSTED' })
    await expect(addTrustedKeys(store, jwk, { maxLevel: 5 })).rejects.toMatchObject({ code: 'USAGE' })
    writeFileSync(join(dir, 'p-1.jwk'), JSON.stringify({ ...JSON.parse(jwk), capiscio_max_level: 'x' }))
    await expect(store.get('p-1')).rejects.toMatchObject({ code: 'TRUST_STORE_INVALID' })
  })
})
