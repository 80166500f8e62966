import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'

import { CapiscioError } from '../errors.js'
import { didKeyOf } from './didkey.js'
import { defaultKidOf, KEY_ALGS, MIN_RSA_BITS, type KeyAlg } from './key.js'

export interface GeneratedKey {
  privateKey: KeyObject
  publicKey: KeyObject
  alg: KeyAlg
  kid: string
  /** The did:key, for Ed25519 keys only. */
  did?: string
}

export function isKeyAlg(value: string): value is KeyAlg {
  return (KEY_ALGS as readonly string[]).includes(value)
}

/**
 * The same key pair in KeyObjects of its own, read back from its PKCS#8 encoding. Node 20's crypto can
 * deadlock when a freshly generated key is exported as a JWK (or used) while the garbage collector
 * frees the job that generated it: the process hangs for good. A loop of generate + JWK export hung
 * in about half the runs of 20,000 keys; `capiscio key gen` does the same once. Keys read back share
 * nothing with the job, and the DER export of the generated key never hung (95,000 keys in a loop).
 */
export function detached(pair: { privateKey: KeyObject }): { privateKey: KeyObject; publicKey: KeyObject } {
  const der = pair.privateKey.export({ format: 'der', type: 'pkcs8' })
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
  der.fill(0)
  return { privateKey, publicKey: createPublicKey(privateKey) }
}

/** Generates a signing key pair; the kid defaults to the did:key (Ed25519) or the RFC 7638 thumbprint. */
export async function generateKey(alg: KeyAlg = 'EdDSA', kid?: string): Promise<GeneratedKey> {
  // A did:key is one key's own name, so it cannot be chosen for a key not made yet: it would be
  // another key's, and badges signed under it would claim that key's identity.
  if (kid?.split('#')[0]!.startsWith('did:key:'))
    throw new CapiscioError('USAGE', `kid "${kid}" is a did:key, which names another key`, {
      hint: 'choose a kid that is not a did:key; an Ed25519 key gets its own did:key as its kid by default',
      options: ['kid'],
    })
  let pair: { privateKey: KeyObject; publicKey: KeyObject }
  switch (alg) {
    case 'EdDSA':
      pair = generateKeyPairSync('ed25519')
      break
    case 'ES256':
      pair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      break
    case 'RS256':
      pair = generateKeyPairSync('rsa', { modulusLength: MIN_RSA_BITS })
      break
    default:
      throw new CapiscioError(
        'USAGE',
        `unknown algorithm ${String(alg)}; choose one of ${KEY_ALGS.join(', ')}`,
      )
  }
  pair = detached(pair)
  const did = didKeyOf(pair.publicKey)
  const generated: GeneratedKey = { ...pair, alg, kid: kid ?? (await defaultKidOf(pair.publicKey)) }
  if (did) generated.did = did
  return generated
}
