import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'

import { parseDuration, parseTime } from '../../src/lib/duration.js'

describe('parseDuration', () => {
  it('reads the documented forms', () => {
    expect([parseDuration('300'), parseDuration('90s'), parseDuration('5m'), parseDuration('1h30m')]).toEqual(
      [300, 90, 300, 5400],
    )
    expect(parseDuration('300ms')).toBe(0.3)
    expect(() => parseDuration('soon', '--ttl')).toThrow(/--ttl "soon" is not a duration/)
  })

  it('sums in whole milliseconds: 1.1h is 3960 s and 2.05m is 123 s, not a float a hair off', () => {
    expect(parseDuration('1.1h')).toBe(3960)
    expect(parseDuration('2.05m')).toBe(123)
    const units = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 0, max: 99 }),
        fc.constantFrom('m', 'h', 'd' as const),
        (whole, hundredths, unit) => {
          const ms = whole * units[unit] + (hundredths * units[unit]) / 100 // exact: units are multiples of 100
          return parseDuration(`${whole}.${String(hundredths).padStart(2, '0')}${unit}`) === ms / 1000
        },
      ),
    )
  })
})

describe('parseTime (--nbf)', () => {
  const now = Date.UTC(2026, 11, 3, 12, 0, 0)

  it('reads digits as unix seconds, however few: 0 is 1970, not the year 2000', () => {
    expect(['0', '1', '12', '2030', '1767225600'].map((t) => parseTime(t, now))).toEqual([
      0, 1, 12, 2030, 1767225600,
    ])
  })

  it('reads ISO 8601 dates and +DURATION', () => {
    expect(parseTime('2026-01-01', now)).toBe(Date.UTC(2026, 0, 1) / 1000)
    expect(parseTime('2028-02-29', now)).toBe(Date.UTC(2028, 1, 29) / 1000)
    expect(parseTime('2026-01-01T00:00:30Z', now)).toBe(Date.UTC(2026, 0, 1, 0, 0, 30) / 1000)
    expect(parseTime('2026-01-01T02:00:00+02:00', now)).toBe(Date.UTC(2026, 0, 1) / 1000)
    expect(parseTime('+30s', now)).toBe(now / 1000 + 30)
  })

  it.each([
    'Dec 3',
    '1/2/2026',
    'tomorrow',
    '2026-13-45',
    '2026-02-30',
    '2026-01-01T24:00:00Z',
    // A date-time without an offset would be read in whatever zone the machine is in.
    '2026-01-01T00:00:00',
    '',
    '99999999999999999999',
  ])('refuses %j with a usage error rather than guessing a date', (text) => {
    expect(() => parseTime(text, now, '--nbf')).toThrow(
      expect.objectContaining({ code: 'USAGE', message: expect.stringContaining('--nbf') }),
    )
  })
})
