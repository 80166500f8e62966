import { execFile, execFileSync } from 'node:child_process'
import {
  chmodSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'

import { afterAll, describe, expect, it } from '@jest/globals'

import { readTextFile } from '../../../src/lib/io.js'
import { writeFileAtomic } from '../../../src/lib/store/atomic.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'

afterAll(cleanupTmp)
const run = promisify(execFile)

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    return (err as { code: string }).code
  }
  return 'OK'
}

describe('writeFileAtomic and what is already at the path (issue 7 item 11)', () => {
  it('writes through a symlink to a regular file: the link stays, its target gets the content', async () => {
    const dir = tmpDir()
    writeFileSync(join(dir, 'real.jwt'), 'old\n')
    symlinkSync('real.jwt', join(dir, 'badge.jwt'))
    await writeFileAtomic(join(dir, 'badge.jwt'), 'new\n', 0o600)
    expect(lstatSync(join(dir, 'badge.jwt')).isSymbolicLink()).toBe(true)
    expect(readlinkSync(join(dir, 'badge.jwt'))).toBe('real.jwt')
    expect(readFileSync(join(dir, 'real.jwt'), 'utf8')).toBe('new\n')
    expect(statSync(join(dir, 'real.jwt')).mode & 0o777).toBe(0o600)
    expect(readdirSync(dir).sort()).toEqual(['badge.jwt', 'real.jwt'])
  })

  it('follows a chain of symlinks to an existing file', async () => {
    const dir = tmpDir()
    mkdirSync(join(dir, 'secrets'))
    writeFileSync(join(dir, 'secrets', 'badge.jwt'), 'old\n')
    symlinkSync(join(dir, 'secrets', 'badge.jwt'), join(dir, 'hop'))
    symlinkSync('hop', join(dir, 'badge.jwt'))
    await writeFileAtomic(join(dir, 'badge.jwt'), 'new\n', 0o600)
    expect(readFileSync(join(dir, 'secrets', 'badge.jwt'), 'utf8')).toBe('new\n')
    expect(lstatSync(join(dir, 'hop')).isSymbolicLink()).toBe(true)
    expect(lstatSync(join(dir, 'badge.jwt')).isSymbolicLink()).toBe(true)
  })

  it('creates the target of a dangling symlink of ours, as a shell redirect would', async () => {
    const dir = tmpDir()
    mkdirSync(join(dir, 'secrets'))
    symlinkSync(join(dir, 'secrets', 'badge.jwt'), join(dir, 'out.jwt'))
    await writeFileAtomic(join(dir, 'out.jwt'), 'x\n', 0o600)
    expect(readFileSync(join(dir, 'secrets', 'badge.jwt'), 'utf8')).toBe('x\n')
  })

  it("refuses to follow another user's symlink in a sticky world-writable directory (protected_symlinks)", async () => {
    if (process.geteuid?.() !== 0) return // creating a link owned by another user needs root
    const dir = tmpDir()
    const shared = join(dir, 'shared')
    mkdirSync(shared)
    chmodSync(shared, 0o1777)
    writeFileSync(join(dir, 'target.txt'), 'mine\n')
    const link = join(shared, 'out.jwt')
    symlinkSync(join(dir, 'target.txt'), link)
    lchownSync(link, 65534, 65534)
    expect(await codeOf(writeFileAtomic(link, 'x\n', 0o600))).toBe('WRITE_FAILED')
    expect(readFileSync(join(dir, 'target.txt'), 'utf8')).toBe('mine\n')
    // Nor a planted link to a file that does not exist yet: it would be created wherever it points.
    const planted = join(shared, 'planted.jwt')
    symlinkSync(join(dir, 'victim.txt'), planted)
    lchownSync(planted, 65534, 65534)
    expect(await codeOf(writeFileAtomic(planted, 'x\n', 0o600))).toBe('WRITE_FAILED')
    expect(readdirSync(dir).sort()).toEqual(['shared', 'target.txt'])
    // Our own link there is followed.
    lchownSync(link, 0, 0)
    await writeFileAtomic(link, 'x\n', 0o600)
    expect(readFileSync(join(dir, 'target.txt'), 'utf8')).toBe('x\n')
  })

  it('refuses a FIFO with WRITE_FAILED and leaves it a FIFO', async () => {
    const dir = tmpDir()
    const fifo = join(dir, 'out.jwt')
    execFileSync('mkfifo', [fifo])
    expect(await codeOf(writeFileAtomic(fifo, 'x\n', 0o600))).toBe('WRITE_FAILED')
    expect(lstatSync(fifo).isFIFO()).toBe(true)
    expect(readdirSync(dir)).toEqual(['out.jwt'])
  })

  it('refuses a symlink to a device node (/dev/null) with WRITE_FAILED and leaves the link', async () => {
    const dir = tmpDir()
    const link = join(dir, 'out.jwt')
    symlinkSync('/dev/null', link)
    expect(await codeOf(writeFileAtomic(link, 'x\n', 0o600))).toBe('WRITE_FAILED')
    expect(lstatSync(link).isSymbolicLink()).toBe(true)
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true)
  })

  it('refuses a socket and a directory with WRITE_FAILED', async () => {
    const dir = tmpDir()
    const sock = join(dir, 'out.sock')
    const server: Server = createServer()
    await new Promise<void>((resolve) => server.listen(sock, resolve))
    try {
      expect(await codeOf(writeFileAtomic(sock, 'x\n', 0o600))).toBe('WRITE_FAILED')
      expect(lstatSync(sock).isSocket()).toBe(true)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
    mkdirSync(join(dir, 'sub'))
    expect(await codeOf(writeFileAtomic(join(dir, 'sub'), 'x\n', 0o600))).toBe('WRITE_FAILED')
    expect(lstatSync(join(dir, 'sub')).isDirectory()).toBe(true)
  })
})

describe('readTextFile and inputs that are not regular files (issue 7 item 11)', () => {
  it('reads /dev/zero only up to the cap, then fails with FILE_TOO_LARGE', async () => {
    expect(await codeOf(readTextFile('/dev/zero'))).toBe('FILE_TOO_LARGE')
    expect(await codeOf(readTextFile('/dev/zero', 1024))).toBe('FILE_TOO_LARGE')
  }, 10_000)

  it('reads a FIFO up to the cap, and reads what fits', async () => {
    const dir = tmpDir()
    const fifo = join(dir, 'in')
    execFileSync('mkfifo', [fifo])
    // A shell writes into the FIFO while readTextFile reads it.
    const writer = (data: string) => run('sh', ['-c', `printf '%s' "$0" > "$1"`, data, fifo])
    const small = writer('hello')
    expect(await readTextFile(fifo)).toBe('hello')
    await small
    const big = writer('x'.repeat(5000))
    expect(await codeOf(readTextFile(fifo, 1024))).toBe('FILE_TOO_LARGE')
    await big.catch(() => undefined) // the writer may see EPIPE once the reader stops
  })

  it('still refuses a regular file over the cap by its size, and a directory', async () => {
    const dir = tmpDir()
    writeFileSync(join(dir, 'big'), 'x'.repeat(2048))
    expect(await codeOf(readTextFile(join(dir, 'big'), 1024))).toBe('FILE_TOO_LARGE')
    expect(await readTextFile(join(dir, 'big'), 2048)).toHaveLength(2048)
    expect(await codeOf(readTextFile(dir))).toBe('FILE_UNREADABLE')
  })
})

describe('writeFileAtomic never writes over a private key', () => {
  it.each([
    ['a private JWK', (k: { jwk: object }) => JSON.stringify(k.jwk)],
    ['a JWKS holding a private JWK', (k: { jwk: object }) => JSON.stringify({ keys: [k.jwk] })],
    ['a PKCS#8 PEM', (k: { pem: string }) => k.pem],
    ['an encrypted PKCS#8 PEM', (k: { encrypted: string }) => k.encrypted],
  ])('refuses %s with KEY_EXISTS and leaves it as it was, directly or through a symlink', async (_, text) => {
    const { generateKeyPairSync } = await import('node:crypto')
    const { privateKey } = generateKeyPairSync('ed25519')
    const key = {
      jwk: privateKey.export({ format: 'jwk' }),
      pem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      encrypted: privateKey.export({
        type: 'pkcs8',
        format: 'pem',
        cipher: 'aes-256-cbc',
        passphrase: 'pw',
      }) as string,
    }
    const dir = tmpDir()
    const file = join(dir, 'private.jwk')
    writeFileSync(file, text(key))
    symlinkSync('private.jwk', join(dir, 'link'))
    expect(await codeOf(writeFileAtomic(file, 'badge\n', 0o600))).toBe('KEY_EXISTS')
    expect(await codeOf(writeFileAtomic(join(dir, 'link'), 'badge\n', 0o600))).toBe('KEY_EXISTS')
    expect(readFileSync(file, 'utf8')).toBe(text(key))
    expect(readdirSync(dir).sort()).toEqual(['link', 'private.jwk'])
  })

  it('replaces a public key, a badge or any other file as before', async () => {
    const { generateKeyPairSync } = await import('node:crypto')
    const { publicKey } = generateKeyPairSync('ed25519')
    const dir = tmpDir()
    for (const [name, text] of [
      ['public.jwk', JSON.stringify(publicKey.export({ format: 'jwk' }))],
      ['public.pem', publicKey.export({ type: 'spki', format: 'pem' }) as string],
      ['badge.jwt', 'eyJhbGciOiJFZERTQSJ9.e30.c2ln\n'],
      ['card.json', '{"name":"agent","keys":[{"kty":"OKP","crv":"Ed25519","x":"abc"}]}'],
    ]) {
      writeFileSync(join(dir, name!), text!)
      expect([name, await codeOf(writeFileAtomic(join(dir, name!), 'new\n', 0o600))]).toEqual([name, 'OK'])
      expect(readFileSync(join(dir, name!), 'utf8')).toBe('new\n')
    }
  })
})
