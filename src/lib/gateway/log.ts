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
    // Every string that can hold client input goes through JSON.stringify, which escapes it.
    let line = `{"time":"${e.time.toISOString()}","status":${e.status},"method":${JSON.stringify(e.method)},"path":${JSON.stringify(e.path)},"duration_ms":${Math.round(e.durationMs * 100) / 100}`
    if (e.upstreamMs !== undefined) line += `,"upstream_ms":${Math.round(e.upstreamMs * 100) / 100}`
    if (e.credential) line += `,"credential":"${e.credential}"`
    if (e.subject) line += `,"subject":${JSON.stringify(e.subject)}`
    if (e.reason) line += `,"reason":${JSON.stringify(e.reason)}`
    if (e.code) line += `,"code":${JSON.stringify(e.code)}`
    return line + '}'
  }
  const reason = e.reason ? `${e.reason}${e.code ? ` (${e.code})` : ''}` : undefined
  const what = e.subject
    ? `valid ${CREDENTIAL_NAMES[e.credential ?? 'badge']} from ${e.subject}${reason ? `; ${reason}` : ''}`
    : (reason ?? 'ok')
  return `${logTime(e.time)} [${e.status}] ${e.method} ${sanitize(e.path)} - ${what}`
}

const CREDENTIAL_NAMES = { badge: 'badge', jwt: 'token', guard: 'signed request' } as const

/** A path is client input: keep log lines one line each. */
function sanitize(path: string): string {
  // eslint-disable-next-line no-control-regex
  return path.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 2048)
}
