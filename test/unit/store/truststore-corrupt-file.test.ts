import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from '@jest/globals'

import { privateJwkOf, publicJwkOf } from '../../../src/lib/keys/key.js'
import { TrustStoreKeySource } from '../../../src/lib/keysource/truststore.js'
import { TrustStore } from '../../../src/lib/store/truststore.js'
import { keyPair } from '../../helpers/keypair.js'
import { rejection } from '../../helpers/thrown.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'

afterAll(cleanupTmp)

/** A store holding one good key, `partner`. */
async function storeWithPartner(): Promise<{ dir: string; store: TrustStore }> {
  const dir = tmpDir()
  const store = new TrustStore(dir)
  await store.add(keyPair('ed25519').publicKey, 'partner')
  return { dir, store }
}

describe('a corrupt key file in the trust store', () => {
  it('makes list() fail with TRUST_STORE_INVALID naming a lone .pem that holds no key', async () => {
    const { dir, store } = await storeWithPartner()
    writeFileSync(join(dir, 'junk.pem'), 'garbage\n')
    const err = await rejection(store.list())
    expect(err.code).toBe('TRUST_STORE_INVALID')
    expect(err.message).toBe(`${join(dir, 'junk.pem')}: the input is not a JWK, JWKS, PEM key or did:key`)
  })

  it('makes list() fail with TRUST_STORE_INVALID naming a .jwk whose key is broken', async () => {
    const { dir, store } = await storeWithPartner()
    writeFileSync(join(dir, 'bad.jwk'), JSON.stringify({ kid: 'bad', kty: 'OKP', crv: 'Ed25519', x: 'AA' }))
    const err = await rejection(store.list())
    expect(err.code).toBe('TRUST_STORE_INVALID')
    expect(err.message).toBe(`${join(dir, 'bad.jwk')} is not a valid OKP key`)
  })

  it('makes list() fail with TRUST_STORE_INVALID naming a .jwk whose public part contradicts its private part', async () => {
    const { dir, store } = await storeWithPartner()
    const jwk = privateJwkOf(keyPair('ed25519').privateKey, 'odd')
    jwk.x = publicJwkOf(keyPair('ed25519').publicKey).x
    writeFileSync(join(dir, 'odd.jwk'), JSON.stringify(jwk))
    const err = await rejection(store.list())
    expect(err.code).toBe('TRUST_STORE_INVALID')
    expect(err.message).toContain(join(dir, 'odd.jwk'))
    expect(err.message).not.toContain(jwk.d as string)
  })

  it('makes get() of that kid fail the same way, so a verifier asking for it is told which file to fix', async () => {
    const { dir, store } = await storeWithPartner()
    writeFileSync(join(dir, 'junk.pem'), 'garbage\n')
    const err = await rejection(store.get('junk'))
    expect(err.code).toBe('TRUST_STORE_INVALID')
    expect(err.message).toContain(join(dir, 'junk.pem'))
  })

  it('leaves lookups of other kids alone: a verifier reads only the files of the kid it is asked for', async () => {
    const { dir, store } = await storeWithPartner()
    writeFileSync(join(dir, 'junk.pem'), 'garbage\n')
    const source = new TrustStoreKeySource(store)
    const found = await source.find({ kid: 'partner', iss: 'partner', alg: 'EdDSA' })
    expect(found.map((k) => k.kid)).toEqual(['partner'])
  })

  it('ignores files that are not .jwk or .pem (not keys of the store)', async () => {
    const { dir, store } = await storeWithPartner()
    writeFileSync(join(dir, 'README.txt'), 'garbage\n')
    expect((await store.list()).map((k) => k.kid)).toEqual(['partner'])
  })
})
