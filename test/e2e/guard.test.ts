import { writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'

import { afterAll, afterEach, describe, expect, it } from '@jest/globals'

import { SimpleGuard } from '../../src/lib/guard/guard.js'
import { requireSignature } from '../../src/lib/guard/http.js'
import { runCli } from '../helpers/cli.js'
import { cleanupTmp, tmpDir } from '../helpers/tmp.js'

afterAll(cleanupTmp)
let server: Server | undefined
afterEach(async () => {
  server?.closeAllConnections()
  await new Promise((r) => (server ? server.close(r) : r(undefined)))
  server = undefined
})

const BODY = '{"jsonrpc":"2.0","method":"tasks/send","id":1}'

async function project(): Promise<string> {
  const cwd = tmpDir()
  expect((await runCli(['key', 'gen', '-q'], { cwd })).code).toBe(0)
  writeFileSync(join(cwd, 'req.json'), BODY)
  return cwd
}

describe('capiscio guard (built CLI)', () => {
  it('sign prints only a token; verify accepts it over the same body once the key is trusted (exit 0, --json claims)', async () => {
    const cwd = await project()
    const signed = await runCli(['guard', 'sign', '--body-file', 'req.json', '--claim', 'sub="ci"'], { cwd })
    expect(signed.code).toBe(0)
    expect(signed.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/)
    const token = signed.stdout.trim()
    const untrusted = await runCli(['guard', 'verify', token, '--body-file', 'req.json', '--json'], { cwd })
    expect(untrusted.code).toBe(3)
    expect(JSON.parse(untrusted.stdout)).toMatchObject({
      valid: false,
      error: { code: 'GUARD_UNTRUSTED_KEY' },
    })
    await runCli(['trust', 'add', 'capiscio_keys/public.jwk', '-q'], { cwd })
    const ok = await runCli(['guard', 'verify', token, '--body-file', 'req.json', '--json'], { cwd })
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.stdout)).toMatchObject({
      valid: true,
      claims: { sub: 'ci', bh: expect.any(String) },
    })
  })

  it('verify: a changed body, no body, or a body from stdin that differs is GUARD_BODY_MISMATCH (exit 3)', async () => {
    const cwd = await project()
    await runCli(['trust', 'add', 'capiscio_keys/public.jwk', '-q'], { cwd })
    const token = (await runCli(['guard', 'sign', '--body-file', 'req.json'], { cwd })).stdout.trim()
    const results = await Promise.all([
      runCli(['guard', 'verify', token], { cwd }),
      runCli(['guard', 'verify', token, '--body-file', '-'], { cwd, input: BODY + ' ' }),
      runCli(['guard', 'verify', token, '--body-file', '-'], { cwd, input: BODY }),
    ])
    expect(results.map((r) => r.code)).toEqual([3, 3, 0])
    expect(results[0]!.stderr).toContain('Code: GUARD_BODY_MISMATCH')
  })

  it('a token from guard sign is accepted by an agent behind requireSignature, as curl would send it', async () => {
    const cwd = await project()
    await runCli(['trust', 'add', 'capiscio_keys/public.jwk', '-q'], { cwd })
    const guard = new SimpleGuard({ baseDir: cwd, env: {} })
    const mw = requireSignature(guard)
    server = createServer((req, res) => mw(req, res, () => res.end('accepted')))
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/a2a/tasks`
    const token = (await runCli(['guard', 'sign', '--body-file', 'req.json'], { cwd })).stdout.trim()
    const res = await fetch(url, { method: 'POST', headers: { 'x-capiscio-badge': token }, body: BODY })
    expect([res.status, await res.text()]).toEqual([200, 'accepted'])
  })
})
