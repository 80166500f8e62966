// What every start of the CLI loads: the static import graph of the built bundle (dist/cli/, made
// by `npm run build`). A package that only one command needs is imported when that command runs;
// imported at the top it costs every `capiscio --version` (@inquirer/prompts alone is ~50 ms).
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { describe, expect, it } from '@jest/globals'

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli')

/** Static `import … from "x"` and `import "x"` (not `import("x")`) in esbuild's output. */
const STATIC_IMPORT = /(?:^|[;\n}])\s*import\s*(?:[\w$*{}\s,]+?from\s*)?"([^"]+)"/g

/** Every specifier reachable from cli.js through static imports, following the bundle's chunks. */
function staticGraph(entry: string): Set<string> {
  const seen = new Set<string>()
  const files = [entry]
  for (let file = files.pop(); file !== undefined; file = files.pop()) {
    for (const [, spec] of readFileSync(join(DIST, file), 'utf8').matchAll(STATIC_IMPORT)) {
      if (seen.has(spec!)) continue
      seen.add(spec!)
      if (spec!.startsWith('./')) files.push(spec!.slice(2))
    }
  }
  return seen
}

describe('the CLI bundle at start-up', () => {
  const graph = staticGraph('cli.js')

  it('is read by the import scan (it finds the bundle own chunks and node built-ins)', () => {
    expect([...graph].some((s) => s.startsWith('./chunk-'))).toBe(true)
    expect(graph).toContain('node:crypto')
  })

  it.each(['@inquirer/prompts', 'cosmiconfig', 'ioredis', 'sodium-native', 'ajv'])(
    'does not import %s until a command needs it',
    (pkg) => {
      expect([...graph].filter((s) => s === pkg || s.startsWith(`${pkg}/`))).toEqual([])
    },
  )

  it('does not import the gateway (undici, prom-client) or the guided card prompts', () => {
    expect([...graph].filter((s) => /gateway-process|card-prompts/.test(s))).toEqual([])
  })
})
