import type { KeyObject } from 'node:crypto'

import { MIN_RSA_BITS } from './key.js'

/** The only algorithms a badge may use: never `none`, never HMAC (docs/formats.md, "Trust badge"). */
export const BADGE_ALGS = ['EdDSA', 'ES256'] as const
export type BadgeAlg = (typeof BADGE_ALGS)[number]

/** The public-key algorithms any verifier here accepts: a badge's two, and RS256 for bearer tokens. */
export type SignatureAlg = BadgeAlg | 'RS256'

export function isBadgeAlg(alg: unknown): alg is BadgeAlg {
  return alg === 'EdDSA' || alg === 'ES256'
}

/** Whether a key can verify an algorithm: Ed25519 for EdDSA, P-256 for ES256, RSA ≥ 2048 bits for RS256. */
export function keyFitsAlg(key: KeyObject, alg: SignatureAlg): boolean {
  let fits = fitted.get(key)
  if (fits === undefined) fitted.set(key, (fits = algOf(key)))
  return fits === alg
}

/**
 * The one algorithm each key verifies, by key. Reading asymmetricKeyDetails builds a new object on
 * every access, and this runs for every token (on the key lookup and again before the signature).
 */
const fitted = new WeakMap<KeyObject, SignatureAlg | null>()

function algOf(key: KeyObject): SignatureAlg | null {
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return 'EdDSA'
    case 'rsa':
      return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS ? 'RS256' : null
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve
      return curve === 'prime256v1' || curve === 'P-256' ? 'ES256' : null
    }
    default:
      return null
  }
}
