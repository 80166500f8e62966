import { describe, expect, it } from '@jest/globals'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

// The library must load without @a2a-js/sdk or express installed (they are devDependencies):
// only `import type` of them may appear in src/lib, since type imports vanish at compile time.
describe('the library at run time', () => {
  it('imports neither @a2a-js/sdk nor express except as types', () => {
    const root = join(process.cwd(), 'src', 'lib')
    const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'))
    expect(files.length).toBeGreaterThan(10)
    const offending: string[] = []
    const pattern =
      /(?:^|\n)\s*import\s+(?!type\b)[^;]*?from\s+['"](@a2a-js\/[^'"]*|express(?:\/[^'"]*)?)['"]|import\(\s*['"](@a2a-js\/[^'"]*|express)['"]\s*\)|require\(\s*['"](@a2a-js\/[^'"]*|express)['"]\s*\)/g
    for (const file of files) {
      const text = readFileSync(join(root, file), 'utf8')
      for (const m of text.matchAll(pattern)) offending.push(`${file}: ${m[0].trim()}`)
    }
    expect(offending).toEqual([])
  })
})
