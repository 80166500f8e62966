import { execFileSync, spawnSync } from 'node:child_process'
import { createPublicKey, type KeyObject } from 'node:crypto'
import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from '@jest/globals'
import { CompactSign, compactVerify, importJWK } from 'jose'

import { didKeyFromX } from '../../../src/lib/keys/didkey.js'
import { generateKey } from '../../../src/lib/keys/generate.js'
import { completeKeySwitch, readKeyDir, readSigningKey, writeKeyDir } from '../../../src/lib/store/keydir.js'
import { pythonWithCryptography } from '../../helpers/python.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'

afterAll(cleanupTmp)

const mode = (p: string) => statSync(p).mode & 0o777

describe('writeKeyDir', () => {
  it('writes the documented key files with their modes', async () => {
    const dir = join(tmpDir(), 'keys')
    const key = await generateKey('EdDSA')
    const files = await writeKeyDir(dir, key)
    expect(readdirSync(dir).sort()).toEqual([
      'did.txt',
      'private.jwk',
      'private.pem',
      'public.jwk',
      'public.pem',
      'trusted',
    ])
    expect(mode(files.privateJwk!)).toBe(0o600)
    expect(mode(files.privatePem)).toBe(0o600)
    expect(mode(files.publicJwk)).toBe(0o644)
    expect(mode(files.publicPem)).toBe(0o644)
    expect(mode(dir)).toBe(0o700)
    expect(mode(files.trustDir)).toBe(0o700)
    const priv = JSON.parse(readFileSync(files.privateJwk!, 'utf8'))
    const pub = JSON.parse(readFileSync(files.publicJwk, 'utf8'))
    expect(Object.keys(priv)).toEqual(['kty', 'crv', 'x', 'd', 'kid', 'alg', 'use'])
    expect(pub).toEqual({ kty: 'OKP', crv: 'Ed25519', x: priv.x, kid: key.kid, alg: 'EdDSA', use: 'sig' })
    expect(readFileSync(files.privatePem, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/)
    expect(readFileSync(files.publicPem, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----/)
  })

  it("writes a did.txt equal to the did:key derived from public.jwk's x, which is the kid", async () => {
    const dir = tmpDir()
    const key = await generateKey('EdDSA')
    await writeKeyDir(dir, key)
    const did = readFileSync(join(dir, 'did.txt'), 'utf8')
    const { x, kid } = JSON.parse(readFileSync(join(dir, 'public.jwk'), 'utf8'))
    expect(did).toBe(didKeyFromX(x) + '\n')
    expect(kid).toBe(did.trim())
  })

  it.each(['EdDSA', 'ES256', 'RS256'] as const)(
    'writes %s keys that jose imports and that sign and verify',
    async (alg) => {
      const dir = tmpDir()
      await writeKeyDir(dir, await generateKey(alg))
      const priv = await importJWK(JSON.parse(readFileSync(join(dir, 'private.jwk'), 'utf8')))
      const pub = await importJWK(JSON.parse(readFileSync(join(dir, 'public.jwk'), 'utf8')))
      const jws = await new CompactSign(new TextEncoder().encode('hi')).setProtectedHeader({ alg }).sign(priv)
      expect(new TextDecoder().decode((await compactVerify(jws, pub)).payload)).toBe('hi')
      expect(existsSync(join(dir, 'did.txt'))).toBe(alg === 'EdDSA')
    },
  )

  it.each(['EdDSA', 'ES256', 'RS256'] as const)(
    'writes %s PEM files that openssl and Python cryptography load',
    async (alg) => {
      const dir = tmpDir()
      await writeKeyDir(dir, await generateKey(alg))
      execFileSync('openssl', ['pkey', '-in', join(dir, 'private.pem'), '-noout'])
      execFileSync('openssl', ['pkey', '-pubin', '-in', join(dir, 'public.pem'), '-noout'])
      const py = [
        'import sys',
        'from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key',
        'load_pem_private_key(open(sys.argv[1], "rb").read(), password=None)',
        'load_pem_public_key(open(sys.argv[2], "rb").read())',
      ].join('\n')
      execFileSync(pythonWithCryptography(), ['-c', py, join(dir, 'private.pem'), join(dir, 'public.pem')])
    },
  )

  it('with a passphrase stores only encrypted PKCS#8 that openssl and Python open with it', async () => {
    const dir = tmpDir()
    const files = await writeKeyDir(dir, await generateKey('EdDSA'), { passphrase: 's3cret pass' })
    expect(files.privateJwk).toBeUndefined()
    expect(existsSync(join(dir, 'private.jwk'))).toBe(false)
    expect(readFileSync(files.privatePem, 'utf8')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/)
    execFileSync('openssl', ['pkey', '-in', files.privatePem, '-passin', 'pass:s3cret pass', '-noout'])
    const py =
      'import sys\nfrom cryptography.hazmat.primitives.serialization import load_pem_private_key\nload_pem_private_key(open(sys.argv[1],"rb").read(), password=b"s3cret pass")'
    execFileSync(pythonWithCryptography(), ['-c', py, files.privatePem])
  })

  it('refuses to overwrite a private key without force and leaves the old one intact', async () => {
    const dir = tmpDir()
    await writeKeyDir(dir, await generateKey())
    const before = readFileSync(join(dir, 'private.jwk'), 'utf8')
    await expect(writeKeyDir(dir, await generateKey())).rejects.toMatchObject({ code: 'KEY_EXISTS' })
    expect(readFileSync(join(dir, 'private.jwk'), 'utf8')).toBe(before)
  })

  it('with force replaces the key and removes files the new key does not have', async () => {
    const dir = tmpDir()
    await writeKeyDir(dir, await generateKey('EdDSA'))
    await writeKeyDir(dir, await generateKey('ES256'), { force: true, passphrase: 'pw' })
    expect(readdirSync(dir).sort()).toEqual(['private.pem', 'public.jwk', 'public.pem', 'trusted'])
  })

  it('reports a failed write as WRITE_FAILED and leaves only whole files, no temporaries', async () => {
    const dir = tmpDir()
    // A non-empty directory where did.txt must go makes its rename fail after the others were staged.
    execFileSync('mkdir', ['-p', join(dir, 'did.txt', 'x')])
    await expect(writeKeyDir(dir, await generateKey('EdDSA'), { force: true })).rejects.toMatchObject({
      code: 'WRITE_FAILED',
    })
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([])
    for (const name of ['private.jwk', 'public.jwk']) {
      if (existsSync(join(dir, name)))
        expect(JSON.parse(readFileSync(join(dir, name), 'utf8')).kty).toBe('OKP')
    }
  })
})

describe('writeKeyDir in a directory it cannot write', () => {
  it('reports the lock it could not take as WRITE_FAILED, not an internal error', async () => {
    const dir = tmpDir()
    // What EACCES is to a user who may not write there (tests run as root): the lock's pid file
    // cannot be created, here because a directory holds its name.
    execFileSync('mkdir', ['-p', join(dir, `.capiscio-keyset.lock.${process.pid}.tmp`, 'x')])
    await expect(writeKeyDir(dir, await generateKey('EdDSA'))).rejects.toMatchObject({
      code: 'WRITE_FAILED',
      message: `could not write the key files in ${dir} (EISDIR)`,
    })
    expect(existsSync(join(dir, 'private.jwk'))).toBe(false)
  })
})

describe('writeKeyDir after a killed run (issue 7 item 10)', () => {
  it('removes stale temporaries of key files, keeps trusted/ and files that are not ours', async () => {
    const dir = tmpDir()
    await writeKeyDir(dir, await generateKey('EdDSA'))
    writeFileSync(join(dir, 'trusted', 'partner.jwk'), '{}')
    const stale = [
      '.private.jwk.0123456789ab.tmp',
      '.private.pem.ba9876543210.tmp',
      '..capiscio-keyset.json.00000000beef.tmp',
    ]
    for (const name of stale) writeFileSync(join(dir, name), 'secret', { mode: 0o600 })
    writeFileSync(join(dir, '.private.jwk.notes'), 'mine')
    writeFileSync(join(dir, 'badge.jwt'), 'mine')
    await writeKeyDir(dir, await generateKey('ES256'), { force: true })
    expect(readdirSync(dir).sort()).toEqual([
      '.private.jwk.notes',
      'badge.jwt',
      'private.jwk',
      'private.pem',
      'public.jwk',
      'public.pem',
      'trusted',
    ])
    expect(readdirSync(join(dir, 'trusted'))).toEqual(['partner.jwk'])
  })

  it('readers see the committed new set of an unfinished switch; the next write finishes it', async () => {
    const dir = tmpDir()
    await writeKeyDir(dir, await generateKey('EdDSA'))
    const old = await readKeyDir(dir)
    // What a run killed between its commit and its renames leaves: the new set staged, the journal
    // naming it, private.jwk already renamed, the rest (and did.txt, gone from a P-256 set) not yet.
    const next = await generateKey('ES256')
    const staging = join(tmpDir(), 'next')
    await writeKeyDir(staging, next)
    const rename: [string, string][] = []
    for (const name of ['private.pem', 'public.jwk', 'public.pem']) {
      const tmp = `.${name}.${'0123456789ab'}.tmp`
      renameSync(join(staging, name), join(dir, tmp))
      rename.push([tmp, name])
    }
    renameSync(join(staging, 'private.jwk'), join(dir, 'private.jwk'))
    rename.push(['.private.jwk.ffffffffffff.tmp', 'private.jwk'])
    writeFileSync(join(dir, '.capiscio-keyset.json'), JSON.stringify({ rename, remove: ['did.txt'] }))

    const der = (k: KeyObject) => k.export({ type: 'spki', format: 'der' }).toString('hex')
    expect(der((await readKeyDir(dir, { prefer: 'public' })).publicKey)).toBe(der(next.publicKey))
    expect(der((await readKeyDir(dir)).publicKey)).toBe(der(next.publicKey))
    expect((await readSigningKey(dir)).kid).toBe(next.kid)
    expect(der(old.publicKey)).not.toBe(der(next.publicKey))

    await completeKeySwitch(dir)
    expect(readdirSync(dir).sort()).toEqual([
      'private.jwk',
      'private.pem',
      'public.jwk',
      'public.pem',
      'trusted',
    ])
    expect(der((await readKeyDir(dir, { prefer: 'public' })).publicKey)).toBe(der(next.publicKey))
  })

  it('refuses to replace a key file that is a symlink (WRITE_FAILED), leaving it', async () => {
    const dir = tmpDir()
    await writeKeyDir(dir, await generateKey('EdDSA'))
    unlinkSync(join(dir, 'public.pem'))
    symlinkSync('/etc/hostname', join(dir, 'public.pem'))
    await expect(writeKeyDir(dir, await generateKey('EdDSA'), { force: true })).rejects.toMatchObject({
      code: 'WRITE_FAILED',
    })
    expect(lstatSync(join(dir, 'public.pem')).isSymbolicLink()).toBe(true)
    expect(readdirSync(dir).filter((n) => n.startsWith('.'))).toEqual([])
  })
})

describe('writeKeyDir run twice at once on one directory', () => {
  it('never leaves a mixed key set: one run holds the lock, the other fails with WRITE_FAILED', async () => {
    const dir = tmpDir()
    const keys = { ed: await generateKey('EdDSA'), ec: await generateKey('ES256') }
    for (let round = 0; round < 15; round++) {
      const outcomes = await Promise.allSettled([
        writeKeyDir(dir, keys.ed, { force: true }),
        writeKeyDir(dir, keys.ec, { force: true }),
      ])
      for (const o of outcomes)
        if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: 'WRITE_FAILED' })
      expect(outcomes.some((o) => o.status === 'fulfilled')).toBe(true)
      // One key throughout: private and public files agree, and did.txt is there exactly for Ed25519.
      const priv = await readSigningKey(dir)
      const pub = await readKeyDir(dir, { prefer: 'public' })
      expect(pub.publicKey.equals(createPublicKey(priv.privateKey))).toBe(true)
      const pem = createPublicKey(readFileSync(join(dir, 'public.pem'), 'utf8'))
      expect(pem.equals(pub.publicKey)).toBe(true)
      expect(existsSync(join(dir, 'did.txt'))).toBe(pub.publicKey.asymmetricKeyType === 'ed25519')
      expect(readdirSync(dir).filter((n) => n.startsWith('.'))).toEqual([])
    }
  })

  it('takes over a lock left by a run that was killed', async () => {
    const dir = tmpDir()
    const dead = spawnSync(process.execPath, ['-e', '0']).pid
    writeFileSync(join(dir, '.capiscio-keyset.lock'), `${dead}\n`)
    await writeKeyDir(dir, await generateKey('EdDSA'))
    expect(existsSync(join(dir, 'private.jwk'))).toBe(true)
    expect(existsSync(join(dir, '.capiscio-keyset.lock'))).toBe(false)
    // A lock held by a live process (the one that runs these tests) is respected.
    writeFileSync(join(dir, '.capiscio-keyset.lock'), `${process.ppid}\n`)
    await expect(writeKeyDir(dir, await generateKey('EdDSA'), { force: true })).rejects.toMatchObject({
      code: 'WRITE_FAILED',
      message: expect.stringContaining('another key gen'),
    })
  })
})

describe('readKeyDir', () => {
  it('prefers the private key for signing and the public JWK (with its kid) for describing', async () => {
    const dir = tmpDir()
    const key = await generateKey('ES256', 'custom-kid')
    await writeKeyDir(dir, key, { passphrase: 'pw' })
    expect((await readKeyDir(dir, { prefer: 'public' })).kid).toBe('custom-kid')
    const signing = await readKeyDir(dir, { passphrase: 'pw' })
    expect(signing.privateKey).toBeDefined()
  })

  it('reports an empty directory and a missing one with coded errors', async () => {
    await expect(readKeyDir(tmpDir())).rejects.toMatchObject({ code: 'KEY_NOT_FOUND' })
    await expect(readKeyDir(join(tmpDir(), 'nope'))).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' })
  })
})

describe('generateKey with a chosen kid', () => {
  it('refuses a did:key (another key’s name: a new key has its own) as a usage error naming the option', async () => {
    const other = (await generateKey('EdDSA')).did!
    for (const kid of [other, `${other}#${other.slice(8)}`])
      await expect(generateKey('EdDSA', kid)).rejects.toMatchObject({ code: 'USAGE', options: ['kid'] })
    await expect(generateKey('ES256', other)).rejects.toMatchObject({ code: 'USAGE' })
    expect((await generateKey('EdDSA', 'partner-2026')).kid).toBe('partner-2026')
  })
})
