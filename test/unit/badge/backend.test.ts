import { sign } from 'node:crypto'

import { afterAll, describe, expect, it } from '@jest/globals'

import { ed25519Backend, useEd25519Backend, verifySignature } from '../../../src/lib/badge/jws.js'
import { edKey } from '../../helpers/badges.js'

afterAll(() => useEd25519Backend(undefined))

// The Ed25519 group order L, little-endian: adding it to S gives the same point but a non-canonical S.
const L = Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex')

function addL(sig: Buffer): Buffer {
  const out = Buffer.from(sig)
  let carry = 0
  for (let i = 0; i < 32; i++) {
    const sum = out[32 + i]! + L[i]! + carry
    out[32 + i] = sum & 0xff
    carry = sum >> 8
  }
  return out
}

describe('Ed25519 verification backends', () => {
  // Pinning libsodium first, before anything in this process has verified with it: pinning must load
  // the addon itself (it used to only mark it in use, and every signature was then "invalid").
  it.each(['libsodium', 'node:crypto'] as const)(
    '%s accepts a good signature and refuses bad ones',
    (backend) => {
      useEd25519Backend(backend)
      const k = edKey()
      const input = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJkaWQ6d2ViOngifQ'
      const sig = sign(null, Buffer.from(input), k.privateKey)
      expect(verifySignature('EdDSA', k.publicKey, input, sig)).toBe(true)
      expect(verifySignature('EdDSA', k.publicKey, input + 'x', sig)).toBe(false)
      expect(verifySignature('EdDSA', edKey().publicKey, input, sig)).toBe(false)
      const flipped = Buffer.from(sig)
      flipped[10]! ^= 1
      expect(verifySignature('EdDSA', k.publicKey, input, flipped)).toBe(false)
      expect(verifySignature('EdDSA', k.publicKey, input, addL(sig))).toBe(false)
      expect(verifySignature('EdDSA', k.publicKey, input, sig.subarray(0, 63))).toBe(false)
    },
  )

  it('uses libsodium on this platform (the fast path the benchmark measures)', () => {
    useEd25519Backend(undefined)
    expect(ed25519Backend()).toBe('libsodium')
  })
})
