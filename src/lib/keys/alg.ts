import type { KeyObject } from 'node:crypto'

/** The only algorithms a badge may use: never `none`, never HMAC (docs/formats.md, "Trust badge"). */
export const BADGE_ALGS = ['EdDSA', 'ES256'] as const
export type BadgeAlg = (typeof BADGE_ALGS)[number]

export function isBadgeAlg(alg: unknown): alg is BadgeAlg {
  return alg === 'EdDSA' || alg === 'ES256'
}

/** Whether a key can verify an algorithm: Ed25519 for EdDSA, P-256 for ES256. */
export function keyFitsAlg(key: KeyObject, alg: BadgeAlg): boolean {
  if (alg === 'EdDSA') return key.asymmetricKeyType === 'ed25519'
  const curve = key.asymmetricKeyDetails?.namedCurve
  return key.asymmetricKeyType === 'ec' && (curve === 'prime256v1' || curve === 'P-256')
}
