import { createPublicKey, type KeyObject } from 'node:crypto'

import { CapiscioError } from '../errors.js'
import { base58Decode, base58Encode } from './base58.js'

// did:key for Ed25519: 'did:key:z' + base58btc(multicodec ed25519-pub (0xed 0x01) ‖ 32-byte key).
const ED25519_PREFIX = [0xed, 0x01] as const
const DID_KEY_PREFIX = 'did:key:z'
/** Multicodec prefixes of other key types, so the error can say "unsupported" rather than "invalid". */
const OTHER_KEY_CODECS: [number, number, string][] = [
  [0x80, 0x24, 'P-256'],
  [0x81, 0x24, 'P-384'],
  [0xe7, 0x01, 'secp256k1'],
  [0xec, 0x01, 'X25519'],
  [0x85, 0x24, 'RSA'],
]
/** A did:key is ~56 characters; anything much longer is not one of ours. */
const MAX_DID_KEY_LENGTH = 256

export function didKeyFromEd25519(raw: Uint8Array): string {
  if (raw.length !== 32) throw new CapiscioError('KEY_INVALID', 'an Ed25519 public key is 32 bytes')
  return DID_KEY_PREFIX + base58Encode(Uint8Array.from([...ED25519_PREFIX, ...raw]))
}

export function didKeyFromX(x: string): string {
  return didKeyFromEd25519(Buffer.from(x, 'base64url'))
}

// Verifiers compare a key's did:key with a badge's issuer on every request; a key object's DID never
// changes, so it is computed once per key object.
const didCache = new WeakMap<KeyObject, string | undefined>()

/** The did:key of an Ed25519 key object (public or private), or undefined for any other key type. */
export function didKeyOf(key: KeyObject): string | undefined {
  if (didCache.has(key)) return didCache.get(key)
  let did: string | undefined
  if (key.asymmetricKeyType === 'ed25519') did = didKeyFromX(key.export({ format: 'jwk' }).x!)
  didCache.set(key, did)
  return did
}

export function isDidKey(text: string): boolean {
  return text.startsWith('did:key:')
}

/** Resolves an Ed25519 did:key (with or without a `#fragment`) to its public key. */
export function publicKeyFromDidKey(did: string): KeyObject {
  const bare = did.split('#', 1)[0]!
  if (bare.length > MAX_DID_KEY_LENGTH || !bare.startsWith(DID_KEY_PREFIX)) {
    throw new CapiscioError('KEY_INVALID', 'not a did:key with a base58btc (z…) multibase value')
  }
  const bytes = base58Decode(bare.slice(DID_KEY_PREFIX.length))
  if (!bytes) throw new CapiscioError('KEY_INVALID', 'the did:key is not valid base58btc')
  const isEd25519 = bytes[0] === ED25519_PREFIX[0] && bytes[1] === ED25519_PREFIX[1]
  if (isEd25519 && bytes.length === 34) {
    const x = Buffer.from(bytes.subarray(2)).toString('base64url')
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' })
  }
  const other = OTHER_KEY_CODECS.find(([a, b]) => bytes[0] === a && bytes[1] === b)
  if (other) {
    throw new CapiscioError(
      'KEY_UNSUPPORTED',
      `${other[2]} did:key identifiers are not supported; only Ed25519 (did:key:z6Mk…)`,
    )
  }
  throw new CapiscioError('KEY_INVALID', 'the did:key does not hold a 32-byte Ed25519 key')
}
