import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from '@jest/globals'

import KeyGen from '../../../src/commands/key/gen.js'
import TrustAdd from '../../../src/commands/trust/add.js'
import TrustList from '../../../src/commands/trust/list.js'
import TrustRemove from '../../../src/commands/trust/remove.js'
import { runCommand } from '../../helpers/run-command.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'

afterAll(cleanupTmp)

async function keys(alg = 'EdDSA'): Promise<{ dir: string; kid: string }> {
  const dir = tmpDir()
  const r = await runCommand(KeyGen, ['--out', dir, '--alg', alg, '--json'])
  return { dir, kid: JSON.parse(r.stdout).kid }
}

describe('trust add / list / remove', () => {
  it('adds public.jwk, lists its kid, stores trusted/<kid>.pem as SPKI, and removes it', async () => {
    const partner = await keys()
    const store = tmpDir()
    const add = await runCommand(TrustAdd, [join(partner.dir, 'public.jwk'), '--trust-dir', store])
    expect(add.exitCode).toBe(0)
    expect(add.stdout).toBe(partner.kid + '\n')
    expect(readFileSync(join(store, `${partner.kid}.pem`), 'utf8')).toBe(
      readFileSync(join(partner.dir, 'public.pem'), 'utf8'),
    )

    const list = JSON.parse((await runCommand(TrustList, ['--trust-dir', store, '--json'])).stdout)
    expect(list.keys.map((k: { kid: string }) => k.kid)).toEqual([partner.kid])

    const table = (await runCommand(TrustList, ['--trust-dir', store])).stdout
    expect(table.split('\n')[0]).toMatch(/^KID\s+ALG\s+ISSUERS\s+THUMBPRINT$/)
    expect(table).toContain(partner.kid)

    expect((await runCommand(TrustRemove, [partner.kid, '--trust-dir', store])).exitCode).toBe(0)
    expect(readdirSync(store)).toEqual([])
  })

  it('takes the trust dir from CAPISCIO_TRUST_DIR, and <key dir>/trusted by default', async () => {
    const partner = await keys()
    const viaEnv = tmpDir()
    await runCommand(TrustAdd, [join(partner.dir, 'public.pem')], { env: { CAPISCIO_TRUST_DIR: viaEnv } })
    expect(existsSync(join(viaEnv, `${partner.kid}.jwk`))).toBe(true)
    const cwd = tmpDir()
    await runCommand(TrustAdd, [join(partner.dir, 'public.pem')], { cwd })
    expect(existsSync(join(cwd, 'capiscio_keys', 'trusted', `${partner.kid}.pem`))).toBe(true)
  })

  it('adds a did:key given on the command line, with an issuer mapping', async () => {
    const store = tmpDir()
    const did = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'
    await runCommand(TrustAdd, [did, '--trust-dir', store, '--issuer', 'https://partner.example'])
    const list = JSON.parse((await runCommand(TrustList, ['--trust-dir', store, '--json'])).stdout)
    expect(list.keys[0]).toMatchObject({ kid: did, did, alg: 'EdDSA', issuers: ['https://partner.example'] })
  })

  it('binds a key to every --issuer given, says what it may sign for, and refuses an issuer that is not a DID or URL', async () => {
    const store = tmpDir()
    const partner = await keys()
    const jwk = join(partner.dir, 'public.jwk')
    const bound = await runCommand(TrustAdd, [
      jwk,
      '--trust-dir',
      store,
      '--issuer',
      'https://partner.example',
      '--issuer',
      'did:web:partner.example',
    ])
    expect(bound.stderr).toContain('the key may sign for https://partner.example, did:web:partner.example')
    // A JWKS of two keys: one line that speaks for both, not one indented under the last key.
    const other = await keys()
    const two = join(tmpDir(), 'two.json')
    const jwkOf = (dir: string, kid: string) => ({
      ...JSON.parse(readFileSync(join(dir, 'public.jwk'), 'utf8')),
      kid,
    })
    writeFileSync(two, JSON.stringify({ keys: [jwkOf(partner.dir, 'p1'), jwkOf(other.dir, 'p2')] }))
    const both = await runCommand(TrustAdd, [
      two,
      '--trust-dir',
      tmpDir(),
      '--issuer',
      'https://partner.example',
    ])
    expect(both.stderr.split('\n').filter((l) => l.includes('may sign'))).toEqual([
      'both keys may sign for https://partner.example',
    ])
    const list = JSON.parse((await runCommand(TrustList, ['--trust-dir', store, '--json'])).stdout)
    expect(list.keys[0].issuers.sort()).toEqual(['did:web:partner.example', 'https://partner.example'])
    const unbound = await runCommand(TrustAdd, [jwk, '--trust-dir', store])
    expect(unbound.stderr).toContain('may sign only as its own did:key or kid')
    const bad = await runCommand(TrustAdd, [jwk, '--trust-dir', tmpDir(), '--issuer', 'partner'])
    expect(bad.exitCode).toBe(2)
    expect(bad.stderr).toContain('Code: USAGE')
  })

  it('list: a --trust-dir that does not exist is FILE_NOT_FOUND (exit 4); the default store not made yet lists nothing', async () => {
    const typo = await runCommand(TrustList, ['--trust-dir', join(tmpDir(), 'nope')])
    expect([typo.exitCode, typo.stderr]).toEqual([4, expect.stringContaining('Code: FILE_NOT_FOUND')])
    const fresh = await runCommand(TrustList, ['--json'], { cwd: tmpDir() })
    expect([fresh.exitCode, JSON.parse(fresh.stdout).keys]).toEqual([0, []])
  })

  it('refuses a plain-http issuer except on loopback (a local registry), and writes nothing for it', async () => {
    const { dir } = await keys('EdDSA')
    const jwk = join(dir, 'public.jwk')
    const store = tmpDir()
    const plain = await runCommand(TrustAdd, [jwk, '--trust-dir', store, '--issuer', 'http://plain.example'])
    expect([plain.exitCode, plain.stderr]).toEqual([2, expect.stringContaining('Code: USAGE')])
    expect(plain.stderr).toContain('http only for localhost or 127.x')
    expect(JSON.parse((await runCommand(TrustList, ['--trust-dir', store, '--json'])).stdout).keys).toEqual(
      [],
    )
    for (const local of ['http://localhost:8080', 'http://127.0.0.1:9000/registry'])
      expect((await runCommand(TrustAdd, [jwk, '--trust-dir', store, '--issuer', local])).exitCode).toBe(0)
  })

  it('says so when a second add replaces the same kid', async () => {
    const partner = await keys('ES256')
    const store = tmpDir()
    await runCommand(TrustAdd, [join(partner.dir, 'public.jwk'), '--trust-dir', store])
    const again = await runCommand(TrustAdd, [
      join(partner.dir, 'public.jwk'),
      '--trust-dir',
      store,
      '--json',
    ])
    expect(JSON.parse(again.stdout).added[0]).toMatchObject({ kid: partner.kid, replaced: true })
    const human = await runCommand(TrustAdd, [join(partner.dir, 'public.jwk'), '--trust-dir', store])
    expect(human.stderr).toContain('replaced')
  })

  it('refuses a private key with exit 4 and stores nothing', async () => {
    const partner = await keys()
    const store = tmpDir()
    for (const file of ['private.jwk', 'private.pem']) {
      const r = await runCommand(TrustAdd, [join(partner.dir, file), '--trust-dir', store])
      expect(r.exitCode).toBe(4)
      expect(r.stderr).toContain('Code: TRUST_PRIVATE_KEY')
    }
    expect(readdirSync(store)).toEqual([])
  })

  it('keeps a traversal kid inside the store', async () => {
    const partner = await keys()
    const parent = tmpDir()
    const store = join(parent, 'trusted')
    const r = await runCommand(TrustAdd, [
      join(partner.dir, 'public.jwk'),
      '--kid',
      '../../etc/passwd',
      '--trust-dir',
      store,
    ])
    expect(r.exitCode).toBe(0)
    expect(readdirSync(parent)).toEqual(['trusted'])
    const list = JSON.parse((await runCommand(TrustList, ['--trust-dir', store, '--json'])).stdout)
    expect(list.keys[0].kid).toBe('../../etc/passwd')
    expect((await runCommand(TrustRemove, ['../../etc/passwd', '--trust-dir', store])).exitCode).toBe(0)
  })

  it.each([
    ['a missing file', ['/nonexistent/key.jwk'], 4, 'FILE_NOT_FOUND'],
    ['a plain-http JWKS URL off loopback', ['http://example.com/.well-known/jwks.json'], 2, 'USAGE'],
    ['no argument', [], 2, 'USAGE'],
  ])('trust add with %s fails with exit %i', async (_n, argv, exit, code) => {
    const r = await runCommand(TrustAdd, [...(argv as string[]), '--trust-dir', tmpDir(), '--json'])
    expect(r.exitCode).toBe(exit)
    expect(JSON.parse(r.stdout).error.code).toBe(code)
  })

  it('trust remove of an unknown kid fails with exit 4', async () => {
    const r = await runCommand(TrustRemove, ['nope', '--trust-dir', tmpDir()])
    expect(r.exitCode).toBe(4)
    expect(r.stderr).toContain('TRUST_KEY_NOT_FOUND')
  })

  it("trust remove '' is a usage error pointing at trust list, not at a --kid flag it does not have", async () => {
    const r = await runCommand(TrustRemove, ['', '--trust-dir', tmpDir()])
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toContain('the key id is empty')
    expect(r.stderr).toContain('trust list')
    expect(r.stderr).not.toContain('--kid')
  })

  it('trust list on a store with a corrupt key file fails with exit 4 naming the file', async () => {
    const store = tmpDir()
    writeFileSync(join(store, 'partner.jwk'), '{"kid": "partner", "kty": ')
    const r = await runCommand(TrustList, ['--trust-dir', store])
    expect(r.exitCode).toBe(4)
    expect(r.stderr).toContain('Code: TRUST_STORE_INVALID')
    expect(r.stderr).toContain(join(store, 'partner.jwk'))
  })

  it('trust list on an empty store prints no rows and says so on stderr', async () => {
    const r = await runCommand(TrustList, ['--trust-dir', tmpDir()])
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('no trusted keys')
  })
})
