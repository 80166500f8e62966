import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'

import { formatLogLine, isoTime } from '../../../src/lib/gateway/log.js'
import type { RequestLogEntry } from '../../../src/lib/gateway/types.js'

// The JSON request log is built by hand for speed: it must still be one valid JSON object per
// line, with every field as JSON.stringify of an object would give it, whatever the client sent.
const entry = fc.record(
  {
    time: fc.date({ min: new Date(0), max: new Date(253402300799000), noInvalidDate: true }),
    status: fc.integer({ min: 100, max: 599 }),
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'),
    path: fc.string({ unit: 'binary', maxLength: 200 }),
    durationMs: fc.double({ min: 0, max: 1e7, noNaN: true }),
    upstreamMs: fc.double({ min: 0, max: 1e7, noNaN: true }),
    subject: fc.string({ unit: 'binary', minLength: 1, maxLength: 100 }),
    credential: fc.constantFrom('badge' as const, 'jwt' as const, 'guard' as const),
    reason: fc.string({ unit: 'binary', minLength: 1, maxLength: 100 }),
    code: fc.constantFrom('BADGE_EXPIRED', 'TOKEN_REPLAYED'),
  },
  { requiredKeys: ['time', 'status', 'method', 'path', 'durationMs'] },
)

describe('formatLogLine json', () => {
  it('is one JSON object on one line, equal to the object it describes, for any path, subject or reason', () => {
    fc.assert(
      fc.property(entry, (e: RequestLogEntry) => {
        const line = formatLogLine(e, 'json')
        expect(line).not.toMatch(/[\n\r]/)
        const expected: Record<string, unknown> = {
          time: e.time.toISOString(),
          status: e.status,
          method: e.method,
          path: e.path,
          duration_ms: Math.round(e.durationMs * 100) / 100,
        }
        if (e.upstreamMs !== undefined) expected.upstream_ms = Math.round(e.upstreamMs * 100) / 100
        if (e.credential) expected.credential = e.credential
        if (e.subject) expected.subject = e.subject
        if (e.reason) expected.reason = e.reason
        if (e.code) expected.code = e.code
        expect(JSON.parse(line)).toEqual(expected)
      }),
    )
  })
})

describe('isoTime', () => {
  it('is toISOString for any time, alone and after any other time (its cached second)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.date({ noInvalidDate: true }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: -1500, max: 1500 }),
        (times, step) => {
          for (const t of times) {
            expect(isoTime(t)).toBe(t.toISOString())
            // A neighbour within, at the edge of, or past the same second.
            const near = new Date(t.getTime() + step)
            if (!Number.isNaN(near.getTime())) expect(isoTime(near)).toBe(near.toISOString())
          }
        },
      ),
      { numRuns: 500 },
    )
  })

  it('pads the milliseconds and keeps them at the second’s edges', () => {
    for (const ms of [0, 5, 42, 999, 1000, 1001, -1, -1000, -1001]) {
      const t = new Date(Date.UTC(2026, 11, 1, 23, 59, 59) + ms)
      expect(isoTime(t)).toBe(t.toISOString())
    }
  })
})

describe('formatLogLine text', () => {
  const base = { time: new Date(0), method: 'GET', path: '/x', durationMs: 1 }
  it('calls an admitted credential valid, and one refused after it verified "verified …, but" why', () => {
    expect(
      formatLogLine({ ...base, status: 200, subject: 'did:web:c', credential: 'badge' }, 'text'),
    ).toMatch(/ \[200\] GET \/x - valid badge from did:web:c$/)
    expect(
      formatLogLine(
        { ...base, status: 403, subject: 'did:web:c', reason: 'badge already used', code: 'BADGE_REPLAYED' },
        'text',
      ),
    ).toMatch(/ \[403\] GET \/x - verified badge from did:web:c, but badge already used \(BADGE_REPLAYED\)$/)
    expect(formatLogLine({ ...base, status: 401, reason: 'missing authorization header' }, 'text')).toMatch(
      / \[401\] GET \/x - missing authorization header$/,
    )
  })
})
