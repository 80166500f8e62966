import { didKeyOf } from './didkey.js'
import { defaultKidOf, publicJwkOf, thumbprintOf, type KeyAlg, type PublicJwk } from './key.js'
import type { ParsedKey } from './parse.js'

export interface KeyDescription {
  kid: string
  alg: KeyAlg
  did?: string
  thumbprint: string
  /** Whether the input held private material. */
  private: boolean
  publicJwk: PublicJwk
}

/** What `key show` prints: the kid written in the key, else the toolkit's default kid for it. */
export async function describeKey(key: ParsedKey): Promise<KeyDescription> {
  const kid = key.kid ?? (await defaultKidOf(key.publicKey))
  const d: KeyDescription = {
    kid,
    alg: key.alg,
    thumbprint: await thumbprintOf(key.publicKey),
    private: key.privateKey !== undefined,
    publicJwk: publicJwkOf(key.publicKey, kid),
  }
  const did = didKeyOf(key.publicKey)
  if (did) d.did = did
  return d
}
