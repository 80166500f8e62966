import { verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { createRequire } from 'node:module'

import { CapiscioError, type ErrorCode } from '../errors.js'
import { keyFitsAlg, type SignatureAlg } from '../keys/alg.js'
import { nestsWithin } from '../json-depth.js'

export const MAX_BADGE_LENGTH = 16 * 1024

/**
 * How deep a token's header or payload JSON may nest. A badge needs 3 levels (payload, vc,
 * credentialSubject) and a JWK 2; a bound keeps hostile nesting from overflowing the stack of anyone
 * who walks or prints the decoded value (`badge inspect --json` did, at 5,000 levels).
 */
export const MAX_JSON_DEPTH = 32

export interface DecodedJws {
  header: Record<string, unknown>
  payload: Record<string, unknown>
  /** `base64url(header) "." base64url(payload)`, the bytes the signature covers. */
  signingInput: string
  signature: Buffer
}

/**
 * Splits and decodes a compact JWS without verifying it. Every way a token can be malformed (size,
 * segment count, alphabet, non-canonical base64url, JSON that is not an object or nests too deep) is
 * one coded error. Non-canonical encodings of any part are refused so that no two token strings
 * share a signature (decoders ignore a last character's unused bits and a lone sixth-bit character).
 */
export function decodeJws(token: unknown, code: ErrorCode = 'BADGE_MALFORMED'): DecodedJws {
  if (typeof token !== 'string') throw new CapiscioError(code, 'the token is not a string')
  if (token.length > MAX_BADGE_LENGTH) {
    throw new CapiscioError(code, `the token is ${token.length} bytes; the limit is ${MAX_BADGE_LENGTH}`)
  }
  // One pass for the common case (three base64url parts); the checks below name what is wrong.
  if (!COMPACT.test(token)) {
    const first = token.indexOf('.')
    const second = token.indexOf('.', first + 1)
    if (first < 0 || second < 0 || token.indexOf('.', second + 1) >= 0) {
      throw new CapiscioError(code, 'the token is not three base64url parts separated by dots')
    }
    throw new CapiscioError(code, 'a part of the token is empty or not base64url')
  }
  const first = token.indexOf('.')
  const second = token.indexOf('.', first + 1)
  const h = token.slice(0, first)
  const p = token.slice(first + 1, second)
  const s = token.slice(second + 1)
  let header = headerCache.get(h)
  if (!isCanonicalB64url(p) || !isCanonicalB64url(s) || (header === undefined && !isCanonicalB64url(h))) {
    throw new CapiscioError(code, 'a part of the token is not canonical base64url')
  }
  if (header === undefined) {
    header = deepFreeze(parseSegment(h, 'header', code))
    if (headerCache.size >= HEADER_CACHE_SIZE) headerCache.clear()
    headerCache.set(h, header)
  }
  return {
    header,
    payload: parseSegment(p, 'payload', code),
    signingInput: token.slice(0, second),
    signature: Buffer.from(s, 'base64url'),
  }
}

const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/**
 * Decoded headers by their base64url text. One signer's tokens share one header, so a verifier
 * parses it once instead of per token; junk headers only churn the cache (cleared when full). The
 * entries are frozen, since every token with that header gets the same object.
 */
const headerCache = new Map<string, Record<string, unknown>>()
const HEADER_CACHE_SIZE = 256

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

/**
 * Whether an unpadded base64url string (alphabet already checked) is the one encoding of its bytes:
 * its length is not 4k+1 and the last character's unused low bits are zero. O(1), unlike a
 * re-encode, because it runs on every request.
 */
function isCanonicalB64url(segment: string): boolean {
  const rest = segment.length % 4
  if (rest === 0) return true
  if (rest === 1) return false
  const c = segment.charCodeAt(segment.length - 1)
  // The character's 6-bit value: A-Z 0-25, a-z 26-51, 0-9 52-61, '-' 62, '_' 63.
  const value = c >= 97 ? c - 71 : c >= 65 ? c - 65 : c >= 48 ? c + 4 : c === 45 ? 62 : 63
  // 2 characters left over carry 1 byte (4 unused bits), 3 carry 2 bytes (2 unused bits).
  return (value & (rest === 2 ? 0x0f : 0x03)) === 0
}

/**
 * Whether the text has at most `max` '{' and '[' in all, so it cannot nest deeper: a few native
 * indexOf calls that spare a real badge (a handful of brackets) the character-by-character scan.
 */
function fewOpeners(text: string, max: number): boolean {
  let count = 0
  for (const opener of ['{', '[']) {
    for (let i = text.indexOf(opener); i >= 0; i = text.indexOf(opener, i + 1))
      if (++count > max) return false
  }
  return true
}

function parseSegment(segment: string, what: string, code: ErrorCode): Record<string, unknown> {
  const text = Buffer.from(segment, 'base64url').toString('utf8')
  // Checked before JSON.parse: the bound is on what the parsed value may be, whatever parses it.
  if (!fewOpeners(text, MAX_JSON_DEPTH) && !nestsWithin(text, MAX_JSON_DEPTH)) {
    throw new CapiscioError(code, `the ${what} nests deeper than ${MAX_JSON_DEPTH} levels`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
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

/** Loads sodium-native once (on the first verify, so other commands never pay for it); null if it cannot load. */
function loadSodium(): Sodium | null {
  if (sodium === undefined) {
    try {
      sodium = nodeRequire('sodium-native') as Sodium
    } catch {
      sodium = null
    }
  }
  return sodium
}

/**
 * The Ed25519 implementation in use. libsodium (sodium-native) verifies twice as fast as OpenSSL
 * here; node:crypto is the fallback wherever the addon cannot load. Both refuse non-canonical
 * signatures.
 */
export function ed25519Backend(): Ed25519Backend {
  if (forced) return forced
  return loadSodium() ? 'libsodium' : 'node:crypto'
}

/**
 * For tests: pin a backend (undefined restores the automatic choice). Pinning libsodium loads it,
 * and fails where it cannot load rather than leaving every signature "invalid".
 */
export function useEd25519Backend(backend: Ed25519Backend | undefined): void {
  if (backend === 'libsodium' && !loadSodium()) {
    throw new CapiscioError('INTERNAL_ERROR', 'libsodium (sodium-native) cannot be loaded here')
  }
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

/** P-256's group order n, halved: big-endian, 32 bytes. */
const P256_HALF_N = Buffer.from('7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8', 'hex')
const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551')

/**
 * Whether an IEEE P1363 ES256 signature (r ‖ s) has a low S (s ≤ n/2). ECDSA signatures are
 * malleable: (r, n − s) verifies too. Only the low-S twin of a badge signature is accepted, as
 * Bitcoin and Ethereum do, so one signature has one token string. Badges only: other ES256 signers
 * (a2a-go, the Python a2a-sdk) emit high S half the time, and their agent-card signatures must
 * verify (conformance a2a/signing_interop_vectors.json), so card verification must not apply this.
 */
export function isLowS(signature: Buffer): boolean {
  return Buffer.compare(signature.subarray(32, 64), P256_HALF_N) <= 0
}

/** The low-S twin of an ES256 signature (r, n − s), or the signature itself when already low. */
export function toLowS(signature: Buffer): Buffer {
  if (isLowS(signature)) return signature
  const s = P256_N - BigInt('0x' + signature.subarray(32, 64).toString('hex'))
  return Buffer.concat([signature.subarray(0, 32), Buffer.from(s.toString(16).padStart(64, '0'), 'hex')])
}

/**
 * Verifies a JWS signature directly, without jose: this is the verifier's hot path, jose's
 * WebCrypto route costs about half the throughput here, and the JWS rules it would add are the ones
 * decodeJws and the verifiers already enforce. `lowS` (badges) refuses the high-S twin of an ES256
 * signature; bearer tokens must take both, since other JWT signers emit either.
 */
export function verifySignature(
  alg: SignatureAlg,
  key: KeyObject,
  signingInput: string,
  signature: Buffer,
  { lowS = true }: { lowS?: boolean } = {},
): boolean {
  if (!keyFitsAlg(key, alg)) return false
  const data = Buffer.from(signingInput, 'latin1')
  try {
    if (alg === 'RS256') return cryptoVerify('sha256', data, key, signature)
    if (signature.length !== 64) return false
    if (alg === 'ES256')
      return (
        (!lowS || isLowS(signature)) &&
        cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)
      )
    if (ed25519Backend() === 'libsodium')
      return sodium!.crypto_sign_verify_detached(signature, data, rawEd25519(key))
    return cryptoVerify(null, data, key, signature)
  } catch {
    return false
  }
}
