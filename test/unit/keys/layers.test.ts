import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

import { describe, expect, it } from '@jest/globals'

const lib = join(process.cwd(), 'src', 'lib')
const importsOf = (dir: string) =>
  readdirSync(join(lib, dir))
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) =>
      [...readFileSync(join(lib, dir, f), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => `${f}: ${m[1]}`),
    )

describe('library layers', () => {
  it('keys/ and keysource/ never import from badge/ (the algorithm rules live in keys/alg.ts)', () => {
    expect([...importsOf('keys'), ...importsOf('keysource')].filter((i) => i.includes('../badge/'))).toEqual(
      [],
    )
  })
})
