import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from '@jest/globals'

import { runCli } from '../helpers/cli.js'
import { BIN } from '../helpers/paths.js'
import { cleanupTmp, tmpDir } from '../helpers/tmp.js'

afterAll(cleanupTmp)

const FLAGS = [
  '--name',
  'Research Agent',
  '--description',
  'Finds papers',
  '--url',
  'https://agent.example.com/a2a',
  '--version',
  '1.0.0',
]

describe('card build (built CLI, no terminal)', () => {
  it('builds from flags; a missing field is exit 2 naming every missing one, asked for nothing', async () => {
    const cwd = tmpDir()
    const r = await runCli(
      ['card', 'build', ...FLAGS, '--skill', 'search:Search:Finds papers:research', '--auth', 'badge'],
      { cwd },
    )
    expect(r.code).toBe(0)
    const card = JSON.parse(readFileSync(join(cwd, 'agent-card.json'), 'utf8')) as Record<string, unknown>
    expect(card).toMatchObject({
      name: 'Research Agent',
      supportedInterfaces: [{ protocolBinding: 'JSONRPC' }],
      securitySchemes: {
        capiscioBadge: { apiKeySecurityScheme: { location: 'header', name: 'X-Capiscio-Badge' } },
      },
    })
    const missing = await runCli(['card', 'build', '--name', 'X'], { cwd: tmpDir() })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('missing --description, --url, --version')
    const exists = await runCli(['card', 'build', ...FLAGS], { cwd })
    expect(exists.code).toBe(4)
    expect(exists.stderr).toContain('Code: FILE_EXISTS')
    // A mistake on the command line is said first (exit 2), also when the output is in the way.
    const badSkill = await runCli(['card', 'build', ...FLAGS, '--skill', 'bad'], { cwd })
    expect([badSkill.code, badSkill.stderr]).toEqual([
      2,
      expect.stringContaining('a skill is id:name:description'),
    ])
    const signWithoutKey = await runCli(['card', 'build', ...FLAGS, '--sign'], { cwd })
    expect([signWithoutKey.code, signWithoutKey.stderr]).toEqual([
      2,
      expect.stringContaining('--sign needs --key'),
    ])
  })

  it('takes the config file card section, then --from, then flags; --sign signs it; --out - prints it', async () => {
    const cwd = tmpDir()
    await runCli(['key', 'gen', '-q'], { cwd })
    writeFileSync(
      join(cwd, 'capiscio.config.json'),
      JSON.stringify({ card: { name: 'From Config', description: 'cfg', version: '0.1.0' } }),
    )
    writeFileSync(
      join(cwd, 'partial.json'),
      JSON.stringify({ description: 'From file', url: 'https://file.example/a2a' }),
    )
    const r = await runCli(
      [
        'card',
        'build',
        '--from',
        'partial.json',
        '--version',
        '2.0.0',
        '--sign',
        '--key',
        'capiscio_keys',
        '--out',
        '-',
        '--a2a-version',
        '0.3',
      ],
      { cwd },
    )
    expect(r.code).toBe(0)
    const card = JSON.parse(r.stdout) as Record<string, unknown> & { signatures: unknown[] }
    expect(card).toMatchObject({
      protocolVersion: '0.3.0',
      name: 'From Config',
      description: 'From file',
      url: 'https://file.example/a2a',
      version: '2.0.0',
    })
    expect(card.signatures).toHaveLength(1)
    writeFileSync(join(cwd, 'signed.json'), r.stdout)
    expect(
      (await runCli(['card', 'verify', 'signed.json', '--key', 'capiscio_keys/public.jwk', '-q'], { cwd }))
        .code,
    ).toBe(0)
    expect(existsSync(join(cwd, 'agent-card.json'))).toBe(false)
  })

  it('--from: a member of the wrong type is exit 2 naming the file and member; members it does not carry over are warned of', async () => {
    const cwd = tmpDir()
    const base = { name: 'A', description: 'd', url: 'https://a.example/a2a', version: '1.0.0' }
    writeFileSync(
      join(cwd, 'bad.json'),
      JSON.stringify({ ...base, skills: [{ id: 's', name: 'S', description: 'x', tags: 'x' }] }),
    )
    const bad = await runCli(['card', 'build', '--from', 'bad.json', '--out', '-'], { cwd })
    expect([bad.code, bad.stdout]).toEqual([2, ''])
    expect(bad.stderr).toContain('bad.json: skill 1 tags must be an array of strings')
    writeFileSync(join(cwd, 'extra.json'), JSON.stringify({ ...base, extra: 1 }))
    const extra = await runCli(['card', 'build', '--from', 'extra.json', '--out', '-'], { cwd })
    expect(extra.code).toBe(0)
    expect(extra.stderr).toContain('extra.json: not carried over: extra')
    expect(JSON.parse(extra.stdout)).not.toHaveProperty('extra')
  })

  it("the config file's card section with a member of the wrong type is CONFIG_INVALID (exit 4) naming the file", async () => {
    const cwd = tmpDir()
    writeFileSync(join(cwd, 'capiscio.config.json'), JSON.stringify({ card: { name: 'A', skills: 'x' } }))
    const r = await runCli(['card', 'build', '--out', '-', '--json'], { cwd })
    expect(r.code).toBe(4)
    expect(JSON.parse(r.stdout).error).toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/capiscio\.config\.json: card: skills must be an array of skills$/),
    })
  })
})

function tmux(...args: string[]): string {
  return execFileSync('tmux', args, { encoding: 'utf8' })
}

/** Polls the pane until it shows `text` (a condition, not a fixed wait); fails after 15 s. */
async function waitFor(session: string, text: string): Promise<string> {
  const deadline = Date.now() + 15_000
  for (;;) {
    const pane = tmux('capture-pane', '-p', '-J', '-t', session)
    if (pane.includes(text)) return pane
    if (Date.now() > deadline) throw new Error(`the pane never showed ${JSON.stringify(text)}:\n${pane}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('card build guided flow in a real terminal (tmux)', () => {
  it('asks for the missing fields, shows the card, and writes it when confirmed', async () => {
    const cwd = tmpDir()
    const session = `capiscio-card-${process.pid}-${Date.now()}`
    const command = `cd ${JSON.stringify(cwd)} && NODE_ENV=production ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} card build --version 1.0.0; echo "EXIT=$?"; sleep 60`
    tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50', command)
    try {
      await waitFor(session, 'Agent name')
      tmux('send-keys', '-t', session, 'Terminal Agent', 'Enter')
      await waitFor(session, 'What does it do?')
      tmux('send-keys', '-t', session, 'Built from a real terminal', 'Enter')
      await waitFor(session, 'A2A endpoint URL')
      tmux('send-keys', '-t', session, 'Enter')
      await waitFor(session, 'Add a skill?')
      tmux('send-keys', '-t', session, 'n', 'Enter')
      await waitFor(session, 'How do callers authenticate?')
      tmux('send-keys', '-t', session, 'Down', 'Enter') // bearer JWT
      await waitFor(session, 'Write it to agent-card.json?')
      tmux('send-keys', '-t', session, 'Enter')
      const pane = await waitFor(session, 'EXIT=')
      expect(pane).toContain('EXIT=0')
      expect(pane).toContain('"name": "Terminal Agent"')
    } finally {
      tmux('kill-session', '-t', session)
    }
    const card = JSON.parse(readFileSync(join(cwd, 'agent-card.json'), 'utf8')) as Record<string, unknown>
    expect(card).toMatchObject({
      name: 'Terminal Agent',
      description: 'Built from a real terminal',
      version: '1.0.0',
      supportedInterfaces: [{ url: 'https://agent.example.com/a2a' }],
      securitySchemes: { bearerAuth: { httpAuthSecurityScheme: { scheme: 'bearer' } } },
    })
    expect(card).not.toHaveProperty('skills')
  })
})
