// Whom a SimpleGuard signer may name as iss (docs/formats.md, "SimpleGuard token", step 2), for
// verifyGuardToken and so for `capiscio guard verify` and SimpleGuard.verifyInbound, and for the
// gateway's guard verifier: a bound key its issuers, a key `trust add` wrote without issuers only
// itself, a lone PEM dropped in by hand (as Python deployments do) anything but another key's
// issuer, and no key another key's did:key or bound issuer, whatever its kid says.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'

import { CapiscioError } from '../../../src/lib/errors.js'
import { createGuardVerifier } from '../../../src/lib/gateway/guard-verifier.js'
import { signGuardToken, verifyGuardToken } from '../../../src/lib/guard/token.js'
import { didKeyOf } from '../../../src/lib/keys/didkey.js'
import { TrustStoreKeySource } from '../../../src/lib/keysource/truststore.js'
import { TrustStore } from '../../../src/lib/store/truststore.js'
import { keyPair } from '../../helpers/keypair.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'

afterAll(cleanupTmp)

const alice = keyPair('ed25519') // trust add without issuers
const bob = keyPair('ed25519') // trust add --issuer https://bob.example.com
const carol = keyPair('ed25519') // a lone carol.pem, dropped in by hand
const mallory = keyPair('ed25519') // trusted under kids that name someone else
const BOB_ISSUER = 'https://bob.example.com'
const BOB_DID = didKeyOf(bob.publicKey)!
let keys: TrustStoreKeySource

beforeAll(async () => {
  const dir = tmpDir()
  const store = new TrustStore(dir)
  await store.add(alice.publicKey, 'alice')
  await store.add(bob.publicKey, 'bob', { issuers: [BOB_ISSUER] })
  // Kids that name someone else: a partner's JWK may carry any kid.
  await store.add(mallory.publicKey, BOB_DID)
  await store.add(mallory.publicKey, BOB_ISSUER)
  writeFileSync(join(dir, 'carol.pem'), carol.publicKey.export({ type: 'spki', format: 'pem' }))
  keys = new TrustStoreKeySource(store)
})

type Signer = { privateKey: ReturnType<typeof keyPair>['privateKey'] }

async function outcome(signer: Signer, kid: string, iss: string, gateway = false): Promise<string> {
  const token = signGuardToken({ privateKey: signer.privateKey, kid, iss })
  try {
    if (gateway) return `accepted as ${(await createGuardVerifier({ keys }).verify(token)).subject}`
    const { claims } = await verifyGuardToken(token, undefined, { keys })
    return `accepted as ${claims.iss}`
  } catch (err) {
    if (err instanceof CapiscioError) return err.code
    throw err
  }
}

describe('verifyGuardToken: the issuer a key may name', () => {
  it('refuses any key naming an issuer issuers.json binds to another key, even when its kid is that issuer', async () => {
    expect(await outcome(alice, 'alice', BOB_ISSUER)).toBe('GUARD_UNTRUSTED_KEY')
    expect(await outcome(carol, 'carol', BOB_ISSUER)).toBe('GUARD_UNTRUSTED_KEY')
    expect(await outcome(mallory, BOB_ISSUER, BOB_ISSUER)).toBe('GUARD_UNTRUSTED_KEY')
    expect(await outcome(mallory, BOB_ISSUER, BOB_ISSUER, true)).toBe('GUARD_UNTRUSTED_KEY')
  })

  it("refuses any key naming another key's did:key, even when its kid is that did:key", async () => {
    expect(await outcome(alice, 'alice', BOB_DID)).toBe('GUARD_UNTRUSTED_KEY')
    expect(await outcome(carol, 'carol', BOB_DID)).toBe('GUARD_UNTRUSTED_KEY')
    expect(await outcome(mallory, BOB_DID, BOB_DID)).toBe('GUARD_UNTRUSTED_KEY')
    expect(await outcome(mallory, BOB_DID, BOB_DID, true)).toBe('GUARD_UNTRUSTED_KEY')
  })

  it('accepts a key naming itself: its kid, its did:key', async () => {
    expect(await outcome(alice, 'alice', 'alice')).toBe('accepted as alice')
    const own = didKeyOf(alice.publicKey)!
    expect(await outcome(alice, 'alice', own)).toBe(`accepted as ${own}`)
    expect(await outcome(carol, 'carol', 'carol', true)).toBe('accepted as carol')
  })

  it('holds a key trust add wrote without issuers to itself; a lone PEM may name an issuer no key is bound to (the Python agent_id)', async () => {
    expect(await outcome(alice, 'alice', 'did:web:alice-agent.example.com')).toBe('GUARD_UNTRUSTED_KEY')
    expect(await outcome(carol, 'carol', 'did:web:carol-agent.example.com')).toBe(
      'accepted as did:web:carol-agent.example.com',
    )
    // The gateway tells the agent this issuer as the caller's identity: there a lone PEM too
    // speaks only as itself.
    expect(await outcome(carol, 'carol', 'did:web:carol-agent.example.com', true)).toBe('GUARD_UNTRUSTED_KEY')
  })

  it('holds a bound key to its issuers (or its kid)', async () => {
    expect(await outcome(bob, 'bob', BOB_ISSUER)).toBe(`accepted as ${BOB_ISSUER}`)
    expect(await outcome(bob, 'bob', BOB_ISSUER, true)).toBe(`accepted as ${BOB_ISSUER}`)
    expect(await outcome(bob, 'bob', 'bob')).toBe('accepted as bob')
    expect(await outcome(bob, 'bob', 'https://other.example.com')).toBe('GUARD_UNTRUSTED_KEY')
    expect(await outcome(bob, 'bob', didKeyOf(alice.publicKey)!)).toBe('GUARD_UNTRUSTED_KEY')
  })
})
