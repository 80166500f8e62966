import { sign, type KeyObject } from 'node:crypto'

import { describe, expect, it } from '@jest/globals'

import { didKeyOf } from '../../../src/lib/keys/didkey.js'
import { publicJwkOf } from '../../../src/lib/keys/key.js'
import { TrustStoreKeySource } from '../../../src/lib/keysource/truststore.js'
import { addTrustedKeys } from '../../../src/lib/store/trust-add.js'
import { TrustStore } from '../../../src/lib/store/truststore.js'
import { verifyToken } from '../../../src/lib/token/verify.js'
import { NOW, clock } from '../../helpers/badges.js'
import { keyPair } from '../../helpers/keypair.js'
import { tmpDir } from '../../helpers/tmp.js'

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
const T = Math.floor(NOW / 1000)

function token(kid: string, iss: string, key: KeyObject, alg = 'EdDSA'): string {
  const input = `${b64({ alg, kid })}.${b64({ sub: 'svc', iss, iat: T, exp: T + 300 })}`
  const sig =
    alg === 'ES256'
      ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
      : sign(null, Buffer.from(input), key)
  return `${input}.${sig.toString('base64url')}`
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'OK'
  } catch (err) {
    return (err as { code: string }).code
  }
}

describe("a did:key is only its own key's name in the trust store", () => {
  const a = keyPair('ed25519')
  const didA = didKeyOf(a.publicKey)!
  const b = keyPair('ed25519')
  const p256 = keyPair('ec', { namedCurve: 'P-256' })
  const jwk = (k: KeyObject) => JSON.stringify(publicJwkOf(k))

  it('trust add refuses another key under a did:key kid or bound to a did:key issuer, and takes its own', async () => {
    const store = new TrustStore(tmpDir())
    expect(await codeOf(addTrustedKeys(store, jwk(b.publicKey), { kid: didA }))).toBe('KEY_INVALID')
    expect(
      await codeOf(addTrustedKeys(store, jwk(p256.publicKey), { kid: `${didA}#${didA.slice(8)}` })),
    ).toBe('KEY_INVALID')
    expect(await codeOf(addTrustedKeys(store, jwk(b.publicKey), { kid: 'b', issuers: [didA] }))).toBe('USAGE')
    expect(await store.list()).toEqual([])
    expect(await codeOf(addTrustedKeys(store, jwk(a.publicKey), { kid: `${didA}#${didA.slice(8)}` }))).toBe(
      'OK',
    )
    expect(await codeOf(addTrustedKeys(store, jwk(a.publicKey), { kid: 'a', issuers: [didA] }))).toBe('OK')
  })

  it('a store that holds another key under a did:key (written by hand) does not let it sign as that identity', async () => {
    const dir = tmpDir()
    const store = new TrustStore(dir)
    // What an older version, or a hand, could have written: key B stored under A's did:key.
    await store.add(b.publicKey, didA)
    await store.add(p256.publicKey, 'p256', { issuers: [didA] })
    const keys = new TrustStoreKeySource(new TrustStore(dir), { now: clock })
    const o = { keys, now: clock }
    expect(await codeOf(verifyToken(token(didA, didA, b.privateKey), o))).toBe('TOKEN_SIGNATURE_INVALID')
    expect(await codeOf(verifyToken(token('p256', didA, p256.privateKey, 'ES256'), o))).toBe(
      'TOKEN_SIGNATURE_INVALID',
    )
    // The same keys sign as themselves.
    expect(await codeOf(verifyToken(token(didA, didKeyOf(b.publicKey)!, b.privateKey), o))).toBe('OK')
    expect(await codeOf(verifyToken(token('p256', 'p256', p256.privateKey, 'ES256'), o))).toBe('OK')
  })
})
