import { CapiscioError } from '../errors.js'
import { isLoopbackHost } from '../net/fetch-json.js'

export const TRUST_LEVELS = ['0', '1', '2', '3', '4'] as const
export type TrustLevel = (typeof TRUST_LEVELS)[number]

/** The claims of a trust badge (docs/formats.md, "Trust badge"; RFC-002 §4.3). */
export interface BadgeClaims {
  jti: string
  iss: string
  sub: string
  aud?: string[]
  iat: number
  exp: number
  nbf?: number
  ial?: string
  key?: Record<string, unknown>
  vc: {
    type?: string[]
    credentialSubject: { domain?: string; level: TrustLevel; [k: string]: unknown }
    [k: string]: unknown
  }
  [claim: string]: unknown
}

const MAX_ID_LENGTH = 2048
// DID syntax (W3C DID Core §3.1): did:<method>:<method-specific-id>, the id not ending in ':'.
const DID = /^did:[a-z0-9]+:(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2}|:)*(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})$/

// Visible ASCII (no space, no control characters, nothing past 0x7e). Every claim the gateway turns
// into an X-Capiscio-* header value (iss, sub, jti) is held to it: HTTP clients refuse or rewrite
// anything else, and the gateway answered 502 for a verified badge.
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/

export function isDid(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_ID_LENGTH && DID.test(value)
}

/** An issuer is a DID or an https origin/URL (http only on loopback, as trust add takes it). */
export function isIssuer(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) return false
  if (isDid(value)) return true
  // Printable ASCII only, no whitespace: an issuer ends up in log lines and HTTP header values.
  if (!PRINTABLE_ASCII.test(value)) return false
  if (!/^https?:\/\//.test(value)) return false
  if (urlIssuers.has(value)) return true
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return false
  }
  // Plain http only for loopback (a local registry): elsewhere anyone on the path could be the issuer.
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) return false
  if (urlIssuers.size >= MAX_CACHED_ISSUERS) urlIssuers.clear()
  urlIssuers.add(value)
  return true
}

/**
 * URL issuers already found valid. Parsing a URL costs about a microsecond, on every badge, and a
 * verifier sees the same few issuers all day; the answer depends on the string alone. Bounded
 * (cleared when full), so a flood of distinct issuers only churns it.
 */
const urlIssuers = new Set<string>()
const MAX_CACHED_ISSUERS = 1024

function fail(message: string): never {
  throw new CapiscioError('BADGE_CLAIMS_INVALID', message)
}

/**
 * The latest NumericDate a badge may carry: 9999-12-31T23:59:59Z. Every date up to it is a valid JS
 * Date (t * 1000 < 8.64e15), fits Redis `EXAT` and prints as a four-digit-year ISO date; `exp: 1e308`
 * used to pass and crash the code that formats it.
 */
export const MAX_NUMERIC_DATE = 253_402_300_799

const isNumericDate = (v: unknown): v is number =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_NUMERIC_DATE

/** Step 2 of verification: every required claim present and well-typed. */
export function validateClaims(p: Record<string, unknown>): BadgeClaims {
  if (typeof p.jti !== 'string' || p.jti.length > 256 || !PRINTABLE_ASCII.test(p.jti))
    fail('jti must be 1 to 256 printable ASCII characters')
  if (!isIssuer(p.iss))
    fail('iss must be a DID or an https URL (http only for localhost or 127.x), in printable ASCII')
  if (!isDid(p.sub)) fail('sub must be a DID (did:<method>:<id>)')
  if (!isNumericDate(p.iat)) fail('iat must be a NumericDate from 0 to 253402300799 (year 9999)')
  if (!isNumericDate(p.exp)) fail('exp must be a NumericDate from 0 to 253402300799 (year 9999)')
  if (p.exp <= p.iat) fail('exp must be after iat')
  if (p.nbf !== undefined && !isNumericDate(p.nbf))
    fail('nbf must be a NumericDate from 0 to 253402300799 (year 9999)')
  if (p.aud !== undefined) {
    if (!Array.isArray(p.aud)) fail('aud must be an array of strings')
    if (!p.aud.every((a) => typeof a === 'string' && a.length > 0)) fail('aud must be an array of strings')
  }
  if (p.ial !== undefined && typeof p.ial !== 'string') fail('ial must be a string')
  if (p.key !== undefined && (typeof p.key !== 'object' || p.key === null || Array.isArray(p.key))) {
    fail('key must be a JWK object')
  }
  const vc = p.vc as BadgeClaims['vc'] | undefined
  if (typeof vc !== 'object' || vc === null || Array.isArray(vc)) fail('vc must be an object')
  // Required (DESIGN §6 step 2); what it lists is not judged: issuers differ on the names after
  // "VerifiableCredential".
  if (!(
    Array.isArray(vc.type) &&
    vc.type.length > 0 &&
    vc.type.every((t) => typeof t === 'string' && t !== '')
  )) {
    fail('vc.type must be a non-empty array of strings')
  }
  const cs = vc.credentialSubject
  if (typeof cs !== 'object' || cs === null || Array.isArray(cs))
    fail('vc.credentialSubject must be an object')
  if (!(TRUST_LEVELS as readonly unknown[]).includes(cs.level))
    fail('vc.credentialSubject.level must be "0" to "4"')
  if (cs.domain !== undefined && typeof cs.domain !== 'string')
    fail('vc.credentialSubject.domain must be a string')
  return p as BadgeClaims
}
