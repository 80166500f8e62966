import type { KeyObject } from 'node:crypto'

import { CapiscioError } from '../errors.js'
import { didKeyOf } from '../keys/didkey.js'
import { defaultKidOf } from '../keys/key.js'
import { isEncryptedPem, parseKeys } from '../keys/parse.js'
import { assertValidIssuer, type AddResult, type TrustStore } from './truststore.js'

export interface TrustAddOptions {
  /** Overrides the key's own kid; only for input holding one key. */
  kid?: string
  /**
   * The issuers the added keys may sign for (issuers.json). None: each key may sign only as its
   * own identity (its did:key, or its kid when no other key is bound to that name).
   */
  issuers?: readonly string[]
  /** The highest badge level (0–4) the added keys may vouch for; a badge above it is refused. */
  maxLevel?: number
}

const PRIVATE_HINT =
  'give the public key instead (public.jwk or public.pem); the trust store never keeps private keys'

/**
 * Adds every key in a JWK, JWKS, PEM or did:key text to the store. Input with private material is
 * refused as a whole (a shared private key is a leak the user should hear about, not a key to strip).
 */
export async function addTrustedKeys(
  store: TrustStore,
  text: string,
  options: TrustAddOptions = {},
): Promise<AddResult[]> {
  if (isEncryptedPem(text))
    throw new CapiscioError('TRUST_PRIVATE_KEY', 'the input is an encrypted private key', {
      hint: PRIVATE_HINT,
    })
  const keys = await parseKeys(text)
  if (keys.some((k) => k.privateKey)) {
    throw new CapiscioError('TRUST_PRIVATE_KEY', 'the input holds a private key', { hint: PRIVATE_HINT })
  }
  if (options.kid !== undefined && keys.length > 1) {
    throw new CapiscioError('USAGE', `kid names one key but the input holds ${keys.length}`, {
      options: ['kid'],
    })
  }
  for (const iss of options.issuers ?? []) assertValidIssuer(iss)
  const results: AddResult[] = []
  for (const key of keys) {
    const kid = options.kid ?? key.kid ?? (await defaultKidOf(key.publicKey))
    assertOwnDidKey(key.publicKey, kid, options)
    results.push(
      await store.add(key.publicKey, kid, { issuers: options.issuers ?? [], maxLevel: options.maxLevel }),
    )
  }
  return results
}

/**
 * A did:key is one key's own name: a key may be stored under, or bound to, only its own did:key
 * (a kid such as did:key:z…#z… names the DID before the `#`). Anything else would let the key sign
 * as another key's identity.
 */
function assertOwnDidKey(publicKey: KeyObject, kid: string, options: TrustAddOptions): void {
  const own = didKeyOf(publicKey)
  const did = kid.split('#')[0]!
  if (did.startsWith('did:key:') && did !== own)
    throw new CapiscioError('KEY_INVALID', `kid "${kid}" is the did:key of another key`, {
      hint: own ? `this key's did:key is ${own}` : 'a key that is not Ed25519 has no did:key here',
      options: options.kid !== undefined ? ['kid'] : [],
    })
  for (const iss of options.issuers ?? [])
    if (iss.startsWith('did:key:') && iss !== own)
      throw new CapiscioError('USAGE', `issuer "${iss}" is the did:key of another key`, {
        hint: own ? `this key's did:key is ${own}` : 'a key that is not Ed25519 has no did:key here',
        options: ['issuers'],
      })
}
