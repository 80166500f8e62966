import { generateKeyPairSync, type KeyObject } from 'node:crypto'

import { detached } from '../../src/lib/keys/generate.js'

export interface KeyPair {
  privateKey: KeyObject
  publicKey: KeyObject
}

const generate = generateKeyPairSync as unknown as (type: string, options?: object) => KeyPair

/**
 * generateKeyPairSync, the pair read back from its PKCS#8 DER as generateKey does (detached, in
 * src/lib/keys/generate.ts): Node 20 can deadlock exporting a freshly generated key as a JWK while
 * the collector frees the job that generated it, which would hang a test run for good.
 */
export function keyPair(
  type: 'ed25519' | 'x25519' | 'ec' | 'rsa',
  options?: { namedCurve?: string; modulusLength?: number },
): KeyPair {
  return detached(generate(type, options))
}
