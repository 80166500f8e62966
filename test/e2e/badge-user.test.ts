import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, afterEach, describe, expect, it } from '@jest/globals'

import { publicJwkOf } from '../../src/lib/keys/key.js'
import { claims as claimsAt, edKey, signRaw } from '../helpers/badges.js'
import { clientKeyDir, DOC_ISSUE_ARGS, runCli } from '../helpers/cli.js'
import { JwksServer } from '../helpers/jwks-server.js'
import { BIN } from '../helpers/paths.js'
import { startCli, stopAll, waitForOutput } from '../helpers/processes.js'
import { cleanupTmp, tmpDir } from '../helpers/tmp.js'

afterAll(cleanupTmp)
let server: JwksServer | undefined
afterEach(async () => {
  await server?.stop()
  server = undefined
  await stopAll()
})

/** A registry URL carrying credentials in both places they are commonly put. */
const withSecrets = (url: string) =>
  url.replace('http://', 'http://alice:s3cret-pw@') + '?api_key=k-SECRET-123'

function signed(overrides: Record<string, unknown> = {}) {
  const ca = edKey()
  const now = Math.floor(Date.now() / 1000)
  const token = signRaw(
    { alg: 'EdDSA', kid: 'ca-1' },
    claimsAt({ iss: 'did:web:issuer.example.com', iat: now, exp: now + 300, ...overrides }),
    ca.privateKey,
  )
  return { ca, token }
}

describe('badge commands as a user meets them (issue 7, items 4, 14, 15, 16, 19, 20)', () => {
  it.each([
    ['down', (s: JwksServer) => s.stop()],
    ['404', (s: JwksServer) => void (s.status = 404)],
    ['500', (s: JwksServer) => void (s.status = 500)],
    ['not JSON', (s: JwksServer) => void (s.body = '<html>oops</html>')],
    ['not a JWKS', (s: JwksServer) => void (s.body = '{"keys":"none"}')],
  ])(
    'verify --jwks with the registry %s is NETWORK_ERROR (exit 4) naming the URL, redacted',
    async (_, breakIt) => {
      const { token } = signed()
      server = await new JwksServer().start()
      await breakIt(server)
      const url = withSecrets(server.url)
      const r = await runCli(['badge', 'verify', token, '--jwks', url], { cwd: tmpDir() })
      expect(r.code).toBe(4)
      expect(r.stderr).toContain('Code: NETWORK_ERROR')
      expect(r.stderr).toContain(`127.0.0.1:${server.port}/.well-known/jwks.json`)
      expect(r.stderr).not.toMatch(/s3cret-pw|k-SECRET-123|alice/)
      const json = await runCli(['badge', 'verify', token, '--jwks', url, '--json'], { cwd: tmpDir() })
      expect(json.code).toBe(4)
      expect(JSON.parse(json.stdout)).toMatchObject({ valid: false, error: { code: 'NETWORK_ERROR' } })
      expect(json.stdout).not.toMatch(/s3cret-pw|k-SECRET-123/)
    },
  )

  it('a trust directory named by CAPISCIO_TRUST_DIR that does not exist is FILE_NOT_FOUND (exit 4) for trust list, badge verify and guard verify, as the flag is', async () => {
    const cwd = tmpDir()
    const env = { CAPISCIO_TRUST_DIR: join(cwd, 'typo') }
    const { token } = signed()
    for (const args of [
      ['trust', 'list'],
      ['badge', 'verify', token],
      ['guard', 'verify', token],
    ]) {
      const r = await runCli(args, { cwd, env })
      expect([args[0], r.code]).toEqual([args[0], 4])
      expect(r.stderr).toContain(
        `the trust directory ${join(cwd, 'typo')} (CAPISCIO_TRUST_DIR) does not exist`,
      )
      expect(r.stderr).toContain('Code: FILE_NOT_FOUND')
    }
    const flagged = await runCli(['guard', 'verify', token, '--trust-dir', 'typo'], { cwd })
    expect([flagged.code, flagged.stderr]).toEqual([
      4,
      expect.stringContaining('the trust directory typo does not exist'),
    ])
  })

  it('verify of a path that does not exist, a directory or an explicit missing --trust-dir is exit 4 naming it', async () => {
    const cwd = tmpDir()
    mkdirSync(join(cwd, 'adir'))
    const missing = await runCli(['badge', 'verify', 'nothere.jwt', '--accept-self-signed'], { cwd })
    expect(missing.code).toBe(4)
    expect(missing.stderr).toMatch(/^Error: nothere\.jwt does not exist\nCode: FILE_NOT_FOUND\n/)
    const nested = await runCli(['badge', 'verify', 'badges/b.jwt', '--accept-self-signed', '--json'], {
      cwd,
    })
    expect(JSON.parse(nested.stdout)).toMatchObject({ valid: false, error: { code: 'FILE_NOT_FOUND' } })
    const dir = await runCli(['badge', 'verify', 'adir', '--accept-self-signed'], { cwd })
    expect(dir.code).toBe(4)
    expect(dir.stderr).toContain('adir is a directory')
    const { token } = signed()
    const trust = await runCli(['badge', 'verify', token, '--trust-dir', join(cwd, 'nope')], { cwd })
    expect(trust.code).toBe(4)
    expect(trust.stderr).toContain(`${join(cwd, 'nope')} does not exist`)
    expect(trust.stderr).toContain('Code: FILE_NOT_FOUND')
    // What is not path-like stays a malformed badge.
    expect((await runCli(['badge', 'verify', 'hello', '--accept-self-signed'], { cwd })).code).toBe(3)
  })

  it('verify - with an empty standard input is a usage error', async () => {
    const r = await runCli(['badge', 'verify', '-', '--accept-self-signed'], { cwd: tmpDir(), input: '' })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/standard input is empty\nCode: USAGE\n/)
  })

  it('keep refuses --renew-before >= --ttl with exit 2 and writes nothing', async () => {
    const cwd = await clientKeyDir()
    const args = ['badge', 'keep', '--key', 'client-private.jwk', '--self-sign', '--out', 'k.jwt']
    for (const [ttl, before] of [
      ['1m', '1m'],
      ['1m', '5m'],
    ]) {
      const r = await runCli([...args, '--ttl', ttl!, '--renew-before', before!], { cwd, timeoutMs: 15_000 })
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('--renew-before')
      expect(r.stderr).toContain('--ttl')
      expect(existsSync(join(cwd, 'k.jwt'))).toBe(false)
    }
    // Under --json the failure is one line, like everything else a long-running command writes.
    const json = await runCli([...args, '--ttl', '1m', '--renew-before', '1m', '--json'], {
      cwd,
      timeoutMs: 15_000,
    })
    expect(json.stdout.trimEnd().split('\n')).toHaveLength(1)
    expect(JSON.parse(json.stdout).error.code).toBe('USAGE')
  })

  it('keep fails at once (exit 4) when its first badge cannot be written, as issue --out does, instead of retrying forever', async () => {
    const cwd = await clientKeyDir()
    mkdirSync(join(cwd, 'a-dir'))
    const args = ['badge', 'keep', '--key', 'client-private.jwk', '--self-sign']
    for (const out of ['a-dir', 'no-such-dir/badge.jwt']) {
      const r = await runCli([...args, '--out', out], { cwd, timeoutMs: 15_000 })
      expect([r.code, r.stderr]).toEqual([4, expect.stringContaining('Code: WRITE_FAILED')])
      expect(r.stderr).not.toContain('retrying')
      expect(r.stderr).not.toContain('stays in place')
    }
    const json = await runCli([...args, '--out', 'a-dir', '--json'], { cwd, timeoutMs: 15_000 })
    expect([json.code, JSON.parse(json.stdout).error.code]).toEqual([4, 'WRITE_FAILED'])
  })

  it('keep --json stops with exit 4 when its standard output is gone (the reader of | head left)', async () => {
    const cwd = await clientKeyDir()
    const keep =
      'badge keep --key client-private.jwk --self-sign --out kept.jwt --json --ttl 3s --renew-before 1s'
    const child = spawn(process.execPath, [BIN, ...keep.split(' '), '--check-interval', '1s'], {
      cwd,
      env: { ...process.env, NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stdout.destroy()
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect(code).toBe(4)
    expect(JSON.parse(stderr).error.code).toBe('WRITE_FAILED')
  })

  it('keep --json writes one JSON object per line on stdout, events and the final result', async () => {
    const cwd = await clientKeyDir()
    const child = spawn(
      process.execPath,
      [BIN, 'badge', 'keep', '--key', 'client-private.jwk', '--self-sign', '--out', 'kept.jwt', '--json'],
      { cwd, env: { ...process.env, NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    const exit = new Promise<number | null>((resolve) => child.on('close', resolve))
    // Waits for the first event (up to 30 s on a loaded machine), so that the signal finds keep running.
    for (let i = 0; i < 300 && !stdout.includes('\n'); i++) await new Promise((r) => setTimeout(r, 100))
    child.kill('SIGTERM')
    expect(await exit).toBe(0)
    const lines = stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(lines[0]).toMatchObject({ event: 'renewed', out: 'kept.jwt', jti: expect.any(String) })
    expect(lines.at(-1)).toEqual({ out: 'kept.jwt', stopped: 'SIGTERM' })
  })

  it('a private key given to verify --key is used as its public half, with a warning kept under --json', async () => {
    const cwd = await clientKeyDir()
    const token = (await runCli(DOC_ISSUE_ARGS, { cwd })).stdout.trim()
    const text = await runCli(['badge', 'verify', token, '--key', 'client/private.jwk'], { cwd })
    expect(text.code).toBe(0)
    expect(text.stderr).toMatch(/Warning: client\/private\.jwk holds a private key/)
    const json = await runCli(['badge', 'verify', token, '--key', 'client/private.jwk', '--json'], { cwd })
    expect(json.code).toBe(0)
    expect(JSON.parse(json.stdout)).toMatchObject({
      valid: true,
      warnings: expect.arrayContaining([expect.stringContaining('client/private.jwk holds a private key')]),
    })
    expect(json.stderr).toBe('')
  })

  it('a badge accepted inside the clock skew says how long ago it expired', async () => {
    const now = Math.floor(Date.now() / 1000)
    const ca = edKey()
    const token = signRaw(
      { alg: 'EdDSA', kid: 'ca-1' },
      claimsAt({ iss: 'did:web:issuer.example.com', iat: now - 100, exp: now - 3 }),
      ca.privateKey,
    )
    const cwd = tmpDir()
    const jwk = join(cwd, 'ca.jwk')
    await import('node:fs').then((fs) =>
      fs.writeFileSync(jwk, JSON.stringify(publicJwkOf(ca.publicKey, 'ca-1'))),
    )
    const r = await runCli(['badge', 'verify', token, '--key', jwk], { cwd })
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/expired \d+s ago \(accepted within the 60s clock skew\)/)
  })

  it('failures under --json: verify is {valid:false,error:{code,message,hint}}, others {error:{…}}', async () => {
    const cwd = tmpDir()
    const v = await runCli(['badge', 'verify', 'hello', '--accept-self-signed', '--json'], { cwd })
    expect(v.code).toBe(3)
    expect(JSON.parse(v.stdout)).toEqual({
      valid: false,
      error: { code: 'BADGE_MALFORMED', message: expect.any(String), hint: expect.any(String) },
    })
    expect(v.stderr).toBe('')
    const k = await runCli(['trust', 'remove', 'nope', '--trust-dir', cwd, '--json'], { cwd })
    expect(k.code).toBe(4)
    expect(Object.keys(JSON.parse(k.stdout))).toEqual(['error'])
  })
})

describe('key and gateway commands as a user meets them (issue 7, items 4, 19, 20)', () => {
  it('key show - and key show did:key:… read like badge verify -', async () => {
    const cwd = tmpDir()
    await runCli(['key', 'gen', '--out', 'k', '-q'], { cwd })
    const did = readFileSync(join(cwd, 'k', 'did.txt'), 'utf8').trim()
    const stdin = await runCli(['key', 'show', '-', '--json'], {
      cwd,
      input: readFileSync(join(cwd, 'k', 'public.jwk'), 'utf8'),
    })
    expect(stdin.code).toBe(0)
    expect(JSON.parse(stdin.stdout).did).toBe(did)
    const fromDid = await runCli(['key', 'show', did, '--json'], { cwd })
    expect(fromDid.code).toBe(0)
    expect(JSON.parse(fromDid.stdout)).toMatchObject({ did, private: false })
  })

  it('key gen --alg RS256 says what RS256 keys are for', async () => {
    const r = await runCli(['key', 'gen', '--alg', 'RS256', '--out', 'k'], { cwd: tmpDir() })
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/RS256 keys sign tokens .*not badges/)
    const json = await runCli(['key', 'gen', '--alg', 'RS256', '--out', 'k', '--json'], { cwd: tmpDir() })
    expect(JSON.parse(json.stdout).warnings).toEqual([expect.stringMatching(/not badges/)])
  })

  it('gateway start --json logs JSON lines; a private --local-key warns; a registry URL is redacted', async () => {
    const cwd = await clientKeyDir()
    const bad = await runCli(['gateway', 'start', '--json'], { cwd })
    expect(bad.code).toBe(2)
    expect(bad.stdout.trimEnd().split('\n')).toHaveLength(1)
    expect(JSON.parse(bad.stdout).error.message).toBe(
      'must provide either --local-key or --registry-url (or --trust-dir)',
    )
    const gw = startCli(
      [
        'gateway',
        'start',
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--local-key',
        'client/private.jwk',
        '--json',
      ],
      { cwd },
    )
    await waitForOutput(gw, /listening on/)
    const lines = gw
      .stderr()
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 'warn', message: expect.stringContaining('holds a private key') }),
        expect.objectContaining({ level: 'info', message: expect.stringContaining('listening on') }),
      ]),
    )
    await gw.stop()

    server = await new JwksServer().start()
    server.status = 500
    const reg = startCli(
      ['gateway', 'start', '--port', '0', '--host', '127.0.0.1', '--registry-url', withSecrets(server.url)],
      { cwd },
    )
    await waitForOutput(reg, /listening on/)
    expect(reg.stderr()).toContain(`127.0.0.1:${server.port}`)
    expect(reg.stderr()).not.toMatch(/s3cret-pw|k-SECRET-123|alice/)
  })
})
