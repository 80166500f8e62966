import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { describe, expect, it } from '@jest/globals'

import { ERROR_CODES } from '../../src/lib/errors.js'
import { ROOT } from '../helpers/paths.js'

// docs/errors.md has one table row per code: | `CODE` | exit | meaning | what to do |
const table = [
  ...readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8').matchAll(
    /^\|\s*`([A-Z_]+)`\s*\|\s*(\d)\s*\|[^|]*\|\s*(.*?)\s*\|\s*$/gm,
  ),
]
const rows = table.map((m) => [m[1]!, Number(m[2])] as const)

describe('docs/errors.md', () => {
  it('lists exactly the codes of the registry', () => {
    expect(rows.map(([code]) => code).sort()).toEqual(Object.keys(ERROR_CODES).sort())
  })

  it('gives each code the "what to do" the CLI prints as its default hint (backticks aside)', () => {
    for (const m of table)
      expect([m[1], m[3]!.replace(/`/g, '')]).toEqual([
        m[1],
        ERROR_CODES[m[1] as keyof typeof ERROR_CODES].hint,
      ])
  })

  it('gives each code the exit code the registry maps it to', () => {
    for (const [code, exit] of rows)
      expect([code, exit]).toEqual([code, ERROR_CODES[code as keyof typeof ERROR_CODES].exit])
  })
})
