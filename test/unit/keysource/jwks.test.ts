import { afterEach, describe, expect, it } from '@jest/globals'

import { verifyBadge } from '../../../src/lib/badge/verify.js'
import { publicJwkOf } from '../../../src/lib/keys/key.js'
import { RemoteJwksKeySource } from '../../../src/lib/keysource/jwks.js'
import { checkFetchUrl } from '../../../src/lib/net/fetch-json.js'
import { claims, edKey, NOW, signRaw } from '../../helpers/badges.js'
import { JwksServer } from '../../helpers/jwks-server.js'

let server: JwksServer
afterEach(async () => server?.stop())

const ISS = 'https://registry.example.com'

/** A clock the test moves by hand. */
function manualClock(start = NOW) {
  let t = start
  return { now: () => t, advance: (ms: number) => (t += ms) }
}

/** A badge issued at `atMs` (default: the fixed NOW). */
const badge = (key: ReturnType<typeof edKey>, kid: string, jti = 'j', atMs = NOW) =>
  signRaw(
    { alg: 'EdDSA', kid },
    claims({ jti, iss: ISS, iat: atMs / 1000, exp: atMs / 1000 + 300 }),
    key.privateKey,
  )

describe('RemoteJwksKeySource against a local registry', () => {
  it('serves keys, follows a rotation, and keeps the last good keys while the registry is down', async () => {
    const k1 = edKey()
    const k2 = edKey()
    server = await new JwksServer().start()
    server.setKeys([publicJwkOf(k1.publicKey, 'k1')])
    const clock = manualClock()
    const source = new RemoteJwksKeySource(server.url, { issuers: [ISS], now: clock.now })
    const verify = (t: string) => verifyBadge(t, { keys: source, now: clock.now })

    expect((await verify(badge(k1, 'k1'))).kid).toBe('k1')
    expect(server.requests).toBe(1)
    expect(source.ready()).toBe(true)

    // Rotation: the registry now publishes k2; a badge naming k2 triggers a refetch (30 s later).
    server.setKeys([publicJwkOf(k1.publicKey, 'k1'), publicJwkOf(k2.publicKey, 'k2')])
    clock.advance(31_000)
    expect((await verify(badge(k2, 'k2', 'j1', clock.now()))).kid).toBe('k2')
    expect(server.requests).toBe(2)

    // Outage: the registry goes away; cached keys keep working, even past the 10-minute cache.
    const port = server.port
    await server.stop()
    clock.advance(11 * 60_000)
    expect((await verify(badge(k1, 'k1', 'j2', clock.now()))).kid).toBe('k1')
    expect((await verify(badge(k2, 'k2', 'j3', clock.now()))).kid).toBe('k2')
    await source.refresh() // joins the background refresh the stale cache started
    expect(source.error?.code).toBe('NETWORK_ERROR')
    expect(source.ready()).toBe(true)

    // Back up with a new key set: picked up on the next allowed fetch.
    const k3 = edKey()
    server = await new JwksServer().start(port)
    server.setKeys([publicJwkOf(k3.publicKey, 'k3')])
    clock.advance(31_000)
    expect((await verify(badge(k3, 'k3', 'j5', clock.now()))).kid).toBe('k3')
    await expect(verify(badge(k1, 'k1', 'j4', clock.now()))).rejects.toMatchObject({
      code: 'BADGE_ISSUER_UNTRUSTED',
    })
  })

  it('refetches for an unknown kid at most once per 30 s', async () => {
    const k1 = edKey()
    server = await new JwksServer().start()
    server.setKeys([publicJwkOf(k1.publicKey, 'k1')])
    const clock = manualClock()
    const source = new RemoteJwksKeySource(server.url, { issuers: [ISS], now: clock.now })
    await source.find({ kid: 'k1', iss: 'x', alg: 'EdDSA' })
    for (let i = 0; i < 20; i++) {
      expect(await source.find({ kid: `unknown-${i}`, iss: 'x', alg: 'EdDSA' })).toEqual([])
      clock.advance(1000)
    }
    // 20 s of unknown kids: still the first fetch only. After 30 s, one more.
    expect(server.requests).toBe(1)
    clock.advance(11_000)
    await source.find({ kid: 'unknown-x', iss: 'x', alg: 'EdDSA' })
    expect(server.requests).toBe(2)
  })

  it('merges concurrent fetches into one request', async () => {
    const k1 = edKey()
    server = await new JwksServer().start()
    server.setKeys([publicJwkOf(k1.publicKey, 'k1')])
    server.delayMs = 100
    const source = new RemoteJwksKeySource(server.url)
    const results = await Promise.all(
      Array.from({ length: 25 }, () => source.find({ kid: 'k1', iss: 'x', alg: 'EdDSA' })),
    )
    expect(results.every((r) => r.length === 1)).toBe(true)
    expect(server.requests).toBe(1)
  })

  it('refuses a response over 1 MiB and an error status, with no keys before any good fetch', async () => {
    server = await new JwksServer().start()
    server.body = JSON.stringify({ keys: [], pad: 'x'.repeat(1024 * 1024) })
    const errors: string[] = []
    const source = new RemoteJwksKeySource(server.url, {
      onFetch: (o, e) => errors.push(`${o}:${e?.message ?? ''}`),
    })
    expect(await source.find({ kid: 'k', iss: 'x', alg: 'EdDSA' })).toEqual([])
    expect(source.ready()).toBe(false)
    expect(errors[0]).toMatch(/^error:.*more than 1048576 bytes|^error:.*the limit is 1048576/)
    server.status = 500
    server.body = '{}'
    const other = new RemoteJwksKeySource(server.url)
    await other.refresh()
    expect(other.error?.message).toMatch(/HTTP 500/)
  })

  it('skips keys it cannot use and refuses a set with none', async () => {
    const k1 = edKey()
    server = await new JwksServer().start()
    server.setKeys([
      { kty: 'oct', k: 'c2VjcmV0', kid: 'h' },
      { ...publicJwkOf(k1.publicKey, 'enc'), use: 'enc' },
      publicJwkOf(k1.publicKey, 'k1'),
    ])
    const source = new RemoteJwksKeySource(server.url)
    expect((await source.find({ kid: 'k1', iss: 'x', alg: 'EdDSA' })).length).toBe(1)
    expect(await source.find({ kid: 'enc', iss: 'x', alg: 'EdDSA' })).toEqual([])
  })

  it('allows plain http only for loopback hosts', () => {
    expect(() => checkFetchUrl('http://registry.example.com/.well-known/jwks.json')).toThrow(/not https/)
    expect(checkFetchUrl('http://localhost:8080/jwks').hostname).toBe('localhost')
    expect(checkFetchUrl('http://[::1]:8080/jwks').hostname).toBe('[::1]')
    expect(checkFetchUrl('https://registry.example.com/jwks').protocol).toBe('https:')
    expect(() => checkFetchUrl('file:///etc/passwd')).toThrow()
  })

  it('binds keys to the issuer it was configured with', async () => {
    const k1 = edKey()
    server = await new JwksServer().start()
    server.setKeys([publicJwkOf(k1.publicKey, 'k1')])
    const source = new RemoteJwksKeySource(server.url, { issuers: ['https://other.example.com'] })
    await expect(verifyBadge(badge(k1, 'k1'), { keys: source, now: () => NOW })).rejects.toMatchObject({
      code: 'BADGE_ISSUER_UNTRUSTED',
    })
  })

  it("binds keys to the registry's own issuer by default, and refuses a URL that names none", async () => {
    const k1 = edKey()
    server = await new JwksServer().start()
    server.setKeys([publicJwkOf(k1.publicKey, 'k1')])
    const own = `http://127.0.0.1:${server.port}`
    const source = new RemoteJwksKeySource(server.url)
    expect(source.issuers).toEqual([own])
    const token = (iss: string) => signRaw({ alg: 'EdDSA', kid: 'k1' }, claims({ iss }), k1.privateKey)
    expect((await verifyBadge(token(own), { keys: source, now: () => NOW })).kid).toBe('k1')
    await expect(verifyBadge(token(ISS), { keys: source, now: () => NOW })).rejects.toMatchObject({
      code: 'BADGE_ISSUER_UNTRUSTED',
    })
    expect(
      () => new RemoteJwksKeySource(`http://user:secret@127.0.0.1:${server.port}/keys?api_key=x`),
    ).toThrow(
      expect.objectContaining({ code: 'USAGE', message: expect.not.stringMatching(/secret|api_key/) }),
    )
  })
})

describe('RemoteJwksKeySource unbound (agent cards, which name no issuer)', () => {
  it('needs no issuers at any URL, and its keys carry no binding; unbound with issuers is a usage error', async () => {
    const k1 = edKey()
    server = await new JwksServer().start()
    server.setKeys([publicJwkOf(k1.publicKey, 'k1')])
    const source = new RemoteJwksKeySource(`http://127.0.0.1:${server.port}/keys.json`, { unbound: true })
    expect(source.issuers).toEqual([])
    const [key] = await source.find({ kid: 'k1', iss: 'https://anyone.example.com', alg: 'EdDSA' })
    expect(key).toBeDefined()
    expect(key!.issuers).toBeUndefined()
    expect(() => new RemoteJwksKeySource(server!.url, { unbound: true, issuers: [ISS] })).toThrow(
      expect.objectContaining({ code: 'USAGE', options: ['issuers', 'unbound'] }),
    )
  })
})

describe('RemoteJwksKeySource: a URL that names no issuer', () => {
  it('is a usage error whose message shows the URL masked, never its credentials or query', () => {
    const make = () => new RemoteJwksKeySource('http://user:s3cret@127.0.0.1:1/keys.json?api_key=S3CRET')
    expect(make).toThrow(
      expect.objectContaining({
        code: 'USAGE',
        message: expect.stringContaining('the JWKS at http://***@127.0.0.1:1/keys.json?*** does not say'),
      }),
    )
    expect(make).not.toThrow(/s3cret|S3CRET|user/)
  })
})

describe('RemoteJwksKeySource: a badge from an issuer the registry does not sign for', () => {
  it('is BADGE_ISSUER_UNTRUSTED with a hint to allow the issuer, not to add a key again (there is no key to add)', async () => {
    const k = edKey()
    server = await new JwksServer().start()
    server.setKeys([publicJwkOf(k.publicKey, 'k')])
    const source = new RemoteJwksKeySource(server.url, { issuers: [ISS], now: () => NOW })
    const other = signRaw(
      { alg: 'EdDSA', kid: 'k' },
      claims({ iss: 'https://other.example.com', iat: NOW / 1000, exp: NOW / 1000 + 300 }),
      k.privateKey,
    )
    await expect(verifyBadge(other, { keys: source, now: () => NOW })).rejects.toMatchObject({
      code: 'BADGE_ISSUER_UNTRUSTED',
      hint: 'if "https://other.example.com" really publishes its keys at that JWKS, allow it with issuers "https://other.example.com"',
    })
  })
})
