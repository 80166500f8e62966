import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from '@jest/globals'

import { didKeyFromX } from '../../src/lib/keys/didkey.js'
import { runCli } from '../helpers/cli.js'
import { cleanupTmp, tmpDir } from '../helpers/tmp.js'

afterAll(cleanupTmp)

describe('capiscio (built CLI, child processes)', () => {
  it('--version prints name/version platform node', async () => {
    const r = await runCli(['--version'])
    const { version } = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8'))
    expect(r.stdout.trim()).toBe(
      `capiscio-toolkit/${version} ${process.platform}-${process.arch} node-${process.version}`,
    )
  })

  it('key gen → openssl pkey → did.txt matches public.jwk → trust add → trust list --json', async () => {
    const cwd = tmpDir()
    const out = join(cwd, 'k')
    const gen = await runCli(['key', 'gen', '--out', out], { cwd })
    expect(gen.code).toBe(0)
    execFileSync('openssl', ['pkey', '-in', join(out, 'private.pem'), '-noout'])
    expect(statSync(join(out, 'private.pem')).mode & 0o777).toBe(0o600)
    expect(statSync(join(out, 'private.jwk')).mode & 0o777).toBe(0o600)
    const { x, kid } = JSON.parse(readFileSync(join(out, 'public.jwk'), 'utf8'))
    expect(readFileSync(join(out, 'did.txt'), 'utf8').trim()).toBe(didKeyFromX(x))

    expect((await runCli(['trust', 'add', join(out, 'public.jwk')], { cwd })).code).toBe(0)
    const list = await runCli(['trust', 'list', '--json'], { cwd })
    expect(JSON.parse(list.stdout).keys.map((k: { kid: string }) => k.kid)).toEqual([kid])
    const pem = readFileSync(join(cwd, 'capiscio_keys', 'trusted', `${kid}.pem`), 'utf8')
    expect(pem).toBe(readFileSync(join(out, 'public.pem'), 'utf8'))
  })

  it('trust add - reads a JWKS from stdin', async () => {
    const cwd = tmpDir()
    await runCli(['key', 'gen', '--out', 'a', '--alg', 'ES256'], { cwd })
    const jwk = JSON.parse(readFileSync(join(cwd, 'a', 'public.jwk'), 'utf8'))
    const r = await runCli(['trust', 'add', '-', '--trust-dir', 'ts', '--json'], {
      cwd,
      input: JSON.stringify({ keys: [jwk] }),
    })
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).added[0].kid).toBe(jwk.kid)
  })

  it('errors are coded, go to stderr without a stack trace, and carry the exit code', async () => {
    const cwd = tmpDir()
    writeFileSync(join(cwd, 'junk.jwk'), '{"kty":"OKP","crv":"Ed25519","x":"@@@"}')
    const bad = await runCli(['trust', 'add', 'junk.jwk'], { cwd })
    expect(bad.code).toBe(4)
    expect(bad.stdout).toBe('')
    expect(bad.stderr).toMatch(/^Error: .+\nCode: KEY_INVALID\n/)
    expect(bad.stderr).not.toMatch(/\bat .+\.js:\d+/)

    const usage = await runCli(['key', 'gen', '--alg', 'none'], { cwd })
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain('Code: USAGE')
  })

  it('a non-interactive run that needs a passphrase fails with exit 2 naming --passphrase-file', async () => {
    const cwd = tmpDir()
    await runCli(['key', 'gen', '--out', 'k'], { cwd, env: { CAPISCIO_KEY_PASSPHRASE: 'pw' } })
    const r = await runCli(['key', 'show', 'k/private.pem'], { cwd })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--passphrase-file')
    expect(r.stderr).not.toContain('pw\n')
  })

  it('key show gives a PEM the kid the signing commands put in headers (the one key gen wrote beside it)', async () => {
    const cwd = tmpDir()
    await runCli(['key', 'gen', '--alg', 'ES256', '--kid', 'partner-2026', '--out', 'es', '-q'], { cwd })
    const shown = await runCli(['key', 'show', 'es/private.pem', '--json'], { cwd })
    expect([shown.code, JSON.parse(shown.stdout).kid]).toEqual([0, 'partner-2026'])
    const badge = await runCli(
      [
        'badge',
        'issue',
        '--key',
        'es/private.pem',
        '--iss',
        'https://partner.example.com',
        '--sub',
        'did:web:x.example.com',
      ],
      { cwd },
    )
    const header = JSON.parse(Buffer.from(badge.stdout.split('.')[0]!, 'base64url').toString()) as {
      kid: string
    }
    expect(header.kid).toBe('partner-2026')
    // A PEM alone, with no public.jwk beside it, has the default kid (the thumbprint) in both.
    mkdirSync(join(cwd, 'alone'))
    copyFileSync(join(cwd, 'es', 'private.pem'), join(cwd, 'alone', 'key.pem'))
    const alone = JSON.parse((await runCli(['key', 'show', 'alone/key.pem', '--json'], { cwd })).stdout)
    expect(alone.kid).toBe(alone.thumbprint)
  })

  it('a broken config file is exit 4 naming the file', async () => {
    const cwd = tmpDir()
    writeFileSync(join(cwd, 'package.json'), '{"name":"demo"}')
    writeFileSync(join(cwd, 'capiscio.config.yaml'), 'keyDir: [unclosed\n')
    const r = await runCli(['key', 'gen'], { cwd })
    expect(r.code).toBe(4)
    expect(r.stderr).toContain('CONFIG_INVALID')
    expect(r.stderr).toContain('capiscio.config.yaml')
  })

  it('an unknown config key is exit 4 with the known keys as a hint', async () => {
    const cwd = tmpDir()
    writeFileSync(join(cwd, 'package.json'), '{"name":"demo","capiscio":{"trustdir":"x"}}')
    const r = await runCli(['trust', 'list', '--json'], { cwd })
    expect(r.code).toBe(4)
    expect(JSON.parse(r.stdout).error).toMatchObject({
      code: 'CONFIG_INVALID',
      hint: expect.stringContaining('trustDir'),
    })
  })
})
