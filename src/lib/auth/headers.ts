/**
 * Request headers as the callers of an Authenticator have them: node:http's and Express's
 * `req.headers` (lower-case names, a repeated header as an array), a plain object with any
 * capitalisation, or a WHATWG Headers (fetch, undici).
 */
export type HeaderBag =
  Readonly<Record<string, string | readonly string[] | undefined>> | { get(name: string): string | null }

/** Sent more than once: not one credential, so none. */
const REPEATED = Symbol('repeated')

/** One header's value (name lower-case); REPEATED when it was sent more than once. */
function headerOf(headers: HeaderBag, name: string): string | typeof REPEATED | undefined {
  // No headers at all (a caller's bug, or plain JS): no credential, rather than a TypeError.
  if (typeof headers !== 'object' || headers === null) return undefined
  if (typeof (headers as { get?: unknown }).get === 'function') {
    const value = (headers as { get(name: string): string | null }).get(name)
    // Headers joins repeats with ", "; a credential never contains one.
    return value === null ? undefined : value.includes(', ') ? REPEATED : value
  }
  const bag = headers as Readonly<Record<string, string | readonly string[] | undefined>>
  let value = Object.hasOwn(bag, name) ? bag[name] : undefined
  if (value === undefined) {
    for (const key of Object.keys(bag))
      if (key.length === name.length && key.toLowerCase() === name) {
        value = bag[key]
        break
      }
  }
  if (Array.isArray(value)) return value.length === 1 ? (value[0] as string) : REPEATED
  return typeof value === 'string' ? value : undefined
}

/** What a request carries in one credential header. */
export type Presented = { token: string } | { invalid: true } | undefined

/** Anything a token may not hold: whitespace, or a comma (a list of credentials). */
const NOT_TOKEN = /[\s,]/

const isBlank = (c: number) => c === 0x20 || c === 0x09

const BEARER_CODES = [...'bearer'].map((c) => c.charCodeAt(0))

/**
 * `Bearer <token>`: the scheme in any case, spaces or tabs, the token, optional spaces or tabs.
 * Parsed by hand rather than with one case-insensitive regex: it runs on every request, and this
 * costs about a third less.
 */
function parseBearer(auth: string): string | undefined {
  if (auth.length < 8) return undefined
  // "bearer" in any case: each letter's code with the lower-case bit set.
  for (let i = 0; i < 6; i++) if ((auth.charCodeAt(i) | 0x20) !== BEARER_CODES[i]) return undefined
  let start = 6
  while (start < auth.length && isBlank(auth.charCodeAt(start))) start++
  if (start === 6) return undefined
  let end = auth.length
  while (end > start && isBlank(auth.charCodeAt(end - 1))) end--
  if (end === start) return undefined
  const token = auth.slice(start, end)
  return NOT_TOKEN.test(token) ? undefined : token
}

/** `Authorization: Bearer <token>` (RFC 6750; the scheme is case-insensitive). */
export function bearerToken(headers: HeaderBag): Presented {
  const auth = headerOf(headers, 'authorization')
  if (auth === undefined) return undefined
  if (auth === REPEATED) return { invalid: true }
  const token = parseBearer(auth)
  return token === undefined ? { invalid: true } : { token }
}

/**
 * A trust badge: `X-Capiscio-Badge`, else `Authorization: Bearer` (docs/architecture.md §9). Both
 * present and different is not a credential.
 */
export function badgeToken(headers: HeaderBag): Presented {
  const badge = headerOf(headers, 'x-capiscio-badge')
  const bearer = bearerToken(headers)
  if (badge === undefined) return bearer
  if (badge === REPEATED || badge.trim() === '') return { invalid: true }
  const token = badge.trim()
  if (bearer && (!('token' in bearer) || bearer.token !== token)) return { invalid: true }
  return { token }
}

/** `Bearer` in any case, alone or followed by a space or tab: the scheme this server takes. */
const BEARER_SCHEME = /^bearer(?:[ \t]|$)/i

/**
 * Whether the request tried a credential of ours: a Bearer Authorization (well formed or not) or
 * X-Capiscio-Badge. RFC 6750 §3.1: then a 401 says error="invalid_token"; a request that tried
 * another scheme (Basic) "attempted an unsupported authentication method" and gets no error code.
 */
export function hasCredential(headers: HeaderBag): boolean {
  const auth = headerOf(headers, 'authorization')
  return (
    auth === REPEATED ||
    (auth !== undefined && BEARER_SCHEME.test(auth.trimStart())) ||
    headerOf(headers, 'x-capiscio-badge') !== undefined
  )
}
