import { createSecretKey, type KeyObject } from 'node:crypto'

import { CapiscioError } from '../errors.js'
import type { SignatureAlg } from '../keys/alg.js'

/** The algorithms a bearer token may use (docs/formats.md, "Bearer token"): never `none`. */
export const TOKEN_ALGS = ['HS256', 'HS384', 'HS512', 'RS256', 'ES256', 'EdDSA'] as const
export type TokenAlg = (typeof TOKEN_ALGS)[number]
export type HmacAlg = 'HS256' | 'HS384' | 'HS512'

export const HMAC_ALGS: readonly HmacAlg[] = ['HS256', 'HS384', 'HS512']

export function isTokenAlg(alg: unknown): alg is TokenAlg {
  return typeof alg === 'string' && (TOKEN_ALGS as readonly string[]).includes(alg)
}

export function isHmacAlg(alg: unknown): alg is HmacAlg {
  return alg === 'HS256' || alg === 'HS384' || alg === 'HS512'
}

/** The hash behind each HMAC algorithm. */
export const HMAC_HASH = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' } as const

/**
 * RFC 7518 §3.2: an HMAC key must be at least as long as the hash output. HS256's 32 bytes is also
 * the floor for any secret this toolkit accepts; HS384 and HS512 need 48 and 64.
 */
export const MIN_SECRET_BYTES = { HS256: 32, HS384: 48, HS512: 64 } as const

/** The public-key algorithm a key signs with: from the key's type, never from a token. */
export function algForKey(key: KeyObject): SignatureAlg {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA'
  if (key.asymmetricKeyType === 'rsa') return 'RS256'
  return 'ES256'
}

/** The HMAC algorithms a secret is long enough for (RFC 7518 §3.2). */
export function hmacAlgsFor(secret: KeyObject): HmacAlg[] {
  const size = secret.symmetricKeySize ?? 0
  return HMAC_ALGS.filter((alg) => size >= MIN_SECRET_BYTES[alg])
}

/**
 * A shared secret as a KeyObject. Text is taken as its UTF-8 bytes (what PyJWT, jose and
 * jsonwebtoken do with a string secret). Shorter than 32 bytes is refused: a short secret can be
 * brute-forced offline from one token.
 */
export function secretKeyFrom(secret: string | Uint8Array | KeyObject): KeyObject {
  const key =
    typeof secret === 'object' && 'type' in secret && !(secret instanceof Uint8Array)
      ? secret
      : createSecretKey(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret))
  if (key.type !== 'secret')
    throw new CapiscioError('USAGE', 'the secret must be a secret key, not a public or private key')
  const size = key.symmetricKeySize ?? 0
  if (size < MIN_SECRET_BYTES.HS256) {
    throw new CapiscioError(
      'USAGE',
      `the secret is ${size} bytes; HMAC secrets must be at least 32 bytes (RFC 7518 §3.2)`,
      { hint: 'generate one with: openssl rand -base64 48' },
    )
  }
  return key
}
