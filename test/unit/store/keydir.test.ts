import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from '@jest/globals'
import { CompactSign, compactVerify, importJWK } from 'jose'

import { didKeyFromX } from '../../../src/lib/keys/didkey.js'
import { generateKey } from '../../../src/lib/keys/generate.js'
import { readKeyDir, writeKeyDir } from '../../../src/lib/store/keydir.js'
import { pythonWithCryptography } from '../../helpers/python.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'

afterAll(cleanupTmp)

const mode = (p: string) => statSync(p).mode & 0o777

describe('writeKeyDir', () => {
  it('writes the DESIGN §4 files with their modes', async () => {
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
