import { createPublicKey, randomUUID, type KeyObject } from 'node:crypto'

import { SignJWT } from 'jose'

import { CapiscioError } from '../errors.js'
import { didKeyOf } from '../keys/didkey.js'
import { algOf, publicJwkOf, type PublicJwk } from '../keys/key.js'
import { isDid, isIssuer, TRUST_LEVELS, validateClaims, type BadgeClaims, type TrustLevel } from './claims.js'
import { toLowS } from './jws.js'
import { isBadgeAlg, type BadgeAlg } from '../keys/alg.js'

export const DEFAULT_BADGE_TTL_SECONDS = 300
/** Badges are short-lived credentials; a day is the longest the toolkit will sign (use `badge keep`). */
export const MAX_BADGE_TTL_SECONDS = 86_400

export interface IssueBadgeOptions {
  /** The signing key (Ed25519 or P-256). */
  privateKey: KeyObject
  /** The header kid (default: the key's did:key, else none). */
  kid?: string
  /** Subject DID; defaults to the issuer for a self-signed badge. */
  sub?: string
  /** Issuer: a DID or https URL (default: the key's did:key). */
  iss?: string
  domain?: string
  /** "0".."4" (default "1"; self-signed badges are always "0"). */
  level?: TrustLevel | number
  /** One audience or several (a badge always carries them as an array). */
  aud?: string | readonly string[]
  ttlSeconds?: number
  /** Not-before, NumericDate seconds. */
  nbf?: number
  /** The subject's public key for the `key` claim (self-signed: the signing key). */
  subjectKey?: KeyObject
  selfSigned?: boolean
  ial?: string
  jti?: string
  now?: () => number
}

export interface IssuedBadge {
  token: string
  header: { alg: BadgeAlg; typ: 'JWT'; kid?: string }
  claims: BadgeClaims
}

/** `option` names the IssueBadgeOptions member at fault, for a front end to show as its own flag. */
function usage(message: string, option?: string | string[]): never {
  throw new CapiscioError(
    'USAGE',
    message,
    option === undefined ? {} : { options: typeof option === 'string' ? [option] : option },
  )
}

/** Builds and signs a trust badge (docs/formats.md, "Trust badge"). Every badge gets a fresh UUID v4 jti. */
export async function issueBadge(options: IssueBadgeOptions): Promise<IssuedBadge> {
  const { privateKey } = options
  // Plain JS callers may pass nothing, or a PEM string: a usage error, not a TypeError.
  if ((privateKey as KeyObject | undefined)?.type !== 'private')
    usage('a badge is signed with a private key (a KeyObject)', 'privateKey')
  const alg = algOf(privateKey)
  if (!isBadgeAlg(alg))
    throw new CapiscioError('KEY_UNSUPPORTED', `badges are signed with EdDSA or ES256, not ${alg}`)
  const did = didKeyOf(privateKey)

  const selfSigned = options.selfSigned ?? false
  if (selfSigned && !did) usage('a self-signed badge needs an Ed25519 key (its issuer is the key’s did:key)')
  const iss = selfSigned ? did! : (options.iss ?? did)
  if (iss === undefined) usage(`iss is required for ${alg} keys, which have no did:key`, 'iss')
  if (selfSigned && options.iss !== undefined && options.iss !== did)
    usage('a self-signed badge’s issuer is its key’s did:key')
  if (!isIssuer(iss))
    usage(`issuer "${iss}" must be a DID or an https URL (http only for localhost or 127.x)`)

  const sub = selfSigned ? (options.sub ?? did!) : options.sub
  if (sub === undefined) usage('sub is required (the subject agent’s DID)', 'sub')
  if (!isDid(sub)) usage(`subject "${sub}" is not a DID (did:<method>:<id>, e.g. did:web:agent.example.com)`)
  if (selfSigned && sub !== iss) usage('a self-signed badge’s subject is its issuer, the key’s did:key')

  const level = String(options.level ?? (selfSigned ? '0' : '1'))
  if (!(TRUST_LEVELS as readonly string[]).includes(level)) usage('the level must be 0, 1, 2, 3 or 4')
  if (selfSigned && level !== '0') usage('a self-signed badge has level 0')

  const ttl = options.ttlSeconds ?? DEFAULT_BADGE_TTL_SECONDS
  // Whole seconds, as exp is: a 1.5 s or 300 ms TTL would quietly become another.
  if (!(Number.isInteger(ttl) && ttl >= 1 && ttl <= MAX_BADGE_TTL_SECONDS))
    usage(
      `ttlSeconds must be a whole number of seconds between 1s and ${MAX_BADGE_TTL_SECONDS}s (24h)`,
      'ttlSeconds',
    )
  const aud: readonly unknown[] | undefined =
    typeof options.aud === 'string' ? [options.aud] : (options.aud as readonly unknown[] | undefined)
  if (aud !== undefined && (!Array.isArray(aud) || aud.some((a) => typeof a !== 'string' || a.length === 0)))
    usage('every audience must be a non-empty string', 'aud')
  if (options.domain !== undefined && options.domain.length === 0) usage('the domain is empty')

  const now = Math.floor((options.now ?? Date.now)() / 1000)
  const iat = now
  const exp = now + ttl
  if (options.nbf !== undefined && options.nbf >= exp)
    usage('nbf must be before the expiry, which ttlSeconds sets', ['nbf', 'ttlSeconds'])

  const subjectKey = options.subjectKey ?? (selfSigned ? privateKey : undefined)
  const credentialSubject: BadgeClaims['vc']['credentialSubject'] = { level: level as TrustLevel }
  if (options.domain !== undefined) credentialSubject.domain = options.domain

  // Claim order as RFC-002 shows it: jti iss sub aud iat exp nbf ial key vc.
  const ordered: Record<string, unknown> = { jti: options.jti ?? randomUUID(), iss, sub }
  if (aud && aud.length > 0) ordered.aud = [...aud]
  Object.assign(ordered, { iat, exp })
  if (options.nbf !== undefined) ordered.nbf = Math.floor(options.nbf)
  ordered.ial = options.ial ?? '0'
  if (subjectKey) ordered.key = publicJwk(subjectKey)
  ordered.vc = { type: ['VerifiableCredential', 'AgentIdentity'], credentialSubject }
  // Never sign what a verifier would refuse (a jti with a space, an nbf out of range, …).
  try {
    validateClaims(ordered)
  } catch (err) {
    usage((err as Error).message)
  }

  const kid = options.kid ?? did
  const header: IssuedBadge['header'] = kid === undefined ? { alg, typ: 'JWT' } : { alg, typ: 'JWT', kid }
  const signed = await new SignJWT(ordered).setProtectedHeader(header).sign(privateKey)
  // OpenSSL (under jose) emits a high-S ECDSA signature half the time; verifiers accept only the
  // low-S twin, so normalize it here and every ES256 badge we sign verifies.
  const token = alg === 'ES256' ? withLowS(signed) : signed
  return { token, header, claims: ordered as BadgeClaims }
}

function withLowS(token: string): string {
  const dot = token.lastIndexOf('.')
  const signature = toLowS(Buffer.from(token.slice(dot + 1), 'base64url'))
  return `${token.slice(0, dot + 1)}${signature.toString('base64url')}`
}

/** The `key` claim: the subject's public JWK (key members, kid-less, with alg). */
function publicJwk(key: KeyObject): PublicJwk {
  const jwk = publicJwkOf(key.type === 'private' ? createPublicKey(key) : key)
  delete jwk.use
  return jwk
}
