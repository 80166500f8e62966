import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { describe, expect, it } from '@jest/globals'

import { COMMANDS } from '../../src/commands.js'
import { ROOT } from '../helpers/paths.js'

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
const reference = readme.slice(readme.indexOf('<!-- commands -->'), readme.indexOf('<!-- commandsstop -->'))

describe('README', () => {
  it('has a generated reference section for every command (npm run readme)', () => {
    for (const id of Object.keys(COMMANDS))
      expect(reference).toContain(`## \`capiscio ${id.replace(/:/g, ' ')}`)
  })

  it('documents no command that does not exist', () => {
    const documented = [...reference.matchAll(/^## `capiscio ([a-z ]+?)(?: [A-Z[].*)?`$/gm)].map((m) =>
      m[1]!.replace(/ /g, ':'),
    )
    expect(documented.sort()).toEqual(Object.keys(COMMANDS).sort())
  })

  it('gives the two quick-start commands', () => {
    expect(readme).toContain('npm ci && npm run demo')
    expect(readme).toContain('npm ci && npm test')
  })
})
