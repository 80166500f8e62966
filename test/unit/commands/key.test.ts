import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from '@jest/globals'

import KeyGen from '../../../src/commands/key/gen.js'
import KeyShow from '../../../src/commands/key/show.js'
import { writeFileAtomic } from '../../../src/lib/store/atomic.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'
import { runCommand } from '../../helpers/run-command.js'

afterAll(cleanupTmp)

describe('key gen', () => {
  it('prints kid, did and alg on stdout and the file list on stderr', async () => {
    const dir = join(tmpDir(), 'k')
    const r = await runCommand(KeyGen, ['--out', dir])
    expect(r.exitCode).toBe(0)
    const did = readFileSync(join(dir, 'did.txt'), 'utf8').trim()
    expect(r.stdout).toBe(`kid  ${did}\ndid  ${did}\nalg  EdDSA\n`)
    expect(r.stderr).toContain(join(dir, 'private.jwk'))
  })

  it('--json gives {kid, did, alg, files}', async () => {
    const dir = tmpDir()
    const r = await runCommand(KeyGen, ['--out', dir, '--json', '--alg', 'ES256', '--kid', 'svc-1'])
    const json = JSON.parse(r.stdout)
    expect(json).toMatchObject({ kid: 'svc-1', alg: 'ES256', encrypted: false })
    expect(json.did).toBeUndefined()
    expect(json.files.privatePem).toBe(join(dir, 'private.pem'))
    expect(r.stderr).toBe('')
  })

  it('--quiet keeps the data and drops the messages', async () => {
    const r = await runCommand(KeyGen, ['--out', tmpDir(), '--quiet'])
    expect(r.stdout).toMatch(/^kid {2}did:key:z6Mk/)
    expect(r.stderr).toBe('')
  })

  it('refuses to overwrite a private key (exit 4) unless --force', async () => {
    const dir = tmpDir()
    await runCommand(KeyGen, ['--out', dir])
    const before = readFileSync(join(dir, 'private.jwk'), 'utf8')
    const r = await runCommand(KeyGen, ['--out', dir])
    expect(r.exitCode).toBe(4)
    expect(r.stderr).toContain('Code: KEY_EXISTS')
    expect(readFileSync(join(dir, 'private.jwk'), 'utf8')).toBe(before)
    expect((await runCommand(KeyGen, ['--out', dir, '--force'])).exitCode).toBe(0)
    expect(readFileSync(join(dir, 'private.jwk'), 'utf8')).not.toBe(before)
  })

  it('encrypts with --passphrase-file or CAPISCIO_KEY_PASSPHRASE', async () => {
    const dir = tmpDir()
    writeFileSync(join(dir, 'pass.txt'), 'correct horse\n')
    const r = await runCommand(KeyGen, [
      '--out',
      join(dir, 'a'),
      '--passphrase-file',
      join(dir, 'pass.txt'),
      '--json',
    ])
    expect(JSON.parse(r.stdout)).toMatchObject({ encrypted: true })
    expect(readFileSync(join(dir, 'a', 'private.pem'), 'utf8')).toContain('ENCRYPTED PRIVATE KEY')
    const e = await runCommand(KeyGen, ['--out', join(dir, 'b'), '--json'], {
      env: { CAPISCIO_KEY_PASSPHRASE: 'pw' },
    })
    expect(JSON.parse(e.stdout)).toMatchObject({ encrypted: true })
  })

  it('--encrypt without a terminal is a usage error naming the flag (exit 2), and writes nothing', async () => {
    const dir = join(tmpDir(), 'k')
    const r = await runCommand(KeyGen, ['--out', dir, '--encrypt'])
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toContain('KEY_PASSPHRASE_REQUIRED')
    expect(r.stderr).toContain('--passphrase-file')
    expect(() => statSync(dir)).toThrow()
  })

  it.each([
    [['--alg', 'HS256'], 2, 'USAGE'],
    [['--bogus'], 2, 'USAGE'],
    [['--kid', ''], 2, 'USAGE'],
    [['--kid', 'a\tb'], 4, 'TRUST_KID_INVALID'],
    [['--passphrase-file', '/nonexistent/pass'], 4, 'FILE_NOT_FOUND'],
  ])('%j fails with exit %i and %s', async (argv, exit, code) => {
    const r = await runCommand(KeyGen, ['--out', join(tmpDir(), 'k'), ...(argv as string[]), '--json'])
    expect(r.exitCode).toBe(exit)
    expect(JSON.parse(r.stdout).error.code).toBe(code)
  })

  it('takes the directory and algorithm from the config file, and the flag over both', async () => {
    const root = tmpDir()
    writeFileSync(join(root, 'package.json'), '{"name":"x","capiscio":{"keyDir":"cfg-keys","alg":"ES256"}}')
    const r = await runCommand(KeyGen, ['--json'], { cwd: root })
    expect(JSON.parse(r.stdout)).toMatchObject({
      alg: 'ES256',
      files: { publicJwk: join(root, 'cfg-keys', 'public.jwk') },
    })
    const f = await runCommand(KeyGen, ['--json', '--alg', 'EdDSA', '--out', join(root, 'flag')], {
      cwd: root,
    })
    expect(JSON.parse(f.stdout)).toMatchObject({ alg: 'EdDSA' })
  })

  it('fails with exit 4 naming the file on a broken config', async () => {
    const root = tmpDir()
    writeFileSync(join(root, 'package.json'), '{"name":"x"}')
    writeFileSync(join(root, '.capisciorc.json'), '{"keyDir": ')
    const r = await runCommand(KeyGen, [], { cwd: root })
    expect(r.exitCode).toBe(4)
    expect(r.stderr).toContain('CONFIG_INVALID')
    expect(r.stderr).toContain(join(root, '.capisciorc.json'))
  })
})

describe('key gen --out where a file is in the way', () => {
  it('says which path is a file, WRITE_FAILED, and writes nothing', async () => {
    const root = tmpDir()
    writeFileSync(join(root, 'afile'), 'not a directory')
    for (const [out, message] of [
      [join(root, 'afile'), `${join(root, 'afile')} is a file, not a directory`],
      [
        join(root, 'afile', 'keys'),
        `could not create directory ${join(root, 'afile', 'keys')}: ${join(root, 'afile')} is a file, not a directory`,
      ],
    ]) {
      const r = await runCommand(KeyGen, ['--out', out!, '--json'])
      expect([r.exitCode, JSON.parse(r.stdout).error]).toEqual([
        4,
        expect.objectContaining({ code: 'WRITE_FAILED', message }),
      ])
    }
    expect(readFileSync(join(root, 'afile'), 'utf8')).toBe('not a directory')
  })

  it('a file written under a file (badge issue --out afile/x) says a part of its path is a file', async () => {
    const root = tmpDir()
    writeFileSync(join(root, 'afile'), 'not a directory')
    const out = join(root, 'afile', 'badge.jwt')
    await expect(writeFileAtomic(out, 'x', 0o600)).rejects.toMatchObject({
      code: 'WRITE_FAILED',
      message: `could not write ${out}: a part of its path is a file, not a directory`,
    })
  })
})

describe('key show', () => {
  it('describes a key directory and any key file in it', async () => {
    const dir = tmpDir()
    const gen = JSON.parse((await runCommand(KeyGen, ['--out', dir, '--json'])).stdout)
    for (const target of [
      dir,
      join(dir, 'public.jwk'),
      join(dir, 'private.pem'),
      join(dir, 'public.pem'),
      join(dir, 'did.txt'),
    ]) {
      const r = await runCommand(KeyShow, [target, '--json'])
      expect(r.exitCode).toBe(0)
      const json = JSON.parse(r.stdout)
      expect(json).toMatchObject({ kid: gen.kid, did: gen.did, alg: 'EdDSA' })
      expect(json.publicJwk.d).toBeUndefined()
      expect(json.thumbprint).toMatch(/^[A-Za-z0-9_-]{43}$/)
    }
  })

  it('opens an encrypted private key with the passphrase and rejects a wrong one (exit 4)', async () => {
    const dir = tmpDir()
    await runCommand(KeyGen, ['--out', dir, '--alg', 'ES256'], { env: { CAPISCIO_KEY_PASSPHRASE: 'right' } })
    const pem = join(dir, 'private.pem')
    expect(
      (await runCommand(KeyShow, [pem, '--json'], { env: { CAPISCIO_KEY_PASSPHRASE: 'right' } })).exitCode,
    ).toBe(0)
    const wrong = await runCommand(KeyShow, [pem], { env: { CAPISCIO_KEY_PASSPHRASE: 'wrong' } })
    expect(wrong.exitCode).toBe(4)
    expect(wrong.stderr).toContain('KEY_PASSPHRASE_INVALID')
    const none = await runCommand(KeyShow, [pem])
    expect(none.exitCode).toBe(2)
    expect(none.stderr).toContain('--passphrase-file')
  })

  it.each([
    ['a missing path', (d: string) => join(d, 'nope.jwk'), 'FILE_NOT_FOUND'],
    [
      'a garbage file',
      (d: string) => (writeFileSync(join(d, 'bad.jwk'), 'not a key'), join(d, 'bad.jwk')),
      'KEY_INVALID',
    ],
    [
      'a truncated PEM',
      (d: string) => (
        writeFileSync(join(d, 't.pem'), '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA'),
        join(d, 't.pem')
      ),
      'KEY_INVALID',
    ],
    ['an empty directory', (d: string) => d, 'KEY_NOT_FOUND'],
    [
      'an oversized file',
      (d: string) => (writeFileSync(join(d, 'big'), Buffer.alloc(2 * 1024 * 1024, 65)), join(d, 'big')),
      'FILE_TOO_LARGE',
    ],
  ])('reports %s with exit 4', async (_name, make, code) => {
    const r = await runCommand(KeyShow, [make(tmpDir()), '--json'])
    expect(r.exitCode).toBe(4)
    expect(JSON.parse(r.stdout).error.code).toBe(code)
  })
})
