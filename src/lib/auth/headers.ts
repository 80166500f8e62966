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

const BEARER = /^bearer[ \t]+([^\s,]+)[ \t]*$/i

/** `Authorization: Bearer <token>` (RFC 6750; the scheme is case-insensitive). */
export function bearerToken(headers: HeaderBag): Presented {
  const auth = headerOf(headers, 'authorization')
  if (auth === undefined) return undefined
  if (auth === REPEATED) return { invalid: true }
  const m = BEARER.exec(auth)
  return m ? { token: m[1]! } : { invalid: true }
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

/** Whether the request carries any credential header at all (RFC 6750: then a 401 says invalid_token). */
export function hasCredential(headers: HeaderBag): boolean {
  return (
    headerOf(headers, 'authorization') !== undefined || headerOf(headers, 'x-capiscio-badge') !== undefined
  )
}
