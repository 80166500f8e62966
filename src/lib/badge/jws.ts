import { verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { createRequire } from 'node:module'

import { CapiscioError, type ErrorCode } from '../errors.js'
import { keyFitsAlg, type BadgeAlg } from '../keys/alg.js'

export const MAX_BADGE_LENGTH = 16 * 1024

const B64URL = /^[A-Za-z0-9_-]+$/

export interface DecodedJws {
  header: Record<string, unknown>
  payload: Record<string, unknown>
  /** `base64url(header) "." base64url(payload)`, the bytes the signature covers. */
  signingInput: string
  signature: Buffer
}

/**
 * Splits and decodes a compact JWS without verifying it. Every way a token can be malformed (size,
 * segment count, alphabet, non-canonical base64url, JSON that is not an object) is one coded error.
 * Non-canonical signature encodings are refused so that no two token strings share a signature.
 */
export function decodeJws(token: unknown, code: ErrorCode = 'BADGE_MALFORMED'): DecodedJws {
  if (typeof token !== 'string') throw new CapiscioError(code, 'the token is not a string')
  if (token.length > MAX_BADGE_LENGTH) {
    throw new CapiscioError(code, `the token is ${token.length} bytes; the limit is ${MAX_BADGE_LENGTH}`)
  }
  const first = token.indexOf('.')
  const second = token.indexOf('.', first + 1)
  if (first < 0 || second < 0 || token.indexOf('.', second + 1) >= 0) {
    throw new CapiscioError(code, 'the token is not three base64url parts separated by dots')
  }
  const h = token.slice(0, first)
  const p = token.slice(first + 1, second)
  const s = token.slice(second + 1)
  if (!B64URL.test(h) || !B64URL.test(p) || !B64URL.test(s)) {
    throw new CapiscioError(code, 'a part of the token is empty or not base64url')
  }
  const signature = Buffer.from(s, 'base64url')
  if (signature.toString('base64url') !== s)
    throw new CapiscioError(code, 'the signature is not canonical base64url')
  return {
    header: parseSegment(h, 'header', code),
    payload: parseSegment(p, 'payload', code),
    signingInput: token.slice(0, second),
    signature,
  }
}

function parseSegment(segment: string, what: string, code: ErrorCode): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
  } catch {
    throw new CapiscioError(code, `the ${what} is not JSON`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CapiscioError(code, `the ${what} is not a JSON object`)
  }
  return value as Record<string, unknown>
}

type Sodium = { crypto_sign_verify_detached(sig: Buffer, msg: Buffer, publicKey: Buffer): boolean }
export type Ed25519Backend = 'libsodium' | 'node:crypto'

const nodeRequire = createRequire(import.meta.url)
let sodium: Sodium | null | undefined
let forced: Ed25519Backend | undefined
const rawKeys = new WeakMap<KeyObject, Buffer>()

/**
 * The Ed25519 implementation in use. libsodium (sodium-native, loaded on the first verify so that
 * other commands never pay for it) verifies twice as fast as OpenSSL here; node:crypto is the
 * fallback wherever the addon cannot load. Both refuse non-canonical signatures.
 */
export function ed25519Backend(): Ed25519Backend {
  if (forced) return forced
  if (sodium === undefined) {
    try {
      sodium = nodeRequire('sodium-native') as Sodium
    } catch {
      sodium = null
    }
  }
  return sodium ? 'libsodium' : 'node:crypto'
}

/** For tests: pin a backend (undefined restores the automatic choice). */
export function useEd25519Backend(backend: Ed25519Backend | undefined): void {
  forced = backend
}

function rawEd25519(key: KeyObject): Buffer {
  let raw = rawKeys.get(key)
  if (!raw) {
    raw = Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url')
    rawKeys.set(key, raw)
  }
  return raw
}

/**
 * Verifies a JWS signature directly, without jose: this is the verifier's hot path, jose's
 * WebCrypto route costs about half the throughput here, and the JWS rules it would add are the ones
 * decodeJws and verifyBadge already enforce.
 */
export function verifySignature(
  alg: BadgeAlg,
  key: KeyObject,
  signingInput: string,
  signature: Buffer,
): boolean {
  if (signature.length !== 64 || !keyFitsAlg(key, alg)) return false
  const data = Buffer.from(signingInput, 'latin1')
  try {
    if (alg === 'ES256') return cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)
    if (ed25519Backend() === 'libsodium')
      return sodium!.crypto_sign_verify_detached(signature, data, rawEd25519(key))
    return cryptoVerify(null, data, key, signature)
  } catch {
    return false
  }
}
