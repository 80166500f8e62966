import { createHmac, createPublicKey, randomUUID, sign as cryptoSign, type KeyObject } from 'node:crypto'

import { MAX_NUMERIC_DATE } from '../badge/claims.js'
import { MAX_BADGE_LENGTH, toLowS } from '../badge/jws.js'
import { CapiscioError } from '../errors.js'
import { keyFitsAlg } from '../keys/alg.js'
import { algForKey, HMAC_HASH, isHmacAlg, MIN_SECRET_BYTES, secretKeyFrom, type TokenAlg } from './algs.js'

/** Claims mintToken sets itself; extra claims may not override them. */
export const RESERVED_CLAIMS = ['iss', 'sub', 'aud', 'iat', 'nbf', 'exp', 'jti', 'type', 'roles'] as const

export const DEFAULT_TOKEN_TTL_SECONDS = 3600

export interface MintTokenOptions {
  /** The subject: who the token speaks for. */
  sub: string
  /** The identity type (claim "type"), e.g. "service" or "user". */
  type?: string
  /** Roles (claim "roles"). */
  roles?: readonly string[]
  /** Further claims, any JSON value; they may not reuse a claim set from the other options. */
  claims?: Record<string, unknown>
  aud?: string | readonly string[]
  iss?: string
  /** Lifetime in seconds (default 3600). */
  ttlSeconds?: number
  /** Default: a random UUID. */
  jti?: string
  kid?: string
  /** Sign with a shared secret (HS256 by default, or HS384/HS512). */
  secret?: string | Uint8Array | KeyObject
  /** Or with a private key: Ed25519 (EdDSA), P-256 (ES256) or RSA (RS256). */
  privateKey?: KeyObject
  /** For a secret: HS256 (default), HS384 or HS512. For a key, its own algorithm (the only one allowed). */
  alg?: TokenAlg
  /** The clock, in milliseconds (default Date.now). */
  now?: () => number
}

export interface MintedToken {
  token: string
  header: { alg: TokenAlg; typ: 'JWT'; kid?: string }
  claims: Record<string, unknown>
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url')

function usage(message: string, options: string[]): never {
  throw new CapiscioError('USAGE', message, { options })
}

/** Mints a bearer JWT for services that authenticate with JWTAuthenticator (docs/architecture.md §7). */
export function mintToken(options: MintTokenOptions): MintedToken {
  const { sub } = options
  if (typeof sub !== 'string' || sub.length === 0) usage('sub is required', ['sub'])
  if ((options.secret === undefined) === (options.privateKey === undefined))
    usage('sign with exactly one of a secret or a private key', ['secret', 'privateKey'])
  const ttl = options.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS
  if (!Number.isInteger(ttl) || ttl <= 0)
    usage('ttlSeconds must be a positive whole number of seconds', ['ttlSeconds'])

  let alg: TokenAlg
  let signWith: (input: Buffer) => Buffer
  if (options.secret !== undefined) {
    const secret = secretKeyFrom(options.secret)
    alg = options.alg ?? 'HS256'
    if (!isHmacAlg(alg)) usage(`${alg} needs a private key; a secret signs HS256, HS384 or HS512`, ['alg'])
    const min = MIN_SECRET_BYTES[alg]
    if ((secret.symmetricKeySize ?? 0) < min)
      usage(`${alg} needs a secret of at least ${min} bytes (RFC 7518 §3.2)`, ['alg'])
    const hash = HMAC_HASH[alg]
    signWith = (input) => createHmac(hash, secret).update(input).digest()
  } else {
    const key = options.privateKey!
    if (key.type !== 'private') usage('the key is not a private key', ['privateKey'])
    alg = algForKey(key)
    // Only keys a verifier here accepts: P-384 or secp256k1 would be labelled ES256, a short RSA
    // key RS256, and no verifier (ours included) would take the token.
    if (!keyFitsAlg(createPublicKey(key), alg))
      usage(
        'this key cannot sign tokens: use Ed25519 (EdDSA), P-256 (ES256) or RSA of 2048 bits or more (RS256)',
        ['privateKey'],
      )
    if (options.alg !== undefined && options.alg !== alg)
      usage(`this key signs ${alg}, not ${options.alg}`, ['alg'])
    signWith =
      alg === 'ES256'
        ? (input) => toLowS(cryptoSign('sha256', input, { key, dsaEncoding: 'ieee-p1363' }))
        : (input) => cryptoSign(alg === 'RS256' ? 'sha256' : null, input, key)
  }

  const extra = options.claims ?? {}
  for (const name of RESERVED_CLAIMS) {
    if (!Object.hasOwn(extra, name)) continue
    if (name === 'iat') usage('the claim "iat" is set to the time the token is minted', ['claims'])
    if (name === 'nbf')
      usage('the claim "nbf" is not set: a minted token is valid from the time it is minted', ['claims'])
    // Named by the option that sets it (the CLI shows its flag: exp is --ttl), quoted so the
    // claim's own name is not read as the option.
    const by = name === 'exp' ? 'ttlSeconds' : name
    usage(`the claim "${name}" is set by ${by}`, ['claims', by])
  }
  // What is signed is JSON: a value JSON cannot carry as it is (undefined, NaN, a BigInt, a Date)
  // would be signed as something else than the claims this returns, or throw a bare TypeError.
  for (const [name, value] of Object.entries(extra))
    if (!isJsonValue(value)) usage(`the claim ${name} is not a JSON value`, ['claims'])
  const nowMs = (options.now ?? Date.now)()
  if (!Number.isFinite(nowMs)) usage('the clock (now) did not return a number of milliseconds', ['now'])
  const iat = Math.floor(nowMs / 1000)
  if (iat + ttl > MAX_NUMERIC_DATE)
    usage(`ttl puts exp past ${MAX_NUMERIC_DATE} (year 9999), which verifiers refuse`, ['ttlSeconds'])
  for (const name of ['iss', 'jti', 'kid', 'type'] as const)
    if (options[name] !== undefined && (typeof options[name] !== 'string' || options[name] === ''))
      usage(`${name} must be a non-empty string`, [name])
  // A role is a name: an empty one names nothing, and the gateway sends the roles as one
  // comma-separated header, where a role with a comma would read as two.
  for (const role of options.roles ?? [])
    if (typeof role !== 'string' || role === '' || role.includes(','))
      usage('each role must be a non-empty string without a comma', ['roles'])
  const claims: Record<string, unknown> = {}
  if (options.iss !== undefined) claims.iss = options.iss
  claims.sub = sub
  if (options.aud !== undefined) {
    const aud = typeof options.aud === 'string' ? options.aud : [...options.aud]
    if (Array.isArray(aud) && aud.length === 0) usage('aud must not be empty', ['aud'])
    claims.aud = Array.isArray(aud) && aud.length === 1 ? aud[0] : aud
  }
  claims.iat = iat
  claims.exp = iat + ttl
  claims.jti = options.jti ?? randomUUID()
  if (options.type !== undefined) claims.type = options.type
  if (options.roles !== undefined) claims.roles = [...options.roles]
  // Defined, not assigned: a claim named __proto__ is a claim, not the object's prototype.
  for (const [name, value] of Object.entries(extra))
    Object.defineProperty(claims, name, { value, enumerable: true, writable: true, configurable: true })

  const header: MintedToken['header'] = { alg, typ: 'JWT' }
  if (options.kid !== undefined) header.kid = options.kid
  const signingInput = `${b64(header)}.${b64(claims)}`
  const signature = signWith(Buffer.from(signingInput, 'latin1')).toString('base64url')
  const token = `${signingInput}.${signature}`
  if (token.length > MAX_BADGE_LENGTH)
    usage(`the token would be ${token.length} bytes; verifiers take at most ${MAX_BADGE_LENGTH}`, [
      'claims',
      'sub',
    ])
  return { token, header, claims }
}

/** Whether a value survives JSON unchanged: null, booleans, finite numbers, strings, and plain arrays and objects of them. */
function isJsonValue(value: unknown, depth = 0): boolean {
  if (depth > 32) return false
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return true
  if (typeof value === 'number') return Number.isFinite(value)
  if (Array.isArray(value)) return value.every((v) => isJsonValue(v, depth + 1))
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
    return Object.values(value).every((v) => isJsonValue(v, depth + 1))
  return false
}
