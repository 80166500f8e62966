import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'

import { CapiscioError } from '../../../src/lib/errors.js'
import { base58Decode, base58Encode } from '../../../src/lib/keys/base58.js'
import { didKeyFromX, didKeyOf, publicKeyFromDidKey } from '../../../src/lib/keys/didkey.js'
import { keyPair } from '../../helpers/keypair.js'

// The did:key spec's Ed25519 example: this x and this DID are the same key.
const VECTOR_X = 'Lm_M42cB3HkUiODQsXRcweM6TByfzEHGO9ND274JcOY'
const VECTOR_DID = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'

describe('did:key', () => {
  it('derives the known vector from x', () => {
    expect(didKeyFromX(VECTOR_X)).toBe(VECTOR_DID)
  })

  it('resolves the known vector back to the same x', () => {
    expect(publicKeyFromDidKey(VECTOR_DID).export({ format: 'jwk' }).x).toBe(VECTOR_X)
    expect(publicKeyFromDidKey(VECTOR_DID + '#z6Mkfrag').export({ format: 'jwk' }).x).toBe(VECTOR_X)
  })

  it('round-trips generated Ed25519 keys and starts with did:key:z6Mk', () => {
    for (let i = 0; i < 20; i++) {
      const { publicKey } = keyPair('ed25519')
      const did = didKeyOf(publicKey)!
      expect(did.startsWith('did:key:z6Mk')).toBe(true)
      expect(publicKeyFromDidKey(did).equals(publicKey)).toBe(true)
    }
  })

  it('has no did:key for non-Ed25519 keys', () => {
    expect(didKeyOf(keyPair('ec', { namedCurve: 'P-256' }).publicKey)).toBeUndefined()
  })

  it.each([
    ['not base58', 'did:key:z6Mk0OIl', 'KEY_INVALID'],
    ['no multibase z', 'did:key:f0123', 'KEY_INVALID'],
    ['a P-256 did:key', 'did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169', 'KEY_UNSUPPORTED'],
    ['truncated', VECTOR_DID.slice(0, 30), 'KEY_INVALID'],
    ['absurdly long', 'did:key:z' + '1'.repeat(10_000), 'KEY_INVALID'],
  ])('rejects %s with a coded error', (_name, did, code) => {
    expect(() => publicKeyFromDidKey(did)).toThrow(CapiscioError)
    try {
      publicKeyFromDidKey(did)
    } catch (err) {
      expect((err as CapiscioError).code).toBe(code)
    }
  })

  it('base58 round-trips any bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(Buffer.from(base58Decode(base58Encode(bytes))!)).toEqual(Buffer.from(bytes))
      }),
    )
  })

  it('never throws anything but a CapiscioError on arbitrary did:key text (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (tail) => {
        try {
          publicKeyFromDidKey('did:key:z' + tail)
        } catch (err) {
          expect(err).toBeInstanceOf(CapiscioError)
        }
      }),
    )
  })
})
