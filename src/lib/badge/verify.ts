import type { KeyObject } from 'node:crypto'

import { CapiscioError } from '../errors.js'
import { didKeyOf } from '../keys/didkey.js'
import { DidKeySource } from '../keysource/didkey.js'
import type { CandidateKey, KeyQuery, KeySource } from '../keysource/types.js'
import { validateClaims, type BadgeClaims, type TrustLevel } from './claims.js'
import { isBadgeAlg, type BadgeAlg } from '../keys/alg.js'
import { decodeJws, verifySignature } from './jws.js'

export interface VerifyBadgeOptions {
  /** Where trusted keys come from. Optional only when acceptSelfSigned is the sole way in. */
  keys?: KeySource
  /** Accept self-signed badges (did:key issuer, level "0"), resolving the key from the DID. */
  acceptSelfSigned?: boolean
  /** Issuer allow-list, checked before any key lookup or fetch. */
  issuers?: readonly string[]
  /** This verifier's identity; a badge with an aud must list it. */
  audience?: string
  /** Tolerance for clock differences, in seconds (default 60). */
  clockSkewSeconds?: number
  /** Refuse badges issued longer ago than this many seconds. */
  maxAgeSeconds?: number
  /** Revoked badge ids, in addition to the key source's own list. */
  isRevoked?: (jti: string) => boolean | Promise<boolean>
  /** The clock, in milliseconds (default Date.now). */
  now?: () => number
}

export interface VerificationResult {
  valid: true
  claims: BadgeClaims
  header: Record<string, unknown>
  /** The kid of the key that verified the signature. */
  kid?: string
  trustLevel: TrustLevel
  selfSigned: boolean
  warnings: string[]
  /**
   * The key that verified the signature, so that a cache of results can ask whether it is still
   * trusted (see stillTrusted). Not enumerable: never part of JSON output.
   */
  readonly signingKey: KeyObject
}

const didKeys = new DidKeySource()

/**
 * A verification result. A class rather than a literal with signingKey defined non-enumerable: the
 * key is a getter on the prototype, so it stays out of JSON and spreads all the same, without
 * Object.defineProperty's slow path on every verified badge.
 */
class Verified implements VerificationResult {
  // declare: no class fields emitted, so the properties come in the constructor's order.
  declare readonly valid: true
  declare readonly claims: BadgeClaims
  declare readonly header: Record<string, unknown>
  declare kid?: string
  declare readonly trustLevel: TrustLevel
  declare readonly selfSigned: boolean
  declare readonly warnings: string[]
  readonly #signingKey: KeyObject

  constructor(
    claims: BadgeClaims,
    header: Record<string, unknown>,
    kid: string | undefined,
    trustLevel: TrustLevel,
    selfSigned: boolean,
    warnings: string[],
    signingKey: KeyObject,
  ) {
    // Assigned in the order JSON output has always shown.
    this.valid = true
    this.claims = claims
    this.header = header
    this.trustLevel = trustLevel
    this.selfSigned = selfSigned
    this.warnings = warnings
    if (kid !== undefined) this.kid = kid
    this.#signingKey = signingKey
  }

  get signingKey(): KeyObject {
    return this.#signingKey
  }
}

/** The most keys a badge without a kid (the Go core's) is tried against; larger sets need kids. */
export const MAX_KIDLESS_KEYS = 8

function fail(code: ConstructorParameters<typeof CapiscioError>[0], message: string): never {
  throw new CapiscioError(code, message)
}

/**
 * Whether a key may sign this badge: for its issuer (a did:key issuer is its own key) and at its
 * level (a key added with a maximum level vouches for no more).
 */
function keyMaySignFor(candidate: CandidateKey, iss: string, level: TrustLevel): boolean {
  if (candidate.issuers && !candidate.issuers.includes(iss)) return false
  if (candidate.maxLevel !== undefined && Number(level) > candidate.maxLevel) return false
  if (iss.startsWith('did:key:')) return didKeyOf(candidate.publicKey) === iss
  return true
}

/**
 * Verifies a trust badge in the order of docs/architecture.md §5; the first failed check throws a CapiscioError with
 * its BADGE_* code. The same function serves the CLI, the gateway and library users.
 */
export async function verifyBadge(
  token: string,
  options: VerifyBadgeOptions = {},
): Promise<VerificationResult> {
  return verifyBadgeNow(token, options)
}

/**
 * verifyBadge without waiting where nothing needs waiting for: with keys held in memory (findSync)
 * and no revocation list, the answer (or the refusal, thrown) comes at once, with no promise and no
 * microtask: the gateway's hot path for a badge it has not seen. Otherwise a promise, as verifyBadge.
 */
export function verifyBadgeNow(
  token: string,
  options: VerifyBadgeOptions = {},
): VerificationResult | Promise<VerificationResult> {
  // Steps 1-3: shape, claims, issuer allow-list.
  const parsed = parse(token, options)
  // Step 4: the keys, at once when the source holds them in memory.
  const found = findKeysNow(parsed, options)
  return found instanceof Promise
    ? found.then((keys) => afterKeys(parsed, keys, options))
    : afterKeys(parsed, found, options)
}

interface Parsed {
  header: Record<string, unknown>
  claims: BadgeClaims
  alg: BadgeAlg
  kid: string | undefined
  level: TrustLevel
  signingInput: string
  signature: Buffer
}

/** Steps 1-3. */
function parse(token: string, options: VerifyBadgeOptions): Parsed {
  // 1. Shape.
  const { header, payload, signingInput, signature } = decodeJws(token)
  const alg = header.alg
  if (!isBadgeAlg(alg))
    fail('BADGE_MALFORMED', `alg ${JSON.stringify(alg) ?? 'missing'} is not allowed; use EdDSA or ES256`)
  if (header.crit !== undefined)
    fail('BADGE_MALFORMED', 'critical header parameters (crit) are not supported')
  const kid = header.kid
  if (kid !== undefined && (typeof kid !== 'string' || kid.length === 0 || kid.length > 1024)) {
    fail('BADGE_MALFORMED', 'kid must be a string of 1 to 1024 characters')
  }

  // 2. Claims.
  const claims = validateClaims(payload)

  // 3. Issuer allow-list, before any lookup or fetch.
  if (options.issuers && options.issuers.length > 0 && !options.issuers.includes(claims.iss)) {
    throw new CapiscioError(
      'BADGE_ISSUER_UNTRUSTED',
      `issuer ${JSON.stringify(claims.iss)} is not on the allow-list`,
      {
        hint: `if you trust ${JSON.stringify(claims.iss)}, add it to issuers`,
        options: ['issuers'],
      },
    )
  }
  const level = claims.vc.credentialSubject.level
  return { header, claims, alg, kid: kid as string | undefined, level, signingInput, signature }
}

interface FoundKeys {
  candidates: CandidateKey[]
  viaDidKey: boolean
  unbound: boolean
}

/** Step 4's lookup: at once from keys held in memory, else a promise. */
function findKeysNow(p: Parsed, options: VerifyBadgeOptions): FoundKeys | Promise<FoundKeys> {
  const query = keyQueryOf(p.kid, p.claims.iss, p.alg)
  const found = options.keys?.findSync?.(query)
  if (found !== undefined) {
    const candidates = found.filter((c) => keyMaySignFor(c, query.iss, p.level))
    if (candidates.length > 0 || !options.acceptSelfSigned)
      return { candidates, viaDidKey: false, unbound: found.length > 0 && candidates.length === 0 }
  }
  return findKeys(query, p.level, options)
}

/** Steps 4 (the answer) to 9. */
function afterKeys(
  p: Parsed,
  { candidates, viaDidKey, unbound }: FoundKeys,
  options: VerifyBadgeOptions,
): VerificationResult | Promise<VerificationResult> {
  const { claims, kid, level, alg } = p
  if (candidates.length === 0) {
    // Say which it is: an unknown key, or a trusted one that is not bound to this issuer or level.
    const which = kid === undefined ? `issuer ${claims.iss}` : `kid ${kid}`
    if (unbound) {
      throw new CapiscioError(
        'BADGE_ISSUER_UNTRUSTED',
        // Values quoted: the CLI shows option names as flags outside quotes only (https://issuers.example.com).
        `the trusted key for ${kid === undefined ? 'issuer' : 'kid'} ${JSON.stringify(kid ?? claims.iss)} may not sign for issuer ${JSON.stringify(claims.iss)} at level ${level}`,
        options.keys?.kind === 'jwks'
          ? {
              // A registry's keys sign for the issuers it was given: there is no key to add again.
              hint: `if ${JSON.stringify(claims.iss)} really publishes its keys at that JWKS, allow it with issuers ${JSON.stringify(claims.iss)}`,
              options: ['issuers'],
            }
          : {
              hint: `if that issuer really uses this key, add the key again with issuers ${JSON.stringify(claims.iss)} (and maxLevel if it must vouch higher)`,
              options: ['issuers', 'maxLevel'],
            },
      )
    }
    fail('BADGE_ISSUER_UNTRUSTED', `no trusted key for ${which}`)
  }
  // A kid names one key; without one every key bound to the issuer could be the signer. Trying a
  // large set for each kid-less token would let junk cost a signature check per key (~60 µs each).
  if (kid === undefined && candidates.length > MAX_KIDLESS_KEYS) {
    fail(
      'BADGE_ISSUER_UNTRUSTED',
      `the badge has no kid and ${candidates.length} trusted keys could have signed it; without a kid at most ${MAX_KIDLESS_KEYS} are tried`,
    )
  }

  // 5. Signature.
  const signer = candidates.find((c) => verifySignature(alg, c.publicKey, p.signingInput, p.signature))
  if (!signer) fail('BADGE_SIGNATURE_INVALID', 'the signature does not verify')

  // 6. Time.
  const now = (options.now ?? Date.now)() / 1000
  const skew = options.clockSkewSeconds ?? 60
  if (now - skew >= claims.exp) fail('BADGE_EXPIRED', 'the badge expired')
  if (claims.iat > now + skew) fail('BADGE_NOT_YET_VALID', 'the badge was issued in the future (iat)')
  if (claims.nbf !== undefined && claims.nbf > now + skew)
    fail('BADGE_NOT_YET_VALID', 'the badge is not valid yet (nbf)')
  if (options.maxAgeSeconds !== undefined && now - claims.iat > options.maxAgeSeconds + skew) {
    fail('BADGE_EXPIRED', `the badge is older than the maximum age of ${options.maxAgeSeconds}s`)
  }

  // 7. Self-signed rules.
  const selfSigned = viaDidKey || (claims.iss === claims.sub && claims.iss.startsWith('did:key:'))
  if (selfSigned) {
    if (level !== '0') fail('BADGE_CLAIMS_INVALID', `a self-signed badge must have level "0", not "${level}"`)
    if (claims.iss !== claims.sub)
      fail('BADGE_CLAIMS_INVALID', 'a self-signed badge must have iss equal to sub')
    if (didKeyOf(signer.publicKey) !== claims.iss) {
      fail('BADGE_CLAIMS_INVALID', "a self-signed badge's issuer must be its signing key's did:key")
    }
  }

  // 8. Audience.
  const warnings: string[] = []
  if (options.audience !== undefined) {
    if (claims.aud === undefined) warnings.push('the badge has no aud, so it is valid for any audience')
    else if (!claims.aud.includes(options.audience))
      fail('BADGE_AUDIENCE_MISMATCH', `the badge's aud does not include ${options.audience}`)
  }

  if (kid === undefined) warnings.push('the header has no kid; the key was found by issuer')
  if (selfSigned) warnings.push('self-signed badge (level 0): identity is not vouched for by any issuer')
  if (claims.ial === '') warnings.push('ial is empty')
  const result = new Verified(claims, p.header, signer.kid, level, selfSigned, warnings, signer.publicKey)

  // 9. Revocation: only a list not in memory is waited for.
  const revoked = revokedNow(claims.jti, options)
  if (revoked === undefined) return notRevoked(result, options)
  if (revoked) fail('BADGE_REVOKED', 'the badge has been revoked')
  return result
}

/**
 * Whether a badge id is revoked, answered at once: false with no list to ask, the key source's
 * in-memory answer, undefined when a list must be waited for (a callback, or one not in memory).
 */
export function revokedNow(jti: string, options: VerifyBadgeOptions): boolean | undefined {
  if (options.isRevoked !== undefined) return undefined
  const keys = options.keys
  if (keys?.isRevoked === undefined) return false
  return keys.isRevokedSync?.(jti)
}

async function notRevoked(
  result: VerificationResult,
  options: VerifyBadgeOptions,
): Promise<VerificationResult> {
  const jti = result.claims.jti
  if ((await options.keys?.isRevoked?.(jti)) || (await options.isRevoked?.(jti))) {
    fail('BADGE_REVOKED', 'the badge has been revoked')
  }
  return result
}

/** The key query for a badge: kid only when it has one (an absent member, not an undefined one). */
function keyQueryOf(kid: string | undefined, iss: string, alg: BadgeAlg): KeyQuery {
  return kid === undefined ? { iss, alg } : { kid, iss, alg }
}

/** The query that found a result's key, asked again. */
function queryFor(result: TrustCheck): KeyQuery {
  const kid = result.header.kid
  return keyQueryOf(
    typeof kid === 'string' ? kid : undefined,
    result.claims.iss,
    result.header.alg as BadgeAlg,
  )
}

/** Step 4: the keys that may have signed a badge, each allowed to sign for its issuer. */
async function findKeys(
  query: KeyQuery,
  level: TrustLevel,
  options: VerifyBadgeOptions,
): Promise<{ candidates: CandidateKey[]; viaDidKey: boolean; unbound: boolean }> {
  const found = options.keys ? await options.keys.find(query) : []
  const candidates = found.filter((c) => keyMaySignFor(c, query.iss, level))
  const unbound = found.length > 0 && candidates.length === 0
  if (candidates.length > 0 || !options.acceptSelfSigned) return { candidates, viaDidKey: false, unbound }
  const own = await didKeys.find(query)
  return { candidates: own, viaDidKey: own.length > 0, unbound: unbound && own.length === 0 }
}

/**
 * What stillTrusted needs of a result: a cache keeps only this much of each badge it verified,
 * not the whole result (in a cache that churns, every byte kept is a byte the GC copies).
 */
export type TrustCheck = Pick<VerificationResult, 'header' | 'trustLevel' | 'signingKey'> & {
  claims: Pick<BadgeClaims, 'iss'>
}

/**
 * stillTrusted without waiting, when the key source answers at once (keys held in memory, through
 * findSync) and no did:key fallback is needed; undefined when only the asynchronous check can tell.
 */
export function stillTrustedSync(result: TrustCheck, options: VerifyBadgeOptions): boolean | undefined {
  const keys = options.keys
  if (!keys?.findSync) return undefined
  const query = queryFor(result)
  const found = keys.findSync(query)
  if (found === undefined) return undefined
  const candidates = found.filter((c) => keyMaySignFor(c, query.iss, result.trustLevel))
  if (candidates.length === 0 && options.acceptSelfSigned) return undefined
  return candidates.some((c) => c.publicKey === result.signingKey || c.publicKey.equals(result.signingKey))
}

/**
 * Whether the key that verified a result would still be found for it now (a cached result never
 * outlives its key: docs/architecture.md §5). Asks the key source again, whose lookups are cached in memory, so
 * a removed, replaced or rotated-out key, or a dropped issuer binding, ends the result's use.
 */
export async function stillTrusted(result: TrustCheck, options: VerifyBadgeOptions): Promise<boolean> {
  const query = queryFor(result)
  const { candidates } = await findKeys(query, result.trustLevel, options)
  return candidates.some((c) => c.publicKey === result.signingKey || c.publicKey.equals(result.signingKey))
}
