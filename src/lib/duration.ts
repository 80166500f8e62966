import { CapiscioError } from './errors.js'

/** Milliseconds per unit: terms are summed in whole milliseconds, so 1.1h is 3960 s, not 3960.0000000000005. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * Parses a duration the way a shell user writes one: `300` (seconds), `90s`, `5m`, `1h`, `1d`,
 * `1h30m`. Returns seconds. `what` names the flag in the error.
 */
export function parseDuration(text: string, what = 'duration'): number {
  const trimmed = text.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed)
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy
  let totalMs = 0
  let consumed = 0
  for (const m of trimmed.matchAll(re)) {
    totalMs += Math.round(Number(m[1]) * UNIT_MS[m[2]!]!)
    consumed += m[0].length
  }
  if (trimmed === '' || consumed !== trimmed.length) {
    throw new CapiscioError('USAGE', `${what} "${text}" is not a duration; write 300, 90s, 5m or 1h`)
  }
  return totalMs / 1000
}

/** "4m 59s", "2h 0m", "12s": a human rendering of a span in seconds. */
export function formatSpan(seconds: number): string {
  const s = Math.round(Math.abs(seconds))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`
}

/** A date, or a date and time with its offset (without one, Date.parse would use the machine's zone). */
const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}))?$/i

/** Milliseconds of an ISO 8601 text whose every part is in range (Date.parse rolls 02-30 into March). */
function isoMs(text: string): number {
  const m = ISO_8601.exec(text)
  if (!m) return Number.NaN
  const [y, mo, d, h = 0, mi = 0, sec = 0] = m
    .slice(1, 7)
    .map((x) => (x === undefined ? undefined : Number(x)))
  const days = new Date(Date.UTC(y!, mo!, 0)).getUTCDate() // day 0 of the next month: this month's last
  const inRange = mo! >= 1 && mo! <= 12 && d! >= 1 && d! <= days && h <= 23 && mi <= 59 && sec <= 59
  return inRange ? Date.parse(text) : Number.NaN
}

/**
 * Parses a point in time for flags like --nbf: unix seconds (`1767225600`), an ISO 8601 date
 * (`2026-01-01T00:00:00Z`), or `+DURATION` from now (`+30s`). Returns NumericDate seconds.
 */
export function parseTime(text: string, nowMs: number, what = 'time'): number {
  const t = text.trim()
  // Digits alone are always seconds: Date.parse would read `0` as the year 2000 and `12` as December 2001.
  if (/^\d+$/.test(t)) {
    const seconds = Number(t)
    if (Number.isSafeInteger(seconds)) return seconds
    throw new CapiscioError('USAGE', `${what} "${text}" is too large for unix seconds`)
  }
  if (t.startsWith('+')) return Math.floor(nowMs / 1000) + parseDuration(t.slice(1), what)
  // ISO 8601 only, not whatever else Date.parse makes a date of ("Dec 3", "1/2/3").
  const ms = isoMs(t)
  if (Number.isNaN(ms))
    throw new CapiscioError(
      'USAGE',
      `${what} "${text}" is not unix seconds, an ISO 8601 date (a time needs Z or an offset) or +DURATION`,
    )
  return Math.floor(ms / 1000)
}
