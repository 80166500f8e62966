import { CapiscioError } from '../errors.js'
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
    results.push(
      await store.add(key.publicKey, kid, { issuers: options.issuers ?? [], maxLevel: options.maxLevel }),
    )
  }
  return results
}
