import { execFileSync, spawn } from 'node:child_process'
import { existsSync, lstatSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, afterEach, describe, expect, it } from '@jest/globals'

import { publicJwkOf } from '../../src/lib/keys/key.js'
import { clientKeyDir, DOC_ISSUE_ARGS, runCli } from '../helpers/cli.js'
import { edKey, signRaw, claims as claimsAt } from '../helpers/badges.js'
import { JwksServer } from '../helpers/jwks-server.js'
import { BIN } from '../helpers/paths.js'
import { cleanupTmp, tmpDir } from '../helpers/tmp.js'

afterAll(cleanupTmp)
let server: JwksServer | undefined
afterEach(async () => server?.stop())

const DOC_LINE = DOC_ISSUE_ARGS

describe('capiscio badge (built CLI)', () => {
  it('runs the documented issue line: stdout is only the token and a newline, the summary goes to stderr', async () => {
    const cwd = await clientKeyDir()
    const r = await runCli(DOC_LINE, { cwd })
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/)
    expect(r.stderr).toContain('did:capiscio:agent:client')
    expect(r.stderr).not.toContain(r.stdout.trim())
  })

  it('issue --out and keep --out pointed at a private key refuse (KEY_EXISTS, exit 4) and leave the key as it was', async () => {
    const cwd = await clientKeyDir()
    const before = ['private.jwk', 'private.pem'].map((f) => readFileSync(join(cwd, 'client', f), 'utf8'))
    const issued = await runCli([...DOC_LINE, '--out', 'client/private.jwk'], { cwd })
    expect([issued.code, issued.stderr]).toEqual([4, expect.stringContaining('Code: KEY_EXISTS')])
    expect(issued.stderr).toContain('client/private.jwk holds a private key')
    const kept = await runCli(
      [
        'badge',
        'keep',
        '--key',
        'client/private.jwk',
        '--sub',
        'did:web:a.example.com',
        '--out',
        'client/private.pem',
      ],
      { cwd },
    )
    expect([kept.code, kept.stderr]).toEqual([4, expect.stringContaining('Code: KEY_EXISTS')])
    expect(['private.jwk', 'private.pem'].map((f) => readFileSync(join(cwd, 'client', f), 'utf8'))).toEqual(
      before,
    )
  })

  it("issue --out '' and keep --out '' are usage errors (exit 2), not a token on stdout or a failed write", async () => {
    const cwd = await clientKeyDir()
    for (const command of ['issue', 'keep']) {
      const r = await runCli(
        ['badge', command, '--key', 'client/private.jwk', '--sub', 'did:web:a.example.com', '--out', ''],
        {
          cwd,
        },
      )
      expect([command, r.code, r.stdout]).toEqual([command, 2, ''])
      expect(r.stderr).toContain('--out must not be empty')
    }
  })

  it("a forged badge's kid with escape codes and a CR reaches the terminal escaped, one line, no fake Code: line", async () => {
    const cwd = await clientKeyDir()
    expect((await runCli(['trust', 'add', 'client/public.jwk', '--trust-dir', 'ts'], { cwd })).code).toBe(0)
    const kid = 'x\u001b[2J\u001b[31mEVIL\rCode: OK\nHint: none'
    const forged = signRaw({ alg: 'EdDSA', typ: 'JWT', kid }, claimsAt(), edKey().privateKey)
    const r = await runCli(['badge', 'verify', forged, '--trust-dir', 'ts'], { cwd })
    expect(r.code).toBe(3)
    // eslint-disable-next-line no-control-regex
    expect(r.stderr).not.toMatch(/[\u001b\r]/)
    expect(r.stderr).toContain('x\\x1b[2J\\x1b[31mEVIL\\x0dCode: OK\\x0aHint: none')
    expect(r.stderr.match(/^Code: /gm)).toHaveLength(1)
  })

  it('verify: exit 0 with the key or the trust store; exit 3 with a code when untrusted or tampered', async () => {
    const cwd = await clientKeyDir()
    const token = (await runCli(DOC_LINE, { cwd })).stdout.trim()
    const ok = await runCli(['badge', 'verify', token, '--key', 'client/public.jwk'], { cwd })
    expect(ok.code).toBe(0)
    expect(ok.stdout).toMatch(/^valid badge\nsubject {2}did:capiscio:agent:client\n/)

    const untrusted = await runCli(['badge', 'verify', token], { cwd })
    expect(untrusted.code).toBe(3)
    expect(untrusted.stderr).toContain('Code: BADGE_ISSUER_UNTRUSTED')

    await runCli(['trust', 'add', 'client/public.jwk'], { cwd })
    expect((await runCli(['badge', 'verify', token], { cwd })).code).toBe(0)

    const [h, p, s] = token.split('.')
    const forged = JSON.parse(Buffer.from(p!, 'base64url').toString())
    forged.vc.credentialSubject.level = '4'
    const tampered = `${h}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${s}`
    const bad = await runCli(['badge', 'verify', tampered, '--json'], { cwd })
    expect(bad.code).toBe(3)
    expect(JSON.parse(bad.stdout)).toEqual({
      valid: false,
      error: { code: 'BADGE_SIGNATURE_INVALID', message: expect.any(String), hint: expect.any(String) },
    })
  })

  it('verify reads a token from a file and from stdin, and returns the result object under --json', async () => {
    const cwd = await clientKeyDir()
    await runCli([...DOC_LINE, '--out', 'badge.jwt', '--aud', 'https://api.example.com'], { cwd })
    expect(statSync(join(cwd, 'badge.jwt')).mode & 0o777).toBe(0o600)
    const fromFile = await runCli(
      [
        'badge',
        'verify',
        'badge.jwt',
        '--key',
        'client/public.jwk',
        '--audience',
        'https://api.example.com',
        '--json',
      ],
      { cwd },
    )
    expect(JSON.parse(fromFile.stdout)).toMatchObject({
      valid: true,
      trustLevel: '1',
      claims: { aud: ['https://api.example.com'] },
    })
    const token = readFileSync(join(cwd, 'badge.jwt'), 'utf8')
    const fromStdin = await runCli(
      ['badge', 'verify', '-', '--key', 'client/public.jwk', '--audience', 'https://elsewhere'],
      { cwd, input: token },
    )
    expect(fromStdin.code).toBe(3)
    expect(fromStdin.stderr).toContain('BADGE_AUDIENCE_MISMATCH')
  })

  it("a self-signed badge's domain with escape codes is printed escaped on stdout", async () => {
    const agent = edKey()
    const now = Math.floor(Date.now() / 1000)
    const domain = 'a.example.com\u001b[2J\rsubject  did:web:bank.example.com'
    const token = signRaw(
      { alg: 'EdDSA' },
      claimsAt({
        iss: agent.did,
        sub: agent.did,
        iat: now,
        exp: now + 300,
        vc: { type: ['VerifiableCredential', 'AgentIdentity'], credentialSubject: { level: '0', domain } },
      }),
      agent.privateKey,
    )
    const r = await runCli(['badge', 'verify', token, '--accept-self-signed'], { cwd: tmpDir() })
    expect(r.code).toBe(0)
    // eslint-disable-next-line no-control-regex
    expect(r.stdout).not.toMatch(/[\u001b\r]/)
    expect(r.stdout).toContain('domain   a.example.com\\x1b[2J\\x0dsubject  did:web:bank.example.com')
  })

  it('a Go-core-shaped self-signed badge verifies with --accept-self-signed only', async () => {
    const agent = edKey()
    const now = Date.now() / 1000
    const token = signRaw(
      { alg: 'EdDSA' },
      claimsAt({
        iss: agent.did,
        sub: agent.did,
        ial: '',
        iat: now,
        exp: now + 300,
        vc: { type: ['VerifiableCredential', 'AgentIdentity'], credentialSubject: { level: '0' } },
      }),
      agent.privateKey,
    )
    const cwd = tmpDir()
    expect((await runCli(['badge', 'verify', token], { cwd })).code).toBe(3)
    const r = await runCli(['badge', 'verify', token, '--accept-self-signed'], { cwd })
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('valid badge (self-signed)')
    expect(r.stderr).toContain('no kid')
  })

  it.each([
    [
      'alg none',
      () =>
        `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.`,
      'BADGE_MALFORMED',
    ],
    ['garbage', () => 'not-a-token', 'BADGE_MALFORMED'],
  ])('verify refuses %s with exit 3', async (_n, make, code) => {
    const r = await runCli(['badge', 'verify', make(), '--accept-self-signed'], { cwd: tmpDir() })
    expect(r.code).toBe(3)
    expect(r.stderr).toContain(`Code: ${code}`)
  })

  it('a 10 MB token on stdin is refused with a coded error, not a crash', async () => {
    const r = await runCli(['badge', 'verify', '-', '--accept-self-signed'], {
      cwd: tmpDir(),
      input: 'a'.repeat(10 * 1024 * 1024),
    })
    expect(r.code).toBe(4)
    expect(r.stderr).toContain('Code: FILE_TOO_LARGE')
  })

  it('verify of a signed badge with exp 1e308 and inspect --json of a payload 5,000 arrays deep are coded errors, not crashes', async () => {
    const cwd = tmpDir()
    const signer = edKey()
    writeFileSync(join(cwd, 'issuer.jwk'), JSON.stringify(publicJwkOf(signer.publicKey, 'k1')))
    const farFuture = signRaw(
      { alg: 'EdDSA', kid: 'k1' },
      claimsAt({ iat: Math.floor(Date.now() / 1000), exp: 1e308 }),
      signer.privateKey,
    )
    const verify = await runCli(['badge', 'verify', farFuture, '--key', 'issuer.jwk'], { cwd })
    expect(verify.code).toBe(3)
    expect(verify.stderr).toContain('Code: BADGE_CLAIMS_INVALID')
    expect(verify.stderr).toContain('exp must be a NumericDate')
    const shown = await runCli(['badge', 'inspect', farFuture], { cwd })
    expect(shown.code).toBe(0)
    expect(shown.stdout).toMatch(
      /^exp {5}out of range \(1e\+308; NumericDates run from 0 to 253402300799\)$/m,
    )

    const deep = `{"x":${'['.repeat(5000)}${']'.repeat(5000)}}`
    writeFileSync(
      join(cwd, 'deep.jwt'),
      `${Buffer.from('{"alg":"EdDSA"}').toString('base64url')}.${Buffer.from(deep).toString('base64url')}.AAAA`,
    )
    const inspect = await runCli(['badge', 'inspect', 'deep.jwt', '--json'], { cwd })
    expect(inspect.code).toBe(3)
    expect(JSON.parse(inspect.stdout)).toMatchObject({ error: { code: 'BADGE_MALFORMED' } })
  })

  it('--out refuses a FIFO and writes through a symlink; --key /dev/zero stops at the 1 MiB cap', async () => {
    const cwd = await clientKeyDir()
    execFileSync('mkfifo', [join(cwd, 'fifo.jwt')])
    const fifo = await runCli([...DOC_LINE, '--out', 'fifo.jwt'], { cwd })
    expect(fifo.code).toBe(4)
    expect(fifo.stderr).toContain('Code: WRITE_FAILED')
    expect(lstatSync(join(cwd, 'fifo.jwt')).isFIFO()).toBe(true)
    expect(fifo.stderr).toContain('Hint: name a regular file to write')
    const dir = await runCli([...DOC_LINE, '--out', 'client'], { cwd })
    expect([dir.code, dir.stderr]).toEqual([4, expect.stringContaining('client is a directory')])
    expect(dir.stderr).toContain('Hint: name a file to write, not a directory')

    symlinkSync('real.jwt', join(cwd, 'link.jwt'))
    expect((await runCli([...DOC_LINE, '--out', 'link.jwt'], { cwd })).code).toBe(0)
    expect(lstatSync(join(cwd, 'link.jwt')).isSymbolicLink()).toBe(true)
    const token = readFileSync(join(cwd, 'real.jwt'), 'utf8').trim()

    const zero = await runCli(['badge', 'verify', token, '--key', '/dev/zero'], { cwd, timeoutMs: 10_000 })
    expect(zero.code).toBe(4)
    expect(zero.stderr).toContain('Code: FILE_TOO_LARGE')
  })

  it('inspect decodes without verifying and says so', async () => {
    const cwd = await clientKeyDir()
    const token = (await runCli(DOC_LINE, { cwd })).stdout.trim()
    const r = await runCli(['badge', 'inspect', token], { cwd })
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^\(not verified\)/)
    expect(r.stderr).toContain('NOT VERIFIED')
    expect(r.stdout).toMatch(/exp {5}\d{4}-\d\d-\d\dT/)
    const json = JSON.parse((await runCli(['badge', 'inspect', token, '--json'], { cwd })).stdout)
    expect(json).toMatchObject({
      verified: false,
      header: { alg: 'EdDSA' },
      claims: { sub: 'did:capiscio:agent:client' },
    })
  })

  it('inspect refuses what is not a JWS with exit 3, and a truncated token too', async () => {
    const cwd = await clientKeyDir()
    const token = (await runCli(DOC_LINE, { cwd })).stdout.trim()
    for (const bad of ['hello', token.slice(0, 40), '-']) {
      const r = await runCli(['badge', 'inspect', bad], { cwd, input: 'not.a.jws' })
      expect(r.code).toBe(3)
      expect(r.stderr).toContain('Code: BADGE_MALFORMED')
    }
  })

  it('keep refuses bad durations with exit 2 before writing anything', async () => {
    const cwd = await clientKeyDir()
    const r = await runCli(
      [
        'badge',
        'keep',
        '--key',
        'client-private.jwk',
        '--self-sign',
        '--renew-before',
        'soon',
        '--out',
        'k.jwt',
      ],
      { cwd },
    )
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--renew-before')
    expect(existsSync(join(cwd, 'k.jwt'))).toBe(false)
  })

  it.each([
    [['--sub', 'did:x:y'], 2, 'USAGE'], // no --key
    [['--key', './client-private.jwk'], 2, 'USAGE'], // no --sub
    [['--key', './client-private.jwk', '--sub', 'not-a-did'], 2, 'USAGE'],
    [['--key', './client-private.jwk', '--sub', 'did:x:y', '--ttl', 'soon'], 2, 'USAGE'],
    [['--key', './client-private.jwk', '--sub', 'did:x:y', '--ttl', '30d'], 2, 'USAGE'],
    [['--key', './client-private.jwk', '--sub', 'did:x:y', '--ttl', '1.5'], 2, 'USAGE'], // not whole seconds
    [['--key', './client-private.jwk', '--sub', 'did:x:y', '--ttl', '300ms'], 2, 'USAGE'],
    [['--key', './client-private.jwk', '--sub', 'did:x:y', '--aud', ''], 2, 'USAGE'], // an unset $AUD
    [['--key', './client-private.jwk', '--sub', 'did:x:y', '--level', '7'], 2, 'USAGE'],
    [['--key', './client-private.jwk', '--self-sign', '--level', '2'], 2, 'USAGE'],
    [['--key', 'client/public.jwk', '--sub', 'did:x:y'], 4, 'KEY_INVALID'],
    [['--key', 'missing.jwk', '--sub', 'did:x:y'], 4, 'FILE_NOT_FOUND'],
  ])('issue %j fails with exit %i (%s)', async (args, exit, code) => {
    const cwd = await clientKeyDir()
    const r = await runCli(['badge', 'issue', ...(args as string[]), '--json'], { cwd })
    expect(r.code).toBe(exit)
    expect(JSON.parse(r.stdout).error.code).toBe(code)
  })

  it('keep writes a fresh badge, logs on stderr, and stops cleanly on SIGTERM', async () => {
    const cwd = await clientKeyDir()
    const child = spawn(
      process.execPath,
      [
        BIN,
        'badge',
        'keep',
        '--key',
        'client-private.jwk',
        '--sub',
        'did:web:agent.example.com',
        '--out',
        'kept.jwt',
      ],
      {
        cwd,
        env: { ...process.env, NODE_ENV: 'production' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const exit = new Promise<number | null>((resolve) => child.on('close', resolve))
    for (let i = 0; i < 100 && !stderr.includes('renewed'); i++) await new Promise((r) => setTimeout(r, 100))
    expect(existsSync(join(cwd, 'kept.jwt'))).toBe(true)
    const token = readFileSync(join(cwd, 'kept.jwt'), 'utf8').trim()
    expect(stderr).not.toContain(token)
    child.kill('SIGTERM')
    expect(await exit).toBe(0)
    expect(stderr).toContain('SIGTERM: stopped')
    const v = await runCli(['badge', 'verify', 'kept.jwt', '--key', 'client/public.jwk', '--json'], { cwd })
    expect(JSON.parse(v.stdout).claims.jti).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('trust add <JWKS URL> stores the keys and maps the issuer (URL minus /.well-known/jwks.json)', async () => {
    const ca = edKey()
    server = await new JwksServer().start()
    server.setKeys([publicJwkOf(ca.publicKey, 'ca-1')])
    const cwd = tmpDir()
    const r = await runCli(['trust', 'add', server.url, '--json'], { cwd })
    expect(r.code).toBe(0)
    const issuer = server.url.replace('/.well-known/jwks.json', '')
    const issuers = JSON.parse(readFileSync(join(cwd, 'capiscio_keys', 'trusted', 'issuers.json'), 'utf8'))
    expect(issuers).toEqual({ [issuer]: ['ca-1'] })
    const now = Date.now() / 1000
    const token = signRaw(
      { alg: 'EdDSA', kid: 'ca-1' },
      claimsAt({ iss: issuer, iat: now, exp: now + 60 }),
      ca.privateKey,
    )
    expect((await runCli(['badge', 'verify', token], { cwd })).code).toBe(0)
    const jwks = await runCli(['badge', 'verify', token, '--jwks', server.url, '--issuer', issuer], { cwd })
    expect(jwks.code).toBe(0)
    // The registry's keys sign for the --issuer values given: the hint says to allow the issuer,
    // not (as for a trust store) to add a key again.
    const other = await runCli(
      ['badge', 'verify', token, '--jwks', server.url, '--issuer', 'https://other.example.com', '--json'],
      { cwd },
    )
    expect([other.code, JSON.parse(other.stdout).error]).toEqual([
      3,
      expect.objectContaining({
        code: 'BADGE_ISSUER_UNTRUSTED',
        message: `issuer "${issuer}" is not on the allow-list`,
        hint: `if you trust "${issuer}", add it to --issuer`,
      }),
    ])
    writeFileSync(join(cwd, 'x'), '')
    const http = await runCli(['trust', 'add', 'http://registry.example.com/.well-known/jwks.json'], { cwd })
    expect(http.code).toBe(2)
  })
})
