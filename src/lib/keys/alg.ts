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
  if (alg === 'EdDSA') return key.asymmetricKeyType === 'ed25519'
  if (alg === 'RS256')
    return key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS
  const curve = key.asymmetricKeyDetails?.namedCurve
  return key.asymmetricKeyType === 'ec' && (curve === 'prime256v1' || curve === 'P-256')
}
