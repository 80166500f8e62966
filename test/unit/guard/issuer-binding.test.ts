// Whom a SimpleGuard signer may name as iss (docs/formats.md, "SimpleGuard token", step 2), for
// verifyGuardToken and so for `capiscio guard verify` and SimpleGuard.verifyInbound: a bound key
// its issuers, an unbound key (a PEM dropped in by hand, as Python deployments do) anything but
// another key's issuer.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'

import { CapiscioError } from '../../../src/lib/errors.js'
import { signGuardToken, verifyGuardToken } from '../../../src/lib/guard/token.js'
import { didKeyOf } from '../../../src/lib/keys/didkey.js'
import { TrustStoreKeySource } from '../../../src/lib/keysource/truststore.js'
import { TrustStore } from '../../../src/lib/store/truststore.js'
import { keyPair } from '../../helpers/keypair.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'

afterAll(cleanupTmp)

const alice = keyPair('ed25519')
const bob = keyPair('ed25519')
const BOB_ISSUER = 'https://bob.example.com'
let keys: TrustStoreKeySource

beforeAll(async () => {
  const store = new TrustStore(tmpDir())
  await store.add(alice.publicKey, 'alice') // bound to no issuer
  await store.add(bob.publicKey, 'bob', { issuers: [BOB_ISSUER] })
  keys = new TrustStoreKeySource(store)
})

async function outcome(signer: 'alice' | 'bob', iss: string): Promise<string> {
  const privateKey = signer === 'alice' ? alice.privateKey : bob.privateKey
  try {
    const { claims } = await verifyGuardToken(signGuardToken({ privateKey, kid: signer, iss }), undefined, {
      keys,
    })
    return `accepted as ${claims.iss}`
  } catch (err) {
    if (err instanceof CapiscioError) return err.code
    throw err
  }
}

describe('verifyGuardToken: the issuer a key may name', () => {
  it('refuses an unbound key naming an issuer issuers.json binds to another key', async () => {
    expect(await outcome('alice', BOB_ISSUER)).toBe('GUARD_UNTRUSTED_KEY')
  })

  it("refuses an unbound key naming another key's did:key", async () => {
    expect(await outcome('alice', didKeyOf(bob.publicKey)!)).toBe('GUARD_UNTRUSTED_KEY')
  })

  it('accepts an unbound key naming itself: its kid, its did:key', async () => {
    expect(await outcome('alice', 'alice')).toBe('accepted as alice')
    const own = didKeyOf(alice.publicKey)!
    expect(await outcome('alice', own)).toBe(`accepted as ${own}`)
  })

  it('accepts an unbound key naming an issuer no key is bound to (the Python agent_id), as the kid is trusted', async () => {
    expect(await outcome('alice', 'did:web:alice-agent.example.com')).toBe(
      'accepted as did:web:alice-agent.example.com',
    )
  })

  it('holds a bound key to its issuers (or its kid)', async () => {
    expect(await outcome('bob', BOB_ISSUER)).toBe(`accepted as ${BOB_ISSUER}`)
    expect(await outcome('bob', 'bob')).toBe('accepted as bob')
    expect(await outcome('bob', 'https://other.example.com')).toBe('GUARD_UNTRUSTED_KEY')
    expect(await outcome('bob', didKeyOf(alice.publicKey)!)).toBe('GUARD_UNTRUSTED_KEY')
  })
})
