import { describe, expect, it } from '@jest/globals'

import { CapiscioError } from '../../../src/lib/errors.js'
import { privateJwkOf, publicJwkOf } from '../../../src/lib/keys/key.js'
import { parseJwk, parseKey, parseKeys } from '../../../src/lib/keys/parse.js'
import { keyPair } from '../../helpers/keypair.js'
import { rejection } from '../../helpers/thrown.js'

function thrown(fn: () => unknown): CapiscioError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(CapiscioError)
    return err as CapiscioError
  }
  throw new Error('expected a CapiscioError')
}

const ed1 = keyPair('ed25519')
const ed2 = keyPair('ed25519')
const ec1 = keyPair('ec', { namedCurve: 'P-256' })
const ec2 = keyPair('ec', { namedCurve: 'P-256' })

/** k1's private JWK with the given members taken from k2's public JWK. */
function mismatched(k1: typeof ed1, k2: typeof ed1, members: string[]): Record<string, unknown> {
  const jwk = privateJwkOf(k1.privateKey, 'k1')
  const other = publicJwkOf(k2.publicKey)
  for (const m of members) jwk[m] = other[m]
  return jwk
}

describe('a private JWK whose public members contradict its private part', () => {
  it('is refused with KEY_INVALID when an Ed25519 JWK carries another key x', async () => {
    const jwk = mismatched(ed1, ed2, ['x'])
    const err = await rejection(parseKey(JSON.stringify(jwk)))
    expect(err.code).toBe('KEY_INVALID')
    expect(err.message).toBe('the public part of the JWK does not match its private key')
    for (const secret of [jwk.d, jwk.x] as string[]) expect(err.message).not.toContain(secret)
  })

  it('is refused with KEY_INVALID when a P-256 JWK carries another key x and y', async () => {
    const jwk = mismatched(ec1, ec2, ['x', 'y'])
    const err = await rejection(parseKey(JSON.stringify(jwk)))
    expect(err.code).toBe('KEY_INVALID')
    expect(err.message).toBe('the public part of the JWK does not match its private key')
    for (const secret of [jwk.d, jwk.x, jwk.y] as string[]) expect(err.message).not.toContain(secret)
  })

  it('is refused inside a JWKS too, naming which key of the set', async () => {
    const jwks = { keys: [privateJwkOf(ed1.privateKey, 'ok'), mismatched(ec1, ec2, ['x', 'y'])] }
    const err = await rejection(parseKeys(JSON.stringify(jwks)))
    expect(err.code).toBe('KEY_INVALID')
    expect(err.message).toBe('the public part of key 2 of the JWKS does not match its private key')
  })

  it('is refused by parseJwk called directly (as the remote JWKS source and trust store call it)', () => {
    expect(thrown(() => parseJwk(mismatched(ed1, ed2, ['x']))).code).toBe('KEY_INVALID')
  })

  it('still accepts matching private JWKs, whose public key is the one derived from the private part', () => {
    for (const pair of [ed1, ec1]) {
      const parsed = parseJwk(privateJwkOf(pair.privateKey, 'k'))
      expect(parsed.privateKey).toBeDefined()
      expect(parsed.publicKey.equals(pair.publicKey)).toBe(true)
    }
  })
})

describe('a PEM EC private key whose public point is not its own', () => {
  it.each(['sec1', 'pkcs8'] as const)(
    'is KEY_INVALID as %s PEM; its own point reads as before',
    async (type) => {
      const { createPrivateKey } = await import('node:crypto')
      // Node takes an EC JWK's x and y as given: exported, they become the PEM's public point.
      const forged = createPrivateKey({ key: mismatched(ec1, ec2, ['x', 'y']) as never, format: 'jwk' })
      const pem = forged.export({ type, format: 'pem' }) as string
      const err = await rejection(parseKey(pem))
      expect(err.code).toBe('KEY_INVALID')
      expect(err.message).toContain('does not match its private key')
      const own = ec1.privateKey.export({ type, format: 'pem' }) as string
      expect((await parseKey(own)).alg).toBe('ES256')
    },
  )
})
