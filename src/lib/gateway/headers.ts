import type { IncomingHttpHeaders } from 'node:http'

import type { GatewayIdentity } from './types.js'

/** RFC 9110 §7.6.1 hop-by-hop headers: meaningful for one connection only, never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // Answered here: the gateway sends the client its 100 Continue (server.ts), and undici refuses to send it.
  'expect',
])

export const IDENTITY_HEADERS = {
  credential: 'x-capiscio-credential',
  subject: 'x-capiscio-subject',
  issuer: 'x-capiscio-issuer',
  trustLevel: 'x-capiscio-trust-level',
  /** Badges only, as before other credentials existed; X-Capiscio-Jti names every credential's id. */
  badgeJti: 'x-capiscio-badge-jti',
  jti: 'x-capiscio-jti',
  type: 'x-capiscio-type',
  roles: 'x-capiscio-roles',
} as const

/**
 * Printable ASCII, 1 to 1024 characters, no space at either end (an HTTP stack trims it, so " admin "
 * would reach the agent as "admin"): what may travel as an identity header's value.
 */
const HEADER_SAFE = /^(?=[\x21-\x7e])[\x20-\x7e]{0,1023}[\x21-\x7e]$|^[\x21-\x7e]$/

/**
 * Why an identity cannot travel in headers, or undefined when it can: every value printable ASCII
 * (an HTTP client refuses anything else, which would end as a 502), and no role with a comma (the
 * roles are sent as one comma-separated list).
 */
export function unsafeIdentity(
  identity: Pick<GatewayIdentity, 'subject' | 'issuer' | 'jti' | 'type' | 'roles'>,
): string | undefined {
  for (const [name, value] of [
    ['the subject', identity.subject],
    ['the issuer', identity.issuer || 'x'],
    ['the jti', identity.jti],
    ['the type', identity.type ?? 'x'],
  ] as const)
    if (!HEADER_SAFE.test(value)) return `${name} must be 1 to 1024 printable ASCII characters`
  for (const role of identity.roles ?? [])
    if (!HEADER_SAFE.test(role) || role.includes(','))
      return 'each role must be printable ASCII without a comma'
  return undefined
}

/**
 * The headers that tell the target (or, in forward-auth, the proxy in front) who the caller is
 * (docs/formats.md, "Identity headers"): which credential was verified, its subject and issuer, and
 * per kind the badge's trust level and jti, or the JWT identity's type and roles.
 */
export function identityHeaders(identity: GatewayIdentity): Readonly<Record<string, string>> {
  // A cached credential's identity is the same object on every request: its headers are made once.
  let out = headersOf.get(identity)
  if (out === undefined) {
    out = makeIdentityHeaders(identity)
    headersOf.set(identity, out)
  }
  return out
}

const headersOf = new WeakMap<GatewayIdentity, Readonly<Record<string, string>>>()

function makeIdentityHeaders(identity: GatewayIdentity): Readonly<Record<string, string>> {
  return Object.freeze(addIdentityHeaders({}, identity))
}

/** Writes the identity headers into `out` (the upstream request's headers: no object in between). */
function addIdentityHeaders<T extends Record<string, string | string[]>>(
  out: T,
  identity: GatewayIdentity,
): T {
  const o = out as Record<string, string>
  const kind = identity.kind ?? 'badge'
  o[IDENTITY_HEADERS.credential] = kind
  o[IDENTITY_HEADERS.subject] = identity.subject
  o[IDENTITY_HEADERS.jti] = identity.jti
  if (identity.issuer) o[IDENTITY_HEADERS.issuer] = identity.issuer
  if (kind === 'badge') {
    o[IDENTITY_HEADERS.trustLevel] = identity.trustLevel
    o[IDENTITY_HEADERS.badgeJti] = identity.jti
  }
  if (identity.type !== undefined) o[IDENTITY_HEADERS.type] = identity.type
  if (identity.roles !== undefined && identity.roles.length > 0)
    o[IDENTITY_HEADERS.roles] = identity.roles.join(',')
  return out
}

export type OutgoingHeaders = Record<string, string | string[]>

/**
 * The header names a Connection header lists, to drop beside the hop-by-hop ones; none (and no Set
 * made) for the values nearly every request and response carries, `keep-alive` and `close`, which
 * list nothing more: this runs twice for every proxied request.
 */
function connectionListed(value: string | string[] | undefined): Set<string> | undefined {
  if (typeof value !== 'string' || value === 'keep-alive' || value === 'close') return undefined
  const listed = new Set<string>()
  for (const name of value.split(',')) listed.add(name.trim().toLowerCase())
  return listed
}

export interface UpstreamHeaderOptions {
  /** The verified caller; absent for unauthenticated pass-through (the agent card). */
  identity: GatewayIdentity | undefined
  forwardCredential: boolean
  clientIp: string
  proto: 'http' | 'https'
  /**
   * Keep the X-Forwarded-*, Forwarded and X-Real-IP headers a proxy in front of the gateway set
   * (behind a TLS-terminating nginx, the agent should see https). Only for gateways that clients
   * cannot reach directly.
   */
  trustForwarded?: boolean
}

/**
 * Whether a header name (lower case, `_` already read as `-`) is one the gateway itself sets or
 * vouches for: the identity headers, the forwarding headers.
 */
function gatewayOwned(name: string): boolean {
  return (
    name.startsWith('x-capiscio-') ||
    name.startsWith('x-forwarded-') ||
    name === 'forwarded' ||
    name === 'x-real-ip'
  )
}

/**
 * The headers sent to the target: the client's, less hop-by-hop headers, every header the gateway
 * sets (X-Capiscio-*, X-Forwarded-*, Forwarded, X-Real-IP; so none can be forged) and the
 * credential (unless forwarded on purpose); plus the verified identity and X-Forwarded-For/Proto/Host
 * and X-Real-IP. A name is compared with `_` read as `-`: CGI/WSGI agents see `X_Capiscio_Subject`
 * and `X-Capiscio-Subject` as the same HTTP_X_CAPISCIO_SUBJECT, so the underscore spelling is
 * dropped always, even from a trusted proxy.
 */
export function upstreamHeaders(incoming: IncomingHttpHeaders, o: UpstreamHeaderOptions): OutgoingHeaders {
  const drop = connectionListed(incoming.connection)
  const out: OutgoingHeaders = {}
  for (const name in incoming) {
    const value = incoming[name]
    if (value === undefined || HOP_BY_HOP.has(name) || drop?.has(name) || name === 'host') continue
    if (name === 'authorization' && !o.forwardCredential) continue
    const underscored = name.includes('_')
    if (gatewayOwned(underscored ? name.replace(/_/g, '-') : name)) {
      // Kept only under its real name: the credential when forwarded on purpose, and the
      // forwarding headers of a trusted proxy (For/Proto/Host are handled below).
      const keep =
        !underscored &&
        ((o.forwardCredential && name === 'x-capiscio-badge') ||
          (o.trustForwarded === true && !name.startsWith('x-capiscio-')))
      if (!keep) continue
    }
    out[name] = value
  }
  // A client's own X-Forwarded-For is a claim like any other forged header: only a trusted proxy's
  // chain is extended; otherwise the agent sees exactly the address the connection came from.
  const prior = o.trustForwarded ? incoming['x-forwarded-for'] : undefined
  const chain = Array.isArray(prior) ? prior.join(', ') : prior
  out['x-forwarded-for'] = chain ? `${chain}, ${o.clientIp}` : o.clientIp
  const fwdProto = incoming['x-forwarded-proto']
  const fwdHost = incoming['x-forwarded-host']
  out['x-forwarded-proto'] = o.trustForwarded && typeof fwdProto === 'string' ? fwdProto : o.proto
  const host = o.trustForwarded && typeof fwdHost === 'string' ? fwdHost : incoming.host
  if (host) out['x-forwarded-host'] = host
  else delete out['x-forwarded-host']
  if (!(o.trustForwarded && typeof incoming['x-real-ip'] === 'string')) out['x-real-ip'] = o.clientIp
  if (o.identity) addIdentityHeaders(out, o.identity)
  return out
}

/** The target's response headers, less hop-by-hop ones (Node frames the response itself). */
export function downstreamHeaders(headers: Record<string, string | string[] | undefined>): OutgoingHeaders {
  const drop = connectionListed(headers.connection)
  const out: OutgoingHeaders = {}
  // for-in: it runs for every response.
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined || HOP_BY_HOP.has(name) || drop?.has(name)) continue
    out[name] = value
  }
  return out
}

/**
 * The credential a request carries (docs/architecture.md §6): X-Capiscio-Badge, else `Authorization: Bearer`
 * (scheme case-insensitive). Two different credentials are a conflict, also when they come in two
 * lines of the same header: Node joins repeated X-Capiscio-Badge lines with ", " (no JWS holds a
 * comma) and keeps only the first Authorization line, so `rawHeaders` is asked for those.
 */
export function extractCredential(
  headers: IncomingHttpHeaders,
  rawHeaders?: readonly string[],
): { credential?: string; conflict?: true } {
  const badgeHeader = headers['x-capiscio-badge']
  let badge = typeof badgeHeader === 'string' ? badgeHeader.trim() : undefined
  if (badge?.includes(',')) {
    const [first, ...rest] = badge.split(',').map((part) => part.trim())
    if (rest.some((other) => other !== first)) return { conflict: true }
    badge = first
  }
  const auth = headers.authorization
  const bearer = typeof auth === 'string' ? bearerToken(auth) : undefined
  if (badge && bearer && badge !== bearer) return { conflict: true }
  if (auth !== undefined && rawHeaders && otherAuthorization(rawHeaders, auth)) return { conflict: true }
  const credential = badge || bearer
  return credential ? { credential } : {}
}

/** Whether the raw header lines hold an Authorization line other than `first` (Node keeps the first). */
function otherAuthorization(raw: readonly string[], first: string): boolean {
  let seen = 0
  for (let i = 0; i < raw.length; i += 2)
    if (isNamed(raw[i]!, 'authorization', 'Authorization') && ++seen > 1 && raw[i + 1]!.trim() !== first)
      return true
  return false
}

/**
 * Whether a raw header name is `lower` in any case: the length first, then the two usual
 * spellings, and toLowerCase only for an odd one (it runs over every header of every request).
 */
function isNamed(name: string, lower: string, capitalized: string): boolean {
  if (name.length !== lower.length) return false
  return name === capitalized || name === lower || name.toLowerCase() === lower
}

/** A reg-name character or percent-encoding (RFC 3986 §3.2.2); IPv4 addresses are reg-names too. */
const REG_NAME = "(?:[A-Za-z0-9\\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})"

/**
 * RFC 3986 §3.2.2-3 host[:port]: an IP literal in brackets (with an IPv6 zone id, as RFC 6874
 * writes it or as Node's own client sends it), or a reg-name, then an optional port of up to five
 * digits; or nothing at all (an empty Host). No userinfo, path, query or space: an agent building
 * its own URLs from X-Forwarded-Host must not be handed `evil.example/x?` or `user@evil.example`.
 */
const HOST = new RegExp(`^(?:(?:\\[[0-9A-Fa-f:.]+(?:%(?:25)?[\\w.~-]+)?\\]|${REG_NAME}+)(?::[0-9]{0,5})?)?$`)

/**
 * Why a request's Host is unacceptable (RFC 9112 §3.2: more than one Host line, or an invalid
 * value, is a 400), or undefined. Node keeps the first of several Host lines and drops the rest
 * unseen, so the raw lines are counted.
 */
export function hostProblem(host: string | undefined, raw: readonly string[]): string | undefined {
  if (host === undefined) return undefined
  if (!HOST.test(host)) return 'invalid host header'
  let lines = 0
  for (let i = 0; i < raw.length; i += 2)
    if (isNamed(raw[i]!, 'host', 'Host') && ++lines > 1) return 'more than one host header'
  return undefined
}

const BEARER = /^bearer[ \t]/i
const WHITESPACE = /\s/

/**
 * The token of `Bearer <token>` (scheme case-insensitive, spaces or tabs around the token), or
 * undefined. By index rather than a capturing regex: it runs on every request, over a long token.
 */
function bearerToken(auth: string): string | undefined {
  if (!BEARER.test(auth)) return undefined
  let start = 7
  while (start < auth.length && (auth.charCodeAt(start) === 32 || auth.charCodeAt(start) === 9)) start++
  let end = auth.length
  while (end > start && (auth.charCodeAt(end - 1) === 32 || auth.charCodeAt(end - 1) === 9)) end--
  if (end === start) return undefined
  const token = start === 7 && end === auth.length ? auth.slice(7) : auth.slice(start, end)
  return WHITESPACE.test(token) ? undefined : token
}

/** Separators a target may decode before routing: `/`, `\\` and their percent-encodings. */
const SEGMENT_SEPARATOR = /\/|\\|%2f|%5c/i
/** A dot-dot segment, plain or percent-encoded (`..`, `.%2e`, `%2E%2e`, …). */
const DOT_DOT = /^(?:\.|%2e){2}$/i
/** Cheap pre-check: only a target with two dots (plain or encoded) in a row can climb. */
const MAY_CLIMB = /(?:\.|%2e)(?:\.|%2e)/i
/** A dot, slash or backslash encoded twice: an agent that decodes twice would see it. */
const DOUBLE_ENCODED = /%25(?:2e|2f|5c)/i

/**
 * Whether a request target may be forwarded: origin-form only (`/path?query`; no absolute-form
 * `http://host/…` that would name another host, no `*` or authority-form), and no dot-segments,
 * plain, percent-encoded or with `;params`, that climb above its root, where the target would resolve
 * them out of the gateway's path prefix; no fragment and no double-encoded dot or slash in the path.
 * Dot-segments that stay inside (`/a/../b`) are forwarded as sent.
 */
export function checkRequestTarget(target: string): boolean {
  if (target.charCodeAt(0) !== 47 /* / */) return false
  // A fragment is never part of a request-target (RFC 9112 §3.2); an agent that parses the target
  // as a URL drops it and then resolves the dot-segments before it ('/..#/x' is '/').
  if (target.includes('#')) return false
  // The common case: two scans, no allocation.
  if (!MAY_CLIMB.test(target) && !DOUBLE_ENCODED.test(target)) return true
  const q = target.indexOf('?')
  const path = q < 0 ? target : target.slice(0, q)
  if (DOUBLE_ENCODED.test(path)) return false
  let depth = 0
  for (const part of path.split(SEGMENT_SEPARATOR)) {
    // Path parameters do not make a segment another one: Tomcat and Spring read '..;x' as '..'.
    const semi = part.indexOf(';')
    const segment = semi < 0 ? part : part.slice(0, semi)
    if (DOT_DOT.test(segment)) {
      if (--depth < 0) return false
    } else if (segment !== '' && segment !== '.' && !/^%2e$/i.test(segment)) depth++
  }
  return true
}
