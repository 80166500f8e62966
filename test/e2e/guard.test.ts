import { mkdirSync, writeFileSync } from 'node:fs'
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

  it("verify: a trusted key that names another key's issuer is GUARD_UNTRUSTED_KEY (exit 3), as in the gateway", async () => {
    const cwd = tmpDir()
    for (const who of ['alice', 'bob'])
      expect((await runCli(['key', 'gen', '--out', who, '-q'], { cwd })).code).toBe(0)
    await runCli(['trust', 'add', 'alice/public.jwk', '-q'], { cwd })
    await runCli(['trust', 'add', 'bob/public.jwk', '--issuer', 'https://bob.example.com', '-q'], { cwd })
    const asBob = await runCli(
      ['guard', 'sign', '-q', '--key', 'alice', '--iss', 'https://bob.example.com'],
      { cwd },
    )
    expect(asBob.code).toBe(0)
    const refused = await runCli(['guard', 'verify', asBob.stdout.trim(), '--json'], { cwd })
    expect([refused.code, JSON.parse(refused.stdout)]).toEqual([
      3,
      expect.objectContaining({
        valid: false,
        error: expect.objectContaining({ code: 'GUARD_UNTRUSTED_KEY' }),
      }),
    ])
    const asItself = await runCli(['guard', 'sign', '-q', '--key', 'alice'], { cwd })
    expect((await runCli(['guard', 'verify', asItself.stdout.trim()], { cwd })).code).toBe(0)
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

describe('capiscio guard in a project (DESIGN §8: keys under the project root)', () => {
  it('signs and verifies from a subdirectory with the keys of the nearest directory up holding agent-card.json, iss its agent_id', async () => {
    const root = tmpDir()
    writeFileSync(join(root, 'agent-card.json'), JSON.stringify({ agent_id: 'did:web:proj.example.com' }))
    expect((await runCli(['key', 'gen', '-q'], { cwd: root })).code).toBe(0)
    const trusted = await runCli(
      ['trust', 'add', 'capiscio_keys/public.jwk', '--issuer', 'did:web:proj.example.com', '-q'],
      { cwd: root },
    )
    expect(trusted.code).toBe(0)
    const sub = join(root, 'src', 'handlers')
    mkdirSync(sub, { recursive: true })
    writeFileSync(join(sub, 'req.json'), BODY)

    const signed = await runCli(['guard', 'sign', '--body-file', 'req.json'], { cwd: sub })
    expect([signed.code, signed.stderr]).toEqual([0, expect.stringContaining('signed for a')])
    const token = signed.stdout.trim()
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iss: string }
    expect(payload.iss).toBe('did:web:proj.example.com')
    const verified = await runCli(['guard', 'verify', token, '--body-file', 'req.json', '--json'], {
      cwd: sub,
    })
    expect([verified.code, JSON.parse(verified.stdout).claims.iss]).toEqual([0, 'did:web:proj.example.com'])
    // Another key, named outright, speaks as itself: the project's agent_id is the project keys'.
    expect((await runCli(['key', 'gen', '--out', join(root, 'partner'), '-q'], { cwd: sub })).code).toBe(0)
    const partner = await runCli(['guard', 'sign', '--key', join(root, 'partner')], { cwd: sub })
    const partnerIss = JSON.parse(Buffer.from(partner.stdout.split('.')[1]!, 'base64url').toString()) as {
      iss: string
    }
    expect(partnerIss.iss).toMatch(/^did:key:z6Mk/)
    // What the library's SimpleGuard makes from the same project verifies the same way.
    const guard = new SimpleGuard({ baseDir: sub })
    const fromLibrary = await guard.signOutbound({}, BODY)
    expect(
      (await runCli(['guard', 'verify', fromLibrary, '--body-file', 'req.json'], { cwd: sub })).code,
    ).toBe(0)
  })

  it('a configured key directory still wins over the project root', async () => {
    const root = tmpDir()
    writeFileSync(join(root, 'agent-card.json'), '{}')
    expect((await runCli(['key', 'gen', '--out', 'elsewhere', '-q'], { cwd: root })).code).toBe(0)
    const r = await runCli(['guard', 'sign'], {
      cwd: root,
      env: { CAPISCIO_KEY_DIR: join(root, 'elsewhere') },
    })
    expect(r.code).toBe(0)
    const missing = await runCli(['guard', 'sign'], { cwd: root })
    expect([missing.code, missing.stderr]).toEqual([4, expect.stringContaining(join(root, 'capiscio_keys'))])
  })
})
