import { createHmac, type KeyObject } from 'node:crypto'

import { MAX_NUMERIC_DATE } from '../badge/claims.js'
import { decodeJws, verifySignature } from '../badge/jws.js'
import { MAX_KIDLESS_KEYS } from '../badge/verify.js'
import { CapiscioError, type ErrorCode } from '../errors.js'
import type { CandidateKey, KeyQuery, KeySource } from '../keysource/types.js'
import { sameText } from '../same-text.js'
import {
  HMAC_HASH,
  MIN_SECRET_BYTES,
  hmacAlgsFor,
  isHmacAlg,
  isTokenAlg,
  secretKeyFrom,
  type TokenAlg,
} from './algs.js'

export interface VerifyTokenOptions {
  /** The shared secret for HS256/384/512 (at least 32 bytes). */
  secret?: string | Uint8Array | KeyObject
  /** Where public keys come from, for RS256, ES256 and EdDSA (a key file, a trust store, a JWKS). */
  keys?: KeySource
  /**
   * The algorithms accepted. Default: the HMAC algorithms the secret is long enough for, or
   * RS256, ES256 and EdDSA for a key source (each key then verifies only its own type's
   * algorithm). Never taken from the token.
   */
  algorithms?: readonly TokenAlg[]
  /** The verifier's identity: the token's aud (a string or an array) must include one of these. */
  audience?: string | readonly string[]
  /** The expected issuer(s): the token's iss must be one. */
  issuer?: string | readonly string[]
  /** Claims that must be present (default ["sub"]). */
  requiredClaims?: readonly string[]
  /** Tolerance for clock differences, in seconds (default 60). */
  clockSkewSeconds?: number
  /** Refuse tokens issued longer ago than this many seconds (they must then carry iat). */
  maxAgeSeconds?: number
  /** The clock, in milliseconds (default Date.now). */
  now?: () => number
}

export interface VerifiedToken {
  /** Shared by every token with the same header (decoded once, frozen): read it, do not change it. */
  header: Readonly<Record<string, unknown>>
  claims: Record<string, unknown>
  alg: TokenAlg
  /** The kid of the key that verified the signature (a key source's keys only). */
  kid?: string
  /** The public key that verified the signature (a key source's keys only), for re-checking its trust. */
  key?: KeyObject
}

/** Checks a token; throws a CapiscioError with a TOKEN_* code for the first check it fails. */
export type TokenVerifier = (token: string) => Promise<VerifiedToken>

const ASYMMETRIC: readonly TokenAlg[] = ['RS256', 'ES256', 'EdDSA']

function fail(code: ErrorCode, message: string): never {
  throw new CapiscioError(code, message)
}

const asList = (v: string | readonly string[] | undefined) =>
  v === undefined ? undefined : typeof v === 'string' ? [v] : v

/**
 * Builds a verifier for bearer JWTs (docs/architecture.md §7). The options are checked once here,
 * so that every token costs only its own checks, in this order: shape and alg, claim types,
 * issuer, key and signature, time, audience, required claims.
 */
export function createTokenVerifier(given: VerifyTokenOptions): TokenVerifier {
  // Called from plain JS without options: the usage error below, not a TypeError.
  const options: VerifyTokenOptions = given ?? {}
  if (options.secret !== undefined && options.keys !== undefined) {
    throw new CapiscioError('USAGE', 'choose one: a secret or a key source, not both', {
      options: ['secret', 'keys'],
    })
  }
  const secret = options.secret === undefined ? undefined : secretKeyFrom(options.secret)
  if (!secret && !options.keys) {
    throw new CapiscioError('USAGE', 'a secret or a key source is required to verify tokens', {
      options: ['secret', 'keys'],
    })
  }
  const allowed = new Set<TokenAlg>(options.algorithms ?? (secret ? hmacAlgsFor(secret) : ASYMMETRIC))
  for (const alg of allowed) {
    if (!isTokenAlg(alg)) throw new CapiscioError('USAGE', `${String(alg)} is not a supported algorithm`)
    // An HMAC alg needs the secret; a public-key alg a key source. Mixing them is how
    // "HS256 keyed with the public key" attacks begin, so the allow-list must fit the key.
    if (isHmacAlg(alg) !== Boolean(secret)) {
      throw new CapiscioError(
        'USAGE',
        `${alg} cannot be verified with ${secret ? 'a secret' : 'public keys'}; allow ${secret ? 'HS256, HS384 or HS512' : 'RS256, ES256 or EdDSA'}`,
        { options: ['algorithms'] },
      )
    }
    if (secret && isHmacAlg(alg) && (secret.symmetricKeySize ?? 0) < MIN_SECRET_BYTES[alg]) {
      throw new CapiscioError(
        'USAGE',
        `${alg} needs a secret of at least ${MIN_SECRET_BYTES[alg]} bytes (RFC 7518 §3.2)`,
        { options: ['algorithms'] },
      )
    }
  }
  if (allowed.size === 0) throw new CapiscioError('USAGE', 'the algorithm allow-list is empty')
  const audiences = asList(options.audience)
  const issuers = asList(options.issuer)
  const required = options.requiredClaims ?? ['sub']
  const skew = options.clockSkewSeconds ?? 60
  const clock = options.now ?? Date.now
  const allowedText = [...allowed].join(', ')

  const keys = options.keys
  const findSync = keys?.findSync?.bind(keys)

  /** Steps 5 to 7, once the signature has verified. */
  const finish = (
    header: Record<string, unknown>,
    claims: Record<string, unknown>,
    alg: TokenAlg,
    signer: CandidateKey | undefined,
    audList: readonly string[] | undefined,
  ): VerifiedToken => {
    // 5. Time.
    const now = clock() / 1000
    const { exp, nbf, iat } = claims as { exp?: number; nbf?: number; iat?: number }
    if (exp !== undefined && now - skew >= exp) fail('TOKEN_EXPIRED', 'the token expired')
    if (nbf !== undefined && nbf > now + skew) fail('TOKEN_NOT_YET_VALID', 'the token is not valid yet (nbf)')
    if (iat !== undefined && iat > now + skew)
      fail('TOKEN_NOT_YET_VALID', 'the token was issued in the future (iat)')
    if (options.maxAgeSeconds !== undefined) {
      if (iat === undefined) fail('TOKEN_CLAIMS_INVALID', 'the token has no iat, so its age is unknown')
      if (now - iat > options.maxAgeSeconds + skew)
        fail('TOKEN_EXPIRED', `the token is older than the maximum age of ${options.maxAgeSeconds}s`)
    }

    // 6. Audience.
    if (audiences) {
      if (audList === undefined) fail('TOKEN_AUDIENCE_MISMATCH', 'the token has no aud')
      if (!audList.some((a) => audiences.includes(a)))
        fail('TOKEN_AUDIENCE_MISMATCH', `the token's aud does not include ${audiences.join(' or ')}`)
    }

    // 7. Required claims.
    for (const name of required) {
      if (!Object.hasOwn(claims, name) || claims[name] === null)
        fail('TOKEN_CLAIMS_INVALID', `the token has no ${name} claim`)
    }

    const result: VerifiedToken = { header, claims, alg }
    if (signer) {
      if (signer.kid !== undefined) result.kid = signer.kid
      result.key = signer.publicKey
    }
    return result
  }

  /**
   * The whole check, synchronous where nothing needs waiting for (a secret, or keys held in
   * memory), so that a busy service pays for no promise it does not need.
   */
  const check = (token: string): VerifiedToken | Promise<VerifiedToken> => {
    // 1. Shape and algorithm.
    const { header, payload: claims, signingInput, signature } = decodeJws(token, 'TOKEN_MALFORMED')
    const alg = header.alg
    if (!isTokenAlg(alg) || !allowed.has(alg)) {
      fail(
        'TOKEN_MALFORMED',
        `alg ${JSON.stringify(alg) ?? 'missing'} is not allowed; allowed: ${allowedText}`,
      )
    }
    if (header.crit !== undefined)
      fail('TOKEN_MALFORMED', 'critical header parameters (crit) are not supported')
    const kid = header.kid
    if (kid !== undefined && (typeof kid !== 'string' || kid.length === 0 || kid.length > 1024))
      fail('TOKEN_MALFORMED', 'kid must be a string of 1 to 1024 characters')

    // 2. Registered claims have their RFC 7519 types.
    for (const name of ['exp', 'nbf', 'iat'] as const) {
      const v = claims[name]
      // Past year 9999 a date means nothing (and 1e20 is no longer a whole number of seconds).
      if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v > MAX_NUMERIC_DATE))
        fail(
          'TOKEN_CLAIMS_INVALID',
          `${name} must be a number (NumericDate) up to ${MAX_NUMERIC_DATE} (year 9999)`,
        )
    }
    const iss = claims.iss
    if (iss !== undefined && typeof iss !== 'string') fail('TOKEN_CLAIMS_INVALID', 'iss must be a string')
    if (claims.jti !== undefined && typeof claims.jti !== 'string')
      fail('TOKEN_CLAIMS_INVALID', 'jti must be a string')
    const aud = claims.aud
    const audList = aud === undefined ? undefined : typeof aud === 'string' ? [aud] : aud
    if (audList !== undefined && (!Array.isArray(audList) || !audList.every((a) => typeof a === 'string')))
      fail('TOKEN_CLAIMS_INVALID', 'aud must be a string or an array of strings')

    // 3. Issuer, before any key lookup or fetch.
    if (issuers && (iss === undefined || !issuers.includes(iss)))
      fail(
        'TOKEN_ISSUER_MISMATCH',
        iss === undefined ? 'the token has no iss' : `issuer ${iss} is not expected`,
      )

    // 4. Key and signature.
    if (isHmacAlg(alg)) {
      // Compared as text: decodeJws refuses non-canonical base64url, so equal bytes are equal text,
      // and a digest as a string skips the Buffer that costs a third of the HMAC.
      const expected = createHmac(HMAC_HASH[alg], secret!).update(signingInput, 'latin1').digest('base64url')
      if (!sameText(expected, token.slice(signingInput.length + 1)))
        fail('TOKEN_SIGNATURE_INVALID', 'the signature does not verify')
      return finish(header, claims, alg, undefined, audList as string[] | undefined)
    }
    const signedBy = (found: CandidateKey[]): VerifiedToken => {
      const candidates = pickCandidates(keys!, found, kid as string | undefined, iss, alg)
      const signer = candidates.find((c) =>
        verifySignature(alg, c.publicKey, signingInput, signature, { lowS: false }),
      )
      if (!signer) fail('TOKEN_SIGNATURE_INVALID', 'the signature does not verify')
      return finish(header, claims, alg, signer, audList as string[] | undefined)
    }
    const query = keyQuery(kid as string | undefined, iss, alg)
    const found = findSync?.(query)
    return found ? signedBy(found) : keys!.find(query).then(signedBy)
  }

  const verifier: TokenVerifier = async (token) => check(token)
  CHECKERS.set(verifier, check)
  return verifier
}

/** Each verifier's synchronous-when-possible form, for JWTAuthenticator (tokenChecker). */
const CHECKERS = new WeakMap<TokenVerifier, (token: string) => VerifiedToken | Promise<VerifiedToken>>()

/**
 * The verifier's check as it runs: a result at once when nothing needed waiting for, else a
 * promise; a refusal is thrown either way. For callers that avoid a promise per token.
 */
export function tokenChecker(
  verifier: TokenVerifier,
): (token: string) => VerifiedToken | Promise<VerifiedToken> {
  return CHECKERS.get(verifier) ?? verifier
}

/** Verifies one token; a service that verifies many builds its verifier once with createTokenVerifier. */
export async function verifyToken(token: string, options: VerifyTokenOptions): Promise<VerifiedToken> {
  // async: a usage error rejects the promise like every other refusal, rather than throwing.
  return createTokenVerifier(options)(token)
}

/**
 * The keys that may have signed a token. A trust store hands out each key with the issuers it is
 * bound to (docs/formats.md, "Trust store"): a token that names an iss must be signed by a key
 * bound to it, so one partner cannot speak for another; a token without iss claims no issuer.
 */
function keyQuery(kid: string | undefined, iss: unknown, alg: 'RS256' | 'ES256' | 'EdDSA'): KeyQuery {
  const issuer = typeof iss === 'string' ? iss : ''
  return kid === undefined ? { iss: issuer, alg } : { kid, iss: issuer, alg }
}

function pickCandidates(
  keys: KeySource,
  found: CandidateKey[],
  kid: string | undefined,
  iss: unknown,
  alg: 'RS256' | 'ES256' | 'EdDSA',
): CandidateKey[] {
  const issuer = iss as string | undefined
  const candidates = found.filter((c) => issuer === undefined || !c.issuers || c.issuers.includes(issuer))
  const which = kid === undefined ? 'this token (it has no kid)' : `kid ${kid}`
  if (candidates.length === 0) {
    // A remote key set that never loaded is an outage, not a bad token: say so (exit 4, not 3).
    if (keys.ready?.() === false)
      throw new CapiscioError('NETWORK_ERROR', keys.notReadyReason?.() ?? 'the key source is not loaded')
    if (found.length > 0)
      fail('TOKEN_SIGNATURE_INVALID', `the key for ${which} may not sign for issuer ${issuer}`)
    fail('TOKEN_SIGNATURE_INVALID', `no known ${alg} key for ${which}`)
  }
  if (kid === undefined && candidates.length > MAX_KIDLESS_KEYS) {
    fail(
      'TOKEN_SIGNATURE_INVALID',
      `the token has no kid and ${candidates.length} keys could have signed it; without a kid at most ${MAX_KIDLESS_KEYS} are tried`,
    )
  }
  return candidates
}
