import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

import { afterAll, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'

import { publicJwkOf, privateJwkOf } from '../../../src/lib/keys/key.js'
import { addTrustedKeys } from '../../../src/lib/store/trust-add.js'
import { stemForKid, TrustStore } from '../../../src/lib/store/truststore.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'
import { keyPair } from '../../helpers/keypair.js'

afterAll(cleanupTmp)

const ed = () => keyPair('ed25519')
const DID = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'

describe('stemForKid', () => {
  it('keeps safe kids, did:key included, as the file stem the Python SimpleGuard looks for', () => {
    expect(stemForKid(DID, 'linux')).toBe(DID)
    expect(stemForKid('partner-2026_v1.2', 'linux')).toBe('partner-2026_v1.2')
  })

  it('replaces separators and leading dots so no kid leaves the directory', () => {
    expect(stemForKid('../../etc/passwd', 'linux')).toBe('___.._etc_passwd')
    expect(stemForKid('a/b', 'linux')).toBe('a_b')
    expect(stemForKid('.hidden', 'linux')).toBe('_hidden')
    expect(stemForKid('..', 'linux')).toBe('__')
    expect(stemForKid('a\\b', 'linux')).toBe('a_b')
  })

  it('replaces ":" on Windows and shortens over-long kids with a hash', () => {
    expect(stemForKid(DID, 'win32')).toBe(DID.replaceAll(':', '_'))
    const long = 'k'.repeat(500)
    expect(stemForKid(long, 'linux')).toHaveLength(128)
    expect(stemForKid(long, 'linux')).not.toBe(stemForKid('k'.repeat(501), 'linux'))
  })

  it('never yields a stem that resolves outside the store (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 300 }),
        fc.constantFrom('linux', 'win32') as fc.Arbitrary<NodeJS.Platform>,
        (kid, platform) => {
          const stem = stemForKid(kid, platform)
          expect(stem).not.toMatch(/[/\\]/)
          expect(stem.startsWith('.')).toBe(false)
          expect(stem.length).toBeLessThanOrEqual(128)
          expect(resolve('/store', stem + '.jwk').startsWith('/store/')).toBe(true)
        },
      ),
    )
  })
})

describe('TrustStore', () => {
  it('adds a key as <kid>.pem (SPKI) and <kid>.jwk, and finds it by kid', async () => {
    const dir = tmpDir()
    const store = new TrustStore(dir)
    const { publicKey } = ed()
    const res = await store.add(publicKey, DID)
    expect(res).toMatchObject({ kid: DID, replaced: false })
    expect(readFileSync(join(dir, `${DID}.pem`), 'utf8')).toBe(
      publicKey.export({ type: 'spki', format: 'pem' }),
    )
    expect(JSON.parse(readFileSync(join(dir, `${DID}.jwk`), 'utf8')).kid).toBe(DID)
    expect((await store.get(DID))!.publicKey.equals(publicKey)).toBe(true)
  })

  it('replaces a key added again under the same kid and says so', async () => {
    const store = new TrustStore(tmpDir())
    await store.add(ed().publicKey, 'k')
    const second = ed().publicKey
    expect((await store.add(second, 'k')).replaced).toBe(true)
    expect((await store.get('k'))!.publicKey.equals(second)).toBe(true)
    expect(await store.list()).toHaveLength(1)
  })

  it('keeps traversal kids inside the directory and finds them by their exact kid only', async () => {
    const parent = tmpDir()
    const dir = join(parent, 'trusted')
    const store = new TrustStore(dir)
    await store.add(ed().publicKey, '../../etc/passwd')
    await store.add(ed().publicKey, 'a/b')
    expect(readdirSync(parent)).toEqual(['trusted'])
    expect(readdirSync(dir).sort()).toEqual([
      '___.._etc_passwd.jwk',
      '___.._etc_passwd.pem',
      'a_b.jwk',
      'a_b.pem',
    ])
    expect(await store.get('a/b')).toBeDefined()
    expect(await store.get('a_b')).toBeUndefined()
    expect((await store.list()).map((k) => k.kid)).toEqual(['../../etc/passwd', 'a/b'])
  })

  it('refuses a kid whose stem another kid already owns', async () => {
    const store = new TrustStore(tmpDir())
    await store.add(ed().publicKey, 'a/b')
    await expect(store.add(ed().publicKey, 'a:b'.replace(':', '\\'))).rejects.toMatchObject({
      code: 'TRUST_KID_CONFLICT',
    })
  })

  it('rejects empty, control-character and over-long kids', async () => {
    const store = new TrustStore(tmpDir())
    for (const kid of ['', 'a\u0000b', 'x\ny', 'k'.repeat(1025)]) {
      await expect(store.add(ed().publicKey, kid)).rejects.toMatchObject({ code: 'TRUST_KID_INVALID' })
      expect(await store.get(kid)).toBeUndefined()
    }
  })

  it('refuses a private KeyObject', async () => {
    await expect(new TrustStore(tmpDir()).add(ed().privateKey, 'k')).rejects.toMatchObject({
      code: 'TRUST_PRIVATE_KEY',
    })
  })

  it('reads a lone <kid>.pem as the Python SimpleGuard writes it', async () => {
    const dir = tmpDir()
    const { publicKey } = ed()
    writeFileSync(join(dir, `${DID}.pem`), publicKey.export({ type: 'spki', format: 'pem' }))
    const store = new TrustStore(dir)
    expect((await store.get(DID))!.publicKey.equals(publicKey)).toBe(true)
    expect((await store.list()).map((k) => k.kid)).toEqual([DID])
  })

  it('maps issuers to kids and forgets the mapping on remove', async () => {
    const dir = tmpDir()
    const store = new TrustStore(dir)
    await store.add(ed().publicKey, 'k1', { issuers: ['https://partner.example'] })
    await store.add(ed().publicKey, 'k2', { issuers: ['https://partner.example'] })
    expect(await store.kidsForIssuer('https://partner.example')).toEqual(['k1', 'k2'])
    await store.remove('k1')
    expect(await store.issuers()).toEqual(new Map([['https://partner.example', ['k2']]]))
    await store.remove('k2')
    expect(await store.issuers()).toEqual(new Map())
    expect(readdirSync(dir)).toEqual(['issuers.json'])
  })

  it('reports a missing kid on remove, and a corrupt issuers.json or revoked.json', async () => {
    const dir = tmpDir()
    const store = new TrustStore(dir)
    await expect(store.remove('nope')).rejects.toMatchObject({ code: 'TRUST_KEY_NOT_FOUND' })
    writeFileSync(join(dir, 'issuers.json'), '{"x": "not-an-array"}')
    await expect(store.issuers()).rejects.toMatchObject({ code: 'TRUST_STORE_INVALID' })
    writeFileSync(join(dir, 'revoked.json'), '{oops')
    await expect(store.revokedJtis()).rejects.toMatchObject({ code: 'TRUST_STORE_INVALID' })
    writeFileSync(join(dir, 'revoked.json'), '["jti-1"]')
    expect(await store.revokedJtis()).toEqual(new Set(['jti-1']))
  })

  it('lists nothing for a store that does not exist yet', async () => {
    expect(await new TrustStore(join(tmpDir(), 'none')).list()).toEqual([])
  })
})

describe('addTrustedKeys', () => {
  it('adds every key of a JWKS under its own kid', async () => {
    const store = new TrustStore(tmpDir())
    const jwks = {
      keys: [
        publicJwkOf(ed().publicKey, 'a'),
        publicJwkOf(keyPair('ec', { namedCurve: 'P-256' }).publicKey, 'b'),
      ],
    }
    const added = await addTrustedKeys(store, JSON.stringify(jwks))
    expect(added.map((a) => a.kid)).toEqual(['a', 'b'])
  })

  it('names a kid-less key by its did:key (Ed25519)', async () => {
    const store = new TrustStore(tmpDir())
    const added = await addTrustedKeys(store, DID)
    expect(added[0]!.kid).toBe(DID)
  })

  it('refuses private keys, encrypted ones included, and stores nothing', async () => {
    const dir = tmpDir()
    const store = new TrustStore(dir)
    const { privateKey } = ed()
    await expect(addTrustedKeys(store, JSON.stringify(privateJwkOf(privateKey, 'k')))).rejects.toMatchObject({
      code: 'TRUST_PRIVATE_KEY',
    })
    await expect(
      addTrustedKeys(store, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
    ).rejects.toMatchObject({ code: 'TRUST_PRIVATE_KEY' })
    const enc = privateKey.export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: 'p',
    }) as string
    await expect(addTrustedKeys(store, enc)).rejects.toMatchObject({ code: 'TRUST_PRIVATE_KEY' })
    expect(readdirSync(dir)).toEqual([])
  })

  it('refuses --kid for a JWKS of several keys', async () => {
    const jwks = { keys: [publicJwkOf(ed().publicKey, 'a'), publicJwkOf(ed().publicKey, 'b')] }
    await expect(
      addTrustedKeys(new TrustStore(tmpDir()), JSON.stringify(jwks), { kid: 'x' }),
    ).rejects.toMatchObject({ code: 'USAGE' })
  })
})

describe('issuer binding (issuers.json)', () => {
  const jwk = (kid: string, key = ed()) => JSON.stringify(publicJwkOf(key.publicKey, kid))

  it('writes the key and its binding in one atomic step: a refused issuer stores nothing', async () => {
    const dir = tmpDir()
    const store = new TrustStore(dir)
    for (const bad of ['partner', 'ftp://x.example.com', 'https://bad host.example.com', ''])
      await expect(addTrustedKeys(store, jwk('k1'), { issuers: [bad] })).rejects.toMatchObject({
        code: 'USAGE',
      })
    expect(readdirSync(dir)).toEqual([])
    // A failed write of issuers.json leaves no key behind either: one writeFilesAtomic for all three.
    writeFileSync(join(dir, 'issuers.json'), '{"x": "not-an-array"}')
    await expect(
      addTrustedKeys(store, jwk('k1'), { issuers: ['https://a.example.com'] }),
    ).rejects.toMatchObject({
      code: 'TRUST_STORE_INVALID',
    })
    expect(readdirSync(dir)).toEqual(['issuers.json'])
  })

  it('binds a key to exactly the issuers of its latest add (repeatable), and to none without --issuer', async () => {
    const store = new TrustStore(tmpDir())
    await addTrustedKeys(store, jwk('k1'), { issuers: ['https://a.example.com', 'did:web:a.example.com'] })
    await addTrustedKeys(store, jwk('k2'), { issuers: ['https://a.example.com'] })
    expect(await store.issuers()).toEqual(
      new Map([
        ['https://a.example.com', ['k1', 'k2']],
        ['did:web:a.example.com', ['k1']],
      ]),
    )
    const [added] = await addTrustedKeys(store, jwk('k1'))
    expect(added!.issuers).toEqual([])
    expect(await store.issuers()).toEqual(new Map([['https://a.example.com', ['k2']]]))
    expect((await store.list()).map((k) => [k.kid, k.issuers])).toEqual([
      ['k1', []],
      ['k2', ['https://a.example.com']],
    ])
  })

  it('takes __proto__ and constructor as ordinary issuer names, polluting nothing', async () => {
    const dir = tmpDir()
    const store = new TrustStore(dir)
    writeFileSync(join(dir, 'issuers.json'), '{"__proto__": ["k9"], "constructor": ["k9"]}')
    await addTrustedKeys(store, jwk('k1'), { issuers: ['did:web:a.example.com'] })
    const issuers = await store.issuers()
    expect(issuers.get('__proto__')).toEqual(['k9'])
    expect(issuers.get('constructor')).toEqual(['k9'])
    expect(await store.kidsForIssuer('toString')).toEqual([])
    expect(({} as Record<string, unknown>).k9).toBeUndefined()
    expect(JSON.parse(readFileSync(join(dir, 'issuers.json'), 'utf8'))).toEqual(
      JSON.parse('{"__proto__": ["k9"], "constructor": ["k9"], "did:web:a.example.com": ["k1"]}'),
    )
  })
})
