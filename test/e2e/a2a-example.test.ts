// examples/a2a-in-process run as a user runs it: the agent and the client as child processes of
// the built package (`capiscio-toolkit` resolves to dist/), keys and trust made with the CLI.
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from '@jest/globals'

import { runCli } from '../helpers/cli.js'
import { ROOT } from '../helpers/paths.js'
import { tmpDir } from '../helpers/tmp.js'

const AGENT = join(ROOT, 'examples', 'a2a-in-process', 'agent.mjs')
const CLIENT = join(ROOT, 'examples', 'a2a-in-process', 'client.mjs')
const SECRET = 'example-secret-that-is-at-least-thirty-two-bytes'

let agent: ChildProcess | undefined
afterEach(() => {
  agent?.kill('SIGTERM')
  agent = undefined
})

const env = (extra: Record<string, string> = {}) => {
  const e: Record<string, string> = { NODE_ENV: 'production' }
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('CAPISCIO_') && !k.startsWith('APCORE_')) e[k] = v
  return { ...e, ...extra }
}

let agentLog = ''

/** Starts agent.mjs and resolves to the URL it prints on its first line. */
function startAgent(args: string[], extraEnv: Record<string, string> = {}): Promise<string> {
  agentLog = ''
  const child = spawn(process.execPath, [AGENT, ...args], {
    env: env(extraEnv),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  agent = child
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d
      agentLog += d
    })
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (out.includes('\n')) resolve(out.split('\n')[0]!)
    })
    child.on('exit', (code) => reject(new Error(`agent exited ${code}: ${err}`)))
  })
}

function runClient(args: string[], extraEnv: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLIENT, ...args], {
      env: env(extraEnv),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('examples/a2a-in-process (child processes, built package)', () => {
  it('badges: 401 without a credential, the card public, and the SDK client seen as its badge subject', async () => {
    const cwd = tmpDir()
    expect((await runCli(['key', 'gen', '--out', 'client', '-q'], { cwd })).code).toBe(0)
    expect(
      (await runCli(['trust', 'add', 'client/public.jwk', '--trust-dir', 'trusted', '-q'], { cwd })).code,
    ).toBe(0)
    const url = await startAgent(['--trust-dir', join(cwd, 'trusted')])

    const missing = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    })
    expect(missing.status).toBe(401)
    expect(missing.headers.get('www-authenticate')).toBe('Bearer')
    expect((await fetch(new URL('.well-known/agent-card.json', url))).status).toBe(200)

    const r = await runClient([
      '--url',
      url,
      '--key',
      join(cwd, 'client'),
      '--sub',
      'did:web:client.example.com',
      '--calls',
      '2',
    ])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const answers = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(answers).toHaveLength(2)
    for (const a of answers) {
      expect(a).toMatchObject({
        isAuthenticated: true,
        userName: 'did:web:client.example.com',
        sameAsContext: true,
        identity: { id: 'did:web:client.example.com', type: 'agent' },
      })
    }
  })

  it('an untrusted client key is refused: the SDK client call fails and the agent says why', async () => {
    const cwd = tmpDir()
    await runCli(['key', 'gen', '--out', 'client', '-q'], { cwd })
    await runCli(['key', 'gen', '--out', 'stranger', '-q'], { cwd })
    await runCli(['trust', 'add', 'client/public.jwk', '--trust-dir', 'trusted', '-q'], { cwd })
    const url = await startAgent(['--trust-dir', join(cwd, 'trusted')])
    const r = await runClient([
      '--url',
      url,
      '--key',
      join(cwd, 'stranger'),
      '--sub',
      'did:web:stranger.example.com',
    ])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^call failed: .*401/m)
    expect(agentLog).toMatch(/refused: BADGE_ISSUER_UNTRUSTED/)
  })

  it('bearer JWTs: agent and client share CAPISCIO_JWT_SECRET; the secret never appears in their output', async () => {
    const url = await startAgent([], { CAPISCIO_JWT_SECRET: SECRET })
    const r = await runClient(['--url', url, '--sub', 'alice'], { CAPISCIO_JWT_SECRET: SECRET })
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({
      isAuthenticated: true,
      userName: 'alice',
      identity: { id: 'alice', type: 'user' },
    })
    expect(r.stdout + r.stderr).not.toContain(SECRET)
  })
})
