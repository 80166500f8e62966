import { createHash, randomUUID, sign as cryptoSign, type KeyObject } from 'node:crypto'

import { decodeJws, MAX_BADGE_LENGTH, verifySignature } from '../badge/jws.js'
import { CapiscioError, type ErrorCode } from '../errors.js'
import type { ReplayStore } from '../gateway/types.js'
import { didKeyOf } from '../keys/didkey.js'
import { sameText } from '../same-text.js'

/** DESIGN §8: a SimpleGuard token lives 60 s, and verifiers allow 5 s of clock difference. */
export const GUARD_TOKEN_TTL_SECONDS = 60
export const GUARD_CLOCK_SKEW_SECONDS = 5

/** Claims the guard sets itself; a caller's claims may not override them. */
export const GUARD_RESERVED_CLAIMS = ['iss', 'iat', 'exp', 'nbf', 'jti', 'bh'] as const

/** A body as the guard takes it: the exact bytes sent, or text (as its UTF-8 bytes). */
export type Body = Uint8Array | string

/**
 * A body, or a function that reads it: called only once the token's shape, key, issuer, signature
 * and time verified, so that an unsigned or forged request never makes its body be read.
 */
export type LazyBody = Body | undefined | (() => Promise<Body | undefined>)

const bytesOf = (body: Body) => (typeof body === 'string' ? Buffer.from(body, 'utf8') : body)

/** `bh`: base64url (no padding) of the SHA-256 of the exact body bytes. */
export function bodyHash(body: Body): string {
  return createHash('sha256').update(bytesOf(body)).digest('base64url')
}

/** The hash of an empty body: the older Python SimpleGuard sends it for `b""`. */
export const EMPTY_BODY_HASH = bodyHash('')

export interface SignGuardTokenOptions {
  privateKey: KeyObject
  kid: string
  /** The signing agent's id: in the header (the Go-backed SDK reads it there) and the payload (the older one). */
  iss: string
  claims?: Record<string, unknown>
  /** The exact body; an empty or absent body gets no bh. */
  body?: Body
  jti?: string
  now?: () => number
}

const b64json = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url')

/**
 * Signs a SimpleGuard token (DESIGN §8): header `{alg:"EdDSA", typ:"JWT", kid, iss}`, payload
 * `{…claims, iss, iat, exp: iat+60, jti, bh?}`. Both generations of the Python SDK accept it.
 */
export function signGuardToken(options: SignGuardTokenOptions): string {
  const { privateKey, kid, iss } = options
  // The key file's fault, as for every other unusable key (exit 4), not a usage error.
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new CapiscioError(
      'KEY_UNSUPPORTED',
      `SimpleGuard signs with an Ed25519 private key, not ${privateKey.asymmetricKeyType ?? 'this key'}`,
      { hint: 'make one with capiscio key gen (Ed25519 is its default)', options: ['privateKey'] },
    )
  if (privateKey.type !== 'private')
    throw new CapiscioError('KEY_INVALID', 'SimpleGuard signs with a private key; this one is public', {
      options: ['privateKey'],
    })
  // A verifier refuses an empty issuer (and an empty kid names no key): no token that cannot verify.
  for (const [name, value] of [
    ['iss', iss],
    ['kid', kid],
  ] as const)
    if (typeof value !== 'string' || value === '')
      throw new CapiscioError('USAGE', `${name} must be a non-empty string`, { options: [name] })
  const claims = options.claims ?? {}
  for (const name of GUARD_RESERVED_CLAIMS)
    if (Object.hasOwn(claims, name))
      throw new CapiscioError('USAGE', `the claim ${name} is set by the guard itself`, {
        options: ['claims'],
      })
  const iat = Math.floor((options.now ?? Date.now)() / 1000)
  const payload: Record<string, unknown> = {}
  // Defined, not assigned: a claim named __proto__ is a claim.
  for (const [name, value] of Object.entries(claims))
    Object.defineProperty(payload, name, { value, enumerable: true, writable: true, configurable: true })
  payload.iss = iss
  payload.iat = iat
  payload.exp = iat + GUARD_TOKEN_TTL_SECONDS
  payload.jti = options.jti ?? randomUUID()
  const body = options.body === undefined ? undefined : bytesOf(options.body)
  if (body !== undefined && body.length > 0) payload.bh = bodyHash(body)
  const input = `${b64json({ alg: 'EdDSA', typ: 'JWT', kid, iss })}.${b64json(payload)}`
  const token = `${input}.${cryptoSign(null, Buffer.from(input, 'latin1'), privateKey).toString('base64url')}`
  if (token.length > MAX_BADGE_LENGTH)
    throw new CapiscioError(
      'USAGE',
      `the token would be ${token.length} bytes; verifiers take at most ${MAX_BADGE_LENGTH}`,
      { options: ['claims'] },
    )
  return token
}

/** What the guard needs from a trust store: the key stored for a kid, and the issuers it is bound to. */
export interface GuardKeyLookup {
  /** The trusted public key for the kid, or undefined when none is stored. */
  keyFor(kid: string): Promise<KeyObject | undefined>
  /** The issuers a key is bound to (issuers.json), empty when the store binds it to none. */
  issuersOf?(kid: string): Promise<readonly string[]>
  /** The kids issuers.json binds an issuer to, empty when none: an issuer that is other keys'. */
  kidsBoundTo?(iss: string): Promise<readonly string[]>
  /** Whether the kid's key is a lone PEM dropped in by hand (no `.jwk` from `trust add`). */
  isLonePem?(kid: string): Promise<boolean>
}

export interface VerifyGuardTokenOptions {
  keys: GuardKeyLookup
  clockSkewSeconds?: number
  maxTokenAgeSeconds?: number
  /** Refuses a second use of a token within its lifetime (keyed by jti, else by signature). */
  replayStore?: ReplayStore
  now?: () => number
  /**
   * The caller checks the body itself, later (checkBody): the gateway verifies the token before it
   * reads a body, so that an unsigned request cannot make it buffer one.
   */
  skipBodyCheck?: boolean
}

export interface GuardClaims extends Record<string, unknown> {
  iss?: string
  iat: number
  exp: number
  jti?: string
  bh?: string
}

export interface VerifiedGuardToken {
  claims: GuardClaims
  kid: string
  header: Record<string, unknown>
}

function fail(code: ErrorCode, message: string): never {
  throw new CapiscioError(code, message)
}

/**
 * Whether the key may name this issuer (docs/formats.md, "SimpleGuard token", and "Issuer
 * binding"). A did:key names one key: this one, or the token is refused. No key names an issuer
 * issuers.json binds to other keys only, whatever its kid says. A bound key names its issuers, or
 * its kid; a key `trust add` wrote without issuers speaks only as its kid. A lone PEM dropped in
 * by hand, as Python deployments keep them, binds nothing and its kid is the trust decision: it
 * may name any issuer that is no other key's (unless `asItselfOnly`, the gateway's rule, since
 * there the issuer becomes the identity the agent is told).
 */
export async function checkIssuer(
  keys: GuardKeyLookup,
  kid: string,
  publicKey: KeyObject,
  iss: string | undefined,
  asItselfOnly = false,
): Promise<void> {
  const refuse = (why: string): never =>
    fail('GUARD_UNTRUSTED_KEY', `the key ${kid} may not sign for issuer ${iss ?? '(none)'}: ${why}`)
  const bound = (await keys.issuersOf?.(kid)) ?? []
  if (iss === undefined) {
    if (bound.length > 0) refuse('a bound key must name one of its issuers')
    return
  }
  if (iss.startsWith('did:key:')) {
    if (didKeyOf(publicKey) !== iss) refuse('that did:key is another key')
    return
  }
  if (bound.includes(iss)) return
  if (((await keys.kidsBoundTo?.(iss)) ?? []).some((other) => other !== kid))
    refuse('issuers.json binds that issuer to other keys')
  if (iss === kid) return
  if (bound.length > 0) refuse(`it is bound to ${bound.join(', ')}`)
  if (asItselfOnly || !(await keys.isLonePem?.(kid)))
    refuse('it is bound to no issuer, so it signs only as its kid or did:key (add it again with issuers)')
}

/**
 * Verifies a SimpleGuard token over a body (DESIGN §8), in this order: shape (EdDSA, a kid, iat
 * and exp), trusted key for the kid, signature, time, body hash, replay. Tokens of both Python
 * generations verify: the older puts iss in the payload, the Go-backed one in the header (its
 * payload is only iat, exp and bh). The body rule: a non-empty body needs a matching bh; an empty
 * or absent body takes no bh, or the empty body's hash (which the older SDK sends for `b""`). A
 * body given as a function is read only after the time checks (LazyBody).
 */
export async function verifyGuardToken(
  token: string,
  body: LazyBody,
  options: VerifyGuardTokenOptions,
): Promise<VerifiedGuardToken> {
  const { header, payload, signingInput, signature } = decodeJws(token, 'GUARD_MALFORMED')
  if (header.alg !== 'EdDSA')
    fail(
      'GUARD_MALFORMED',
      `alg ${JSON.stringify(header.alg) ?? 'missing'} is not allowed; SimpleGuard tokens are EdDSA`,
    )
  if (header.crit !== undefined)
    fail('GUARD_MALFORMED', 'critical header parameters (crit) are not supported')
  const kid = header.kid
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > 1024)
    fail('GUARD_MALFORMED', 'the header has no kid')
  for (const name of ['iat', 'exp'] as const) {
    const v = payload[name]
    if (typeof v !== 'number' || !Number.isFinite(v))
      fail('GUARD_MALFORMED', `the token has no numeric ${name}`)
  }
  if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || !Number.isFinite(payload.nbf)))
    fail('GUARD_MALFORMED', 'nbf must be a number')
  const iss = payload.iss ?? header.iss
  if (iss !== undefined && typeof iss !== 'string') fail('GUARD_MALFORMED', 'iss must be a string')
  if (payload.iss !== undefined && header.iss !== undefined && payload.iss !== header.iss)
    fail('GUARD_MALFORMED', 'the header and the payload name different issuers')
  if (payload.bh !== undefined && typeof payload.bh !== 'string')
    fail('GUARD_MALFORMED', 'bh must be a string')
  if (payload.jti !== undefined && typeof payload.jti !== 'string')
    fail('GUARD_MALFORMED', 'jti must be a string')

  const publicKey = await options.keys.keyFor(kid)
  if (!publicKey) fail('GUARD_UNTRUSTED_KEY', `no trusted key for kid ${kid}`)
  await checkIssuer(options.keys, kid, publicKey, iss as string | undefined)
  if (!verifySignature('EdDSA', publicKey, signingInput, signature))
    fail('GUARD_SIGNATURE_INVALID', 'the signature does not verify')

  const now = (options.now ?? Date.now)() / 1000
  const skew = options.clockSkewSeconds ?? GUARD_CLOCK_SKEW_SECONDS
  const maxAge = options.maxTokenAgeSeconds ?? GUARD_TOKEN_TTL_SECONDS
  const { iat, exp, nbf } = payload as { iat: number; exp: number; nbf?: number }
  if (now > exp + skew) fail('GUARD_EXPIRED', 'the token expired')
  if (iat > now + skew) fail('GUARD_NOT_YET_VALID', 'the token was issued in the future (iat)')
  if (nbf !== undefined && nbf > now + skew) fail('GUARD_NOT_YET_VALID', 'the token is not valid yet (nbf)')
  if (now - iat > maxAge + skew) fail('GUARD_EXPIRED', `the token is older than ${maxAge}s`)

  if (!options.skipBodyCheck)
    checkBody(payload.bh as string | undefined, typeof body === 'function' ? await body() : body)

  if (options.replayStore) {
    const id =
      typeof payload.jti === 'string'
        ? payload.jti
        : `sig:${createHash('sha256').update(signature).digest('base64url')}`
    if (!(await options.replayStore.claim(`guard:${id}`, exp)))
      fail('GUARD_REPLAY', 'this token was already used')
  }

  const claims = { ...payload } as GuardClaims
  if (claims.iss === undefined && typeof iss === 'string') claims.iss = iss
  return { claims, kid, header }
}

/** The body rule (docs/formats.md, "SimpleGuard token"): throws GUARD_BODY_MISMATCH when body and bh disagree. */
export function checkBody(bh: string | undefined, body: Body | undefined): void {
  const bytes = body === undefined ? undefined : bytesOf(body)
  if (bytes === undefined || bytes.length === 0) {
    if (bh !== undefined && !sameText(bh, EMPTY_BODY_HASH))
      fail('GUARD_BODY_MISMATCH', 'the token has a bh but the request has no body')
    return
  }
  if (bh === undefined) fail('GUARD_BODY_MISMATCH', 'the request has a body but the token has no bh')
  if (!sameText(bh, bodyHash(bytes))) fail('GUARD_BODY_MISMATCH', 'the body does not match the token (bh)')
}
