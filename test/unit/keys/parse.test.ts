import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'

import { CapiscioError } from '../../../src/lib/errors.js'
import { privateJwkOf, publicJwkOf } from '../../../src/lib/keys/key.js'
import { parseKey, parseKeys } from '../../../src/lib/keys/parse.js'
import { keyPair } from '../../helpers/keypair.js'

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(CapiscioError)
    return (err as CapiscioError).code
  }
  throw new Error('expected a CapiscioError')
}

const ed = keyPair('ed25519')
const ec = keyPair('ec', { namedCurve: 'P-256' })
const rsa = keyPair('rsa', { modulusLength: 2048 })

describe('parseKeys: accepted inputs, by content', () => {
  it('reads a public JWK with its kid', async () => {
    const k = await parseKey(JSON.stringify(publicJwkOf(ed.publicKey, 'k1')))
    expect(k).toMatchObject({ kid: 'k1', alg: 'EdDSA', format: 'jwk' })
    expect(k.privateKey).toBeUndefined()
    expect(k.publicKey.equals(ed.publicKey)).toBe(true)
  })

  it('reads a private JWK and derives its public key', async () => {
    const k = await parseKey(JSON.stringify(privateJwkOf(ec.privateKey, 'e1')))
    expect(k.alg).toBe('ES256')
    expect(k.privateKey).toBeDefined()
    expect(k.publicKey.equals(ec.publicKey)).toBe(true)
  })

  it('reads every key of a JWKS', async () => {
    const jwks = { keys: [publicJwkOf(ed.publicKey, 'a'), publicJwkOf(rsa.publicKey, 'b')] }
    const keys = await parseKeys(JSON.stringify(jwks))
    expect(keys.map((k) => [k.kid, k.alg, k.format])).toEqual([
      ['a', 'EdDSA', 'jwks'],
      ['b', 'RS256', 'jwks'],
    ])
  })

  it('reads SPKI, PKCS#8, SEC1 and PKCS#1 PEM', async () => {
    expect((await parseKey(ed.publicKey.export({ type: 'spki', format: 'pem' }) as string)).alg).toBe('EdDSA')
    expect(
      (await parseKey(ed.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)).privateKey,
    ).toBeDefined()
    expect((await parseKey(ec.privateKey.export({ type: 'sec1', format: 'pem' }) as string)).alg).toBe(
      'ES256',
    )
    expect((await parseKey(rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string)).alg).toBe(
      'RS256',
    )
  })

  it('reads a did:key string', async () => {
    const did = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK'
    expect(await parseKey(`${did}\n`)).toMatchObject({ kid: did, alg: 'EdDSA', format: 'did:key' })
  })

  it('decrypts encrypted PKCS#8 with the passphrase, asking the callback only when needed', async () => {
    const pem = ed.privateKey.export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: 'pw',
    }) as string
    let asked = 0
    const k = await parseKey(pem, { passphrase: async () => (asked++, 'pw') })
    expect(asked).toBe(1)
    expect(k.publicKey.equals(ed.publicKey)).toBe(true)
    await parseKey(JSON.stringify(publicJwkOf(ed.publicKey)), { passphrase: async () => (asked++, 'pw') })
    expect(asked).toBe(1)
  })
})

describe('parseKeys: rejected inputs get coded errors', () => {
  const encrypted = ed.privateKey.export({
    type: 'pkcs8',
    format: 'pem',
    cipher: 'aes-256-cbc',
    passphrase: 'right',
  }) as string
  const pub = ed.publicKey.export({ type: 'spki', format: 'pem' }) as string

  it.each([
    ['empty input', '', 'KEY_INVALID'],
    ['plain text', 'hello world', 'KEY_INVALID'],
    ['broken JSON', '{"kty":', 'KEY_INVALID'],
    ['a JSON array', '[1,2]', 'KEY_INVALID'],
    ['a JWK without kty', '{"x":"abc"}', 'KEY_INVALID'],
    ['a JWK with a bad x', '{"kty":"OKP","crv":"Ed25519","x":"!!"}', 'KEY_INVALID'],
    ['a symmetric JWK', '{"kty":"oct","k":"c2VjcmV0"}', 'KEY_UNSUPPORTED'],
    ['an empty JWKS', '{"keys":[]}', 'KEY_INVALID'],
    ['a JWKS whose keys is not an array', '{"keys":{}}', 'KEY_INVALID'],
    ['a truncated PEM', pub.slice(0, 60), 'KEY_INVALID'],
    ['an unknown PEM type', '-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n', 'KEY_INVALID'],
  ])('%s', async (_name, text, code) => {
    expect(await codeOf(parseKeys(text))).toBe(code)
  })

  it('refuses a JWK whose alg does not fit its key (HS256 on an Ed25519 key)', async () => {
    const jwk = { ...publicJwkOf(ed.publicKey), alg: 'HS256' }
    expect(await codeOf(parseKeys(JSON.stringify(jwk)))).toBe('KEY_INVALID')
  })

  it('refuses RSA keys under 2048 bits and curves outside the allow-list', async () => {
    const small = keyPair('rsa', { modulusLength: 1024 }).publicKey.export({
      type: 'spki',
      format: 'pem',
    })
    expect(await codeOf(parseKeys(small as string))).toBe('KEY_UNSUPPORTED')
    const x = keyPair('x25519').publicKey.export({ type: 'spki', format: 'pem' })
    expect(await codeOf(parseKeys(x as string))).toBe('KEY_UNSUPPORTED')
    const p384 = keyPair('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' })
    expect(await codeOf(parseKeys(JSON.stringify(p384)))).toBe('KEY_UNSUPPORTED')
  })

  it('refuses a JWKS with more than 100 keys', async () => {
    const k = publicJwkOf(ed.publicKey)
    expect(await codeOf(parseKeys(JSON.stringify({ keys: Array(101).fill(k) })))).toBe('KEY_INVALID')
  })

  it('needs a passphrase for an encrypted key (usage error) and rejects a wrong one', async () => {
    expect(await codeOf(parseKeys(encrypted))).toBe('KEY_PASSPHRASE_REQUIRED')
    expect(await codeOf(parseKeys(encrypted, { passphrase: 'wrong' }))).toBe('KEY_PASSPHRASE_INVALID')
  })

  it('never echoes private key material in an error message', async () => {
    const jwk = privateJwkOf(ed.privateKey) as { d: string }
    const broken = JSON.stringify({ ...jwk, x: 'AAAA' })
    try {
      await parseKeys(broken)
      throw new Error('expected failure')
    } catch (err) {
      expect((err as Error).message).not.toContain(jwk.d)
      expect(JSON.stringify(err)).not.toContain(jwk.d)
    }
  })

  it('throws only CapiscioErrors on arbitrary input (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.string().map((s) => `-----BEGIN PUBLIC KEY-----\n${s}\n-----END PUBLIC KEY-----`),
          fc
            .record({
              kty: fc.constantFrom('OKP', 'EC', 'RSA', 'oct', 'x'),
              crv: fc.string(),
              x: fc.string(),
              d: fc.option(fc.string()),
            })
            .map((o) => JSON.stringify(o)),
        ),
        async (text) => {
          try {
            await parseKeys(text)
          } catch (err) {
            expect(err).toBeInstanceOf(CapiscioError)
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})
