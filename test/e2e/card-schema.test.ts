// The A2A 0.3 schema check through the built CLI bundle: ajv stays outside it, is found in
// node_modules at run time, and only a command that checks a 0.3 card loads it.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from '@jest/globals'

import { runCli } from '../helpers/cli.js'
import { v1Card } from '../helpers/cards.js'
import { cleanupTmp, tmpDir } from '../helpers/tmp.js'

afterAll(cleanupTmp)

const CARD_03 = {
  name: 'Agent',
  description: 'Does things',
  version: '1.0.0',
  url: 'https://agent.example.com/a2a',
  protocolVersion: '0.3.0',
  capabilities: { streaming: true },
  defaultInputModes: ['text/plain'],
  defaultOutputModes: ['text/plain'],
  skills: [{ id: 's', name: 'S', description: 'd', tags: ['t'] }],
}

describe('card validate with the A2A 0.3 schema (built CLI)', () => {
  it('a schema-violating 0.3 card exits 3; --json lists SCHEMA_VIOLATION at its path', async () => {
    const cwd = tmpDir()
    writeFileSync(
      join(cwd, 'card.json'),
      JSON.stringify({ ...CARD_03, securitySchemes: { bearer: { type: 'bogus' } } }),
    )
    const r = await runCli(['card', 'validate', 'card.json', '--json'], { cwd })
    expect(r.code).toBe(3)
    const out = JSON.parse(r.stdout) as { errors: { code: string; severity: string; path: string }[] }
    expect(out.errors).toEqual([
      expect.objectContaining({
        code: 'SCHEMA_VIOLATION',
        severity: 'error',
        path: 'securitySchemes.bearer',
      }),
    ])
  })

  it('loads ajv for a 0.3 card only: not for --version, key gen or a 1.0 card', async () => {
    const cwd = tmpDir()
    // A CommonJS preload that reports, as the process exits, whether any ajv file was required.
    writeFileSync(
      join(cwd, 'probe.cjs'),
      "process.on('exit', () => process.stderr.write(`ajv-loaded=${Object.keys(require.cache).some((f) => /[\\\\/]node_modules[\\\\/]ajv[\\\\/]/.test(f))}\\n`))\n",
    )
    writeFileSync(join(cwd, 'v03.json'), JSON.stringify(CARD_03))
    writeFileSync(join(cwd, 'v1.json'), JSON.stringify(v1Card()))
    const env = { NODE_OPTIONS: `--require ${join(cwd, 'probe.cjs')}` }
    const runs = await Promise.all(
      [
        ['--version'],
        ['key', 'gen', '--out', 'k', '-q'],
        ['card', 'validate', 'v1.json'],
        ['card', 'validate', 'v03.json'],
      ].map((args) => runCli(args, { cwd, env })),
    )
    expect(runs.map((r) => [r.code, /ajv-loaded=(true|false)/.exec(r.stderr)?.[1]])).toEqual([
      [0, 'false'],
      [0, 'false'],
      [0, 'false'],
      [0, 'true'],
    ])
  })
})
