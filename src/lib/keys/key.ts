import type { KeyObject, JsonWebKey } from 'node:crypto'

import { calculateJwkThumbprint } from 'jose'

import { CapiscioError } from '../errors.js'
import { didKeyOf } from './didkey.js'

export const KEY_ALGS = ['EdDSA', 'ES256', 'RS256'] as const
export type KeyAlg = (typeof KEY_ALGS)[number]

export const MIN_RSA_BITS = 2048

/** How messages name each algorithm's key type. */
export const KEY_NAMES: Record<KeyAlg, string> = {
  EdDSA: 'an Ed25519',
  ES256: 'a P-256',
  RS256: 'an RSA-2048',
}

/** A public JWK as the toolkit writes it: key members, then kid, alg and use. */
export interface PublicJwk {
  kty: string
  crv?: string
  x?: string
  y?: string
  n?: string
  e?: string
  kid?: string
  alg?: string
  use?: string
  [member: string]: unknown
}

/** The algorithm a key signs with; fails for anything outside the allow-list. */
export function algOf(key: KeyObject): KeyAlg {
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return 'EdDSA'
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve
      if (curve === 'prime256v1' || curve === 'P-256') return 'ES256'
      throw new CapiscioError('KEY_UNSUPPORTED', `EC curve ${curve ?? 'unknown'} is not supported; use P-256`)
    }
    case 'rsa': {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
      if (bits < MIN_RSA_BITS) {
        throw new CapiscioError(
          'KEY_UNSUPPORTED',
          `RSA keys must have at least ${MIN_RSA_BITS} bits (this one has ${bits})`,
        )
      }
      return 'RS256'
    }
    default:
      throw new CapiscioError(
        'KEY_UNSUPPORTED',
        `${key.asymmetricKeyType ?? 'this'} keys are not supported; use Ed25519, P-256 or RSA`,
      )
  }
}

const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  OKP: ['kty', 'crv', 'x'],
  EC: ['kty', 'crv', 'x', 'y'],
  RSA: ['kty', 'n', 'e'],
}
const PRIVATE_MEMBERS: Record<string, readonly string[]> = {
  OKP: ['d'],
  EC: ['d'],
  RSA: ['d', 'p', 'q', 'dp', 'dq', 'qi'],
}

function pick(jwk: JsonWebKey, members: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const m of members) if (jwk[m] !== undefined) out[m] = jwk[m]
  return out
}

/** The public JWK of a key, with its kid and alg and `use: "sig"` (docs/formats.md, "Key directory"). */
export function publicJwkOf(key: KeyObject, kid?: string): PublicJwk {
  const jwk = key.export({ format: 'jwk' })
  const out = pick(jwk, PUBLIC_MEMBERS[jwk.kty!] ?? []) as PublicJwk
  if (kid !== undefined) out.kid = kid
  out.alg = algOf(key)
  out.use = 'sig'
  return out
}

/** The private JWK: public members, private members, then kid, alg, use. */
export function privateJwkOf(privateKey: KeyObject, kid?: string): Record<string, unknown> {
  const jwk = privateKey.export({ format: 'jwk' })
  const out = {
    ...pick(jwk, PUBLIC_MEMBERS[jwk.kty!] ?? []),
    ...pick(jwk, PRIVATE_MEMBERS[jwk.kty!] ?? []),
  } as Record<string, unknown>
  if (kid !== undefined) out.kid = kid
  out.alg = algOf(privateKey)
  out.use = 'sig'
  return out
}

/** RFC 7638 SHA-256 thumbprint (base64url). */
export async function thumbprintOf(key: KeyObject): Promise<string> {
  const jwk = key.export({ format: 'jwk' })
  return calculateJwkThumbprint(jwk as Parameters<typeof calculateJwkThumbprint>[0], 'sha256')
}

/** The kid the toolkit gives a key that has none: the did:key for Ed25519, else the thumbprint. */
export async function defaultKidOf(publicKey: KeyObject): Promise<string> {
  return didKeyOf(publicKey) ?? (await thumbprintOf(publicKey))
}
