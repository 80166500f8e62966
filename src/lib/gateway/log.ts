import { logTime } from '../time.js'
import type { RequestLogEntry } from './types.js'

/**
 * One line per request (docs/architecture.md §6), never with a credential or a query string:
 * `2025/12/01 19:48:15 [200] POST /api/task - valid badge from did:capiscio:agent:client` (or
 * `valid token from …`, `valid signed request from …`),
 * or a JSON object per line.
 */
export function formatLogLine(e: RequestLogEntry, format: 'text' | 'json'): string {
  if (format === 'json') {
    // Built by hand: it runs for every request, and JSON.stringify of an object costs 3× this.
    // Every string that can hold client input is escaped (quoted).
    let line = `{"time":"${isoTime(e.time)}","status":${e.status},"method":${quoted(e.method)},"path":${quoted(e.path)},"duration_ms":${Math.round(e.durationMs * 100) / 100}`
    if (e.upstreamMs !== undefined) line += `,"upstream_ms":${Math.round(e.upstreamMs * 100) / 100}`
    if (e.credential) line += `,"credential":"${e.credential}"`
    if (e.subject) line += `,"subject":${quoted(e.subject)}`
    if (e.reason) line += `,"reason":${quoted(e.reason)}`
    if (e.code) line += `,"code":${quoted(e.code)}`
    return line + '}'
  }
  const reason = e.reason ? `${e.reason}${e.code ? ` (${e.code})` : ''}` : undefined
  // A credential that verified and was then refused (replayed) or not served (the replay store
  // down, the client gone) is not called valid on a 403 or 503 line.
  const kind = CREDENTIAL_NAMES[e.credential ?? 'badge']
  const what = e.subject
    ? reason
      ? `verified ${kind} from ${e.subject}, but ${reason}`
      : `valid ${kind} from ${e.subject}`
    : (reason ?? 'ok')
  return `${logTime(e.time)} [${e.status}] ${e.method} ${sanitize(e.path)} - ${what}`
}

/** Printable ASCII but `"` and `\\`: a JSON string of these characters is the characters quoted. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

/** A JSON string: the common case (a plain path, a DID) without JSON.stringify's scan and copy. */
function quoted(value: string): string {
  return PLAIN.test(value) ? `"${value}"` : JSON.stringify(value)
}

/**
 * The time as ISO 8601, as toISOString gives it, built from the second's text and the milliseconds:
 * toISOString for every line was half of a line's cost, and at a few thousand requests a second
 * most lines share their second with the line before, not their millisecond.
 */
let secondStart = Number.NaN
let secondPrefix = ''
export function isoTime(time: Date): string {
  const ms = time.getTime()
  let offset = ms - secondStart
  if (!(offset >= 0 && offset < 1000)) {
    secondStart = ms - (((ms % 1000) + 1000) % 1000)
    const iso = new Date(secondStart).toISOString()
    secondPrefix = iso.slice(0, iso.length - 4) // without "000Z"
    offset = ms - secondStart
  }
  return `${secondPrefix}${offset < 10 ? '00' : offset < 100 ? '0' : ''}${offset}Z`
}

const CREDENTIAL_NAMES = { badge: 'badge', jwt: 'token', guard: 'signed request' } as const

/** A path is client input: keep log lines one line each. */
function sanitize(path: string): string {
  // eslint-disable-next-line no-control-regex
  return path.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 2048)
}
