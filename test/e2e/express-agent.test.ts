// examples/express-agent as its README runs it: keys and trust made with the CLI, the agent a child
// process of the built package, the caller signing with `capiscio guard sign` as curl would send.
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, afterEach, describe, expect, it } from '@jest/globals'

import { runCli } from '../helpers/cli.js'
import { ROOT } from '../helpers/paths.js'
import { cleanupTmp, tmpDir } from '../helpers/tmp.js'

afterAll(cleanupTmp)
const AGENT = join(ROOT, 'examples', 'express-agent', 'agent.mjs')
let child: ChildProcess | undefined
afterEach(() => {
  child?.kill('SIGTERM')
  child = undefined
})

const env = (extra: Record<string, string> = {}) => {
  const e: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('CAPISCIO_')) e[k] = v
  return { ...e, NODE_ENV: 'production', PORT: '0', ...extra }
}

function start(cwd: string, extra: Record<string, string> = {}): Promise<string> {
  child = spawn(process.execPath, [AGENT], { cwd, env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] })
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    child!.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (out.includes('\n')) resolve(out.split('\n')[0]!)
    })
    child!.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
    child!.on('exit', (code) => reject(new Error(`agent exited ${code}: ${err}`)))
  })
}

/** An agent project and a caller project that trust each other's keys, as the README sets them up. */
async function setup() {
  const agentDir = tmpDir()
  const callerDir = tmpDir()
  for (const cwd of [agentDir, callerDir]) expect((await runCli(['key', 'gen', '-q'], { cwd })).code).toBe(0)
  await runCli(['trust', 'add', join(callerDir, 'capiscio_keys', 'public.jwk'), '-q'], { cwd: agentDir })
  await runCli(['trust', 'add', join(agentDir, 'capiscio_keys', 'public.jwk'), '-q'], { cwd: callerDir })
  const url = await start(agentDir)
  return { agentDir, callerDir, url }
}

const TASK = JSON.stringify({ jsonrpc: '2.0', method: 'tasks/send', params: { text: 'summarise' }, id: 42 })

async function signed(callerDir: string, body: string): Promise<string> {
  writeFileSync(join(callerDir, 'req.json'), body)
  const r = await runCli(['guard', 'sign', '--body-file', 'req.json'], { cwd: callerDir })
  expect(r.code).toBe(0)
  return r.stdout.trim()
}

describe('examples/express-agent (child process, built package)', () => {
  it('valid → 200, and the answer carries an X-A2A-Signature that guard verify accepts over its bytes', async () => {
    const { callerDir, url } = await setup()
    const res = await fetch(`${url}/a2a/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-capiscio-badge': await signed(callerDir, TASK) },
      body: TASK,
    })
    expect(res.status).toBe(200)
    const bytes = Buffer.from(await res.arrayBuffer())
    expect(JSON.parse(bytes.toString())).toMatchObject({
      result: { status: 'completed', echo: { text: 'summarise' } },
      id: 42,
    })
    writeFileSync(join(callerDir, 'resp.json'), bytes)
    const sig = res.headers.get('x-a2a-signature')!
    const check = await runCli(['guard', 'verify', sig, '--body-file', 'resp.json'], { cwd: callerDir })
    expect(check.code).toBe(0)
  })

  it('no credential → 401 -32001; one changed byte → 403 -32002; a forged token → 403; the card is public', async () => {
    const { callerDir, url } = await setup()
    const post = (headers: Record<string, string>, body = TASK) =>
      fetch(`${url}/a2a/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      })
    const missing = await post({})
    expect(missing.status).toBe(401)
    expect(await missing.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 }, id: 42 })
    const token = await signed(callerDir, TASK)
    const changed = await post({ 'x-capiscio-badge': token }, TASK.replace('summarise', 'summarisf'))
    expect(changed.status).toBe(403)
    expect(await changed.json()).toMatchObject({
      error: { code: -32002, data: { code: 'GUARD_BODY_MISMATCH' } },
    })
    const forged = await post({ authorization: `Bearer ${token.slice(0, -4)}AAAA` })
    expect(forged.status).toBe(403)
    const card = await fetch(`${url}/.well-known/agent-card.json`)
    expect(card.status).toBe(200)
  })

  it('a body that is not JSON is a JSON-RPC parse error, not a stack trace', async () => {
    const { callerDir, url } = await setup()
    const body = '{"jsonrpc": '
    const res = await fetch(`${url}/a2a/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-capiscio-badge': await signed(callerDir, body) },
      body,
    })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 } })
  })

  it('CAPISCIO_DEV_MODE in production refuses to start, with the reason', async () => {
    await expect(start(tmpDir(), { CAPISCIO_DEV_MODE: 'true' })).rejects.toThrow(
      /dev mode is refused in production/,
    )
  })
})
