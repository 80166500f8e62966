import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, afterEach, describe, expect, it } from '@jest/globals'

import { createBadgeVerifier } from '../../../src/lib/gateway/badge-verifier.js'
import { createGateway } from '../../../src/lib/gateway/server.js'
import { startGateway } from '../../../src/lib/gateway/start.js'
import { publicJwkOf } from '../../../src/lib/keys/key.js'
import { RemoteJwksKeySource } from '../../../src/lib/keysource/jwks.js'
import { TrustStoreKeySource } from '../../../src/lib/keysource/truststore.js'
import { addTrustedKeys } from '../../../src/lib/store/trust-add.js'
import { TrustStore } from '../../../src/lib/store/truststore.js'
import { claims, clock, edKey, NOW, signRaw } from '../../helpers/badges.js'
import { JwksServer } from '../../helpers/jwks-server.js'
import { echoAgent, startUpstream } from '../../helpers/servers.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'
import { thrownBy } from '../../helpers/thrown.js'

const ISSUER_A = 'https://issuer-a.example.com'
const open: { close(): Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()))
})
afterAll(cleanupTmp)

const jwkText = (key: ReturnType<typeof edKey>, kid?: string) =>
  JSON.stringify(publicJwkOf(key.publicKey, kid ?? key.did))
const nowClaims = (o: Record<string, unknown>) => {
  const iat = Math.floor(Date.now() / 1000)
  return claims({ iat, exp: iat + 300, ...o })
}
/** A trust store holding issuer A's key as `issuer-a-1`, bound to ISSUER_A. */
async function issuerAStore() {
  const dir = tmpDir()
  const store = new TrustStore(dir)
  const issuerA = edKey()
  await addTrustedKeys(store, jwkText(issuerA, 'issuer-a-1'), { issuers: [ISSUER_A] })
  return { dir, store, issuerA }
}

/** The admin badge the issue's attacker forges: issuer A's name, an admin subject, level 4. */
const forged = (o: Record<string, unknown> = {}) =>
  nowClaims({
    iss: ISSUER_A,
    sub: 'did:web:admin.example.com',
    vc: { type: ['VerifiableCredential', 'AgentIdentity'], credentialSubject: { level: '4' } },
    ...o,
  })

async function call(url: string, token: string): Promise<[number, unknown]> {
  const res = await fetch(`${url}/admin`, { headers: { authorization: `Bearer ${token}` } })
  return [res.status, res.status === 200 ? undefined : await res.json()]
}

describe('gateway: every trusted key speaks only for the issuers it is bound to', () => {
  it('refuses a badge for issuer A signed by an unbound partner key in the trust store (with and without kid)', async () => {
    const dir = tmpDir()
    const store = new TrustStore(dir)
    const issuerA = edKey()
    const partner = edKey()
    await addTrustedKeys(store, jwkText(issuerA, 'issuer-a-1'), { issuers: [ISSUER_A] })
    await addTrustedKeys(store, jwkText(partner)) // the README's `trust add partner/public.jwk`
    const up = await startUpstream(echoAgent)
    const gw = await startGateway({
      port: 0,
      host: '127.0.0.1',
      target: up.url,
      trustDir: dir,
      issuers: [ISSUER_A],
    })
    open.push(gw, up)
    const untrusted = [403, { error: expect.any(String), code: 'BADGE_ISSUER_UNTRUSTED' }]
    expect(
      await call(gw.url, signRaw({ alg: 'EdDSA', kid: partner.did }, forged(), partner.privateKey)),
    ).toEqual(untrusted)
    // Kid-less (Go-core shape): only the keys bound to issuer A are tried, and the partner's is not one.
    expect(await call(gw.url, signRaw({ alg: 'EdDSA' }, forged(), partner.privateKey))).toEqual([
      403,
      { error: expect.any(String), code: 'BADGE_SIGNATURE_INVALID' },
    ])
    // Naming issuer A's kid does not help either: the signature is checked against A's key only.
    expect(
      (await call(gw.url, signRaw({ alg: 'EdDSA', kid: 'issuer-a-1' }, forged(), partner.privateKey)))[0],
    ).toBe(403)
    // Issuer A's own key still works, by kid and (Go-core shape) by issuer binding.
    expect(
      await call(gw.url, signRaw({ alg: 'EdDSA', kid: 'issuer-a-1' }, forged(), issuerA.privateKey)),
    ).toEqual([200, undefined])
    expect(await call(gw.url, signRaw({ alg: 'EdDSA' }, forged(), issuerA.privateKey))).toEqual([
      200,
      undefined,
    ])
    expect(up.seen).toHaveLength(2)
  })

  it("binds a registry's keys to the registry's issuer", async () => {
    const registryKey = edKey()
    const jwks = await new JwksServer().start()
    jwks.setKeys([publicJwkOf(registryKey.publicKey, 'reg-1')])
    const up = await startUpstream(echoAgent)
    const gw = await startGateway({ port: 0, host: '127.0.0.1', target: up.url, registryUrl: jwks.url })
    open.push(gw, up, { close: () => jwks.stop() })
    const registryIssuer = `http://127.0.0.1:${jwks.port}`
    const sign = (iss: string) =>
      signRaw({ alg: 'EdDSA', kid: 'reg-1' }, forged({ iss }), registryKey.privateKey)
    expect(await call(gw.url, sign(registryIssuer))).toEqual([200, undefined])
    expect(await call(gw.url, sign(ISSUER_A))).toEqual([
      403,
      { error: expect.any(String), code: 'BADGE_ISSUER_UNTRUSTED' },
    ])
  })
})

describe('gateway: a removed key takes its cached badges with it', () => {
  it('refuses a cached badge once its key is removed, within the trust store reload interval', async () => {
    const { store, issuerA } = await issuerAStore()
    let now = NOW
    const reloadMs = 2000
    const cache: string[] = []
    const up = await startUpstream(echoAgent)
    const gw = await createGateway({
      target: up.url,
      verifier: createBadgeVerifier({
        keys: new TrustStoreKeySource(store, { cacheMs: reloadMs, now: () => now }),
        now: () => now,
        onCache: (r) => cache.push(r),
      }),
    })
    open.push(gw, up)
    const token = signRaw({ alg: 'EdDSA', kid: 'issuer-a-1' }, claims({ iss: ISSUER_A }), issuerA.privateKey)
    // Kept from its second use on (verify-cache.ts), then answered from the cache.
    for (let i = 0; i < 3; i++) expect((await call(gw.url, token))[0]).toBe(200)
    expect(cache).toEqual(['miss', 'miss', 'hit'])

    await store.remove('issuer-a-1')
    now += reloadMs // the trust store's reload interval passes; the badge itself has minutes left
    expect(await call(gw.url, token)).toEqual([
      403,
      { error: expect.any(String), code: 'BADGE_ISSUER_UNTRUSTED' },
    ])
    expect(cache).toEqual(['miss', 'miss', 'hit', 'hit'])
    expect(up.seen).toHaveLength(3)
  })

  it('refuses a cached badge once its key is replaced under the same kid', async () => {
    const store = new TrustStore(tmpDir())
    const oldKey = edKey()
    await addTrustedKeys(store, jwkText(oldKey, 'issuer-a-1'), { issuers: [ISSUER_A] })
    let now = NOW
    const cache: string[] = []
    const verifier = createBadgeVerifier({
      keys: new TrustStoreKeySource(store, { cacheMs: 1000, now: () => now }),
      now: () => now,
      onCache: (r) => cache.push(r),
    })
    const token = signRaw({ alg: 'EdDSA', kid: 'issuer-a-1' }, claims({ iss: ISSUER_A }), oldKey.privateKey)
    expect((await verifier.verify(token)).issuer).toBe(ISSUER_A)
    expect((await verifier.verify(token)).issuer).toBe(ISSUER_A) // the second use puts it in the cache
    await addTrustedKeys(store, jwkText(edKey(), 'issuer-a-1'), { issuers: [ISSUER_A] })
    now += 1000
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: 'BADGE_ISSUER_UNTRUSTED' })
    expect(cache).toEqual(['miss', 'miss', 'hit'])
  })

  it('refuses a cached registry badge once the key rotates out of the JWKS', async () => {
    const registryKey = edKey()
    const jwks = await new JwksServer().start()
    jwks.setKeys([publicJwkOf(registryKey.publicKey, 'reg-1')])
    const keys = new RemoteJwksKeySource(jwks.url, { now: clock })
    const cache: string[] = []
    const verifier = createBadgeVerifier({ keys, now: clock, onCache: (r) => cache.push(r) })
    open.push({ close: () => jwks.stop() })
    const token = signRaw(
      { alg: 'EdDSA', kid: 'reg-1' },
      claims({ iss: `http://127.0.0.1:${jwks.port}` }),
      registryKey.privateKey,
    )
    await verifier.verify(token)
    await verifier.verify(token) // the second use puts it in the cache
    jwks.setKeys([publicJwkOf(edKey().publicKey, 'reg-2')])
    await keys.refresh() // what the source does by itself once cacheMs has passed
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: 'BADGE_ISSUER_UNTRUSTED' })
    expect(cache).toEqual(['miss', 'miss', 'hit'])
  })
})

describe('the trust store answers at once from what it read within its cache time', () => {
  it('findSync and isRevokedSync say "ask find()" until read, then agree with find() until the cache time passes', async () => {
    const { dir, store } = await issuerAStore()
    let now = NOW
    const keys = new TrustStoreKeySource(store, { cacheMs: 1000, now: () => now })
    const query = { kid: 'issuer-a-1', iss: ISSUER_A, alg: 'EdDSA' as const }
    expect(keys.findSync(query)).toBeUndefined()
    expect(keys.isRevokedSync('j-1')).toBeUndefined()
    const found = await keys.find(query)
    expect(found.map((c) => c.kid)).toEqual(['issuer-a-1'])
    expect(keys.findSync(query)).toEqual(found)
    expect(keys.findSync({ ...query, kid: 'unknown' })).toBeUndefined() // never read: ask
    await keys.find({ ...query, kid: 'unknown' })
    expect(keys.findSync({ ...query, kid: 'unknown' })).toEqual([]) // read: known to be absent
    expect(await keys.isRevoked('j-1')).toBe(false)
    expect(keys.isRevokedSync('j-1')).toBe(false)
    writeFileSync(join(dir, 'revoked.json'), JSON.stringify(['j-1']))
    expect(keys.isRevokedSync('j-1')).toBe(false) // within the cache time, as isRevoked would say
    now += 1000
    expect(keys.findSync(query)).toBeUndefined()
    expect(keys.isRevokedSync('j-1')).toBeUndefined()
    expect(await keys.isRevoked('j-1')).toBe(true)
    expect(keys.isRevokedSync('j-1')).toBe(true)
  })

  it('a cached badge is refused at once when its jti is revoked, once the list is read again', async () => {
    const { dir, store, issuerA } = await issuerAStore()
    let now = NOW
    const verifier = createBadgeVerifier({
      keys: new TrustStoreKeySource(store, { cacheMs: 1000, now: () => now }),
      now: () => now,
    })
    const token = signRaw(
      { alg: 'EdDSA', kid: 'issuer-a-1' },
      claims({ iss: ISSUER_A, jti: 'j-9' }),
      issuerA.privateKey,
    )
    expect((await verifier.verify(token)).jti).toBe('j-9')
    // Everything in memory now: answered without a promise, verified again (the second use puts it
    // in the cache), then from the cache.
    expect(verifier.verify(token)).toMatchObject({ jti: 'j-9' })
    expect(verifier.verify(token)).toMatchObject({ jti: 'j-9' })
    writeFileSync(join(dir, 'revoked.json'), JSON.stringify(['j-9']))
    now += 1000
    await expect(Promise.resolve().then(() => verifier.verify(token))).rejects.toMatchObject({
      code: 'BADGE_REVOKED',
    })
    // And at once on the next call, from the list now in memory.
    expect(thrownBy(() => verifier.verify(token))).toMatchObject({ code: 'BADGE_REVOKED' })
  })
})
