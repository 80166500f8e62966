import { mkdtempSync, rmSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from '@jest/globals'

import { createBadgeVerifier } from '../../../src/lib/gateway/badge-verifier.js'
import { createGuardVerifier } from '../../../src/lib/gateway/guard-verifier.js'
import { createJwtVerifier } from '../../../src/lib/gateway/jwt-verifier.js'
import { MemoryReplayStore } from '../../../src/lib/gateway/replay.js'
import { createGateway, type Gateway, type GatewayOptions } from '../../../src/lib/gateway/server.js'
import type { GatewayVerifier } from '../../../src/lib/gateway/types.js'
import { signGuardToken } from '../../../src/lib/guard/token.js'
import { StaticKeySource } from '../../../src/lib/keysource/static.js'
import { TrustStoreKeySource } from '../../../src/lib/keysource/truststore.js'
import { TrustStore } from '../../../src/lib/store/truststore.js'
import { mintToken } from '../../../src/lib/token/mint.js'
import { claims, edKey, signHmac, signRaw } from '../../helpers/badges.js'
import { echoAgent, startUpstream, type Upstream } from '../../helpers/servers.js'
import { thrownBy } from '../../helpers/thrown.js'
import { keyPair } from '../../helpers/keypair.js'

// The gateway's one pipeline for every credential (docs/architecture.md §6): badges, bearer JWTs and
// SimpleGuard tokens through the proxy and through forward-auth, with real crypto and real servers.
const SECRET = 'a-shared-secret-of-at-least-thirty-two-bytes!'
const badgeSigner = edKey()
const guardSigner = edKey()
const open: { close(): Promise<void> }[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()))
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const now = () => Math.floor(Date.now() / 1000)
const badge = (over: Record<string, unknown> = {}) =>
  signRaw(
    { alg: 'EdDSA', kid: 'k' },
    claims({ iat: now(), exp: now() + 300, ...over }),
    badgeSigner.privateKey,
  )
const jwt = (over: Partial<Parameters<typeof mintToken>[0]> = {}) =>
  mintToken({ sub: 'billing', type: 'service', roles: ['admin', 'reader'], secret: SECRET, ...over }).token

const badges = () =>
  createBadgeVerifier({ keys: new StaticKeySource([{ publicKey: badgeSigner.publicKey, kid: 'k' }]) })
const jwts = () => createJwtVerifier({ secret: SECRET })
async function guards(): Promise<GatewayVerifier> {
  const dir = mkdtempSync(join(tmpdir(), 'capiscio-gw-guard-'))
  dirs.push(dir)
  await new TrustStore(dir).add(guardSigner.publicKey, guardSigner.did)
  return createGuardVerifier({ keys: new TrustStoreKeySource(new TrustStore(dir)) })
}
const guardToken = (body: string) =>
  signGuardToken({ privateKey: guardSigner.privateKey, kid: guardSigner.did, iss: guardSigner.did, body })

async function setup(verifiers: GatewayVerifier[], o: Partial<GatewayOptions> = {}) {
  const up: Upstream = await startUpstream(echoAgent)
  const gw: Gateway = await createGateway({ target: up.url, verifiers, ...o })
  open.push(gw, up)
  return { gw, up }
}

async function call(url: string, headers: Record<string, string>, body?: string) {
  const res = await fetch(url, { method: body === undefined ? 'GET' : 'POST', headers, body })
  const text = await res.text()
  return {
    status: res.status,
    headers: res.headers,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
  }
}

describe('gateway --verify jwt', () => {
  it('admits a valid JWT and tells the target who it is, kind, type and roles included', async () => {
    const { gw } = await setup([jwts()])
    const r = await call(`${gw.url}/task`, { authorization: `Bearer ${jwt()}` })
    expect(r.status).toBe(200)
    const seen = (r.body as { headers: Record<string, string> }).headers
    expect(seen).toMatchObject({
      'x-capiscio-credential': 'jwt',
      'x-capiscio-subject': 'billing',
      'x-capiscio-type': 'service',
      'x-capiscio-roles': 'admin,reader',
    })
    expect(seen['x-capiscio-trust-level']).toBeUndefined()
    expect(seen.authorization).toBeUndefined()
  })

  it.each([
    [
      'another secret',
      () => jwt({ secret: 'another-secret-also-at-least-thirty-two-bytes' }),
      'TOKEN_SIGNATURE_INVALID',
    ],
    ['an expired token', () => jwt({ now: () => Date.now() - 7200_000 }), 'TOKEN_EXPIRED'],
    [
      'alg none',
      () =>
        `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.`,
      'TOKEN_MALFORMED',
    ],
    ['a non-ASCII subject', () => jwt({ sub: 'bïlling' }), 'TOKEN_CLAIMS_INVALID'],
    [
      // Signed by hand: mintToken itself refuses such a role.
      'a role with a comma',
      () =>
        signHmac(
          { alg: 'HS256', typ: 'JWT' },
          { sub: 'billing', roles: ['a,b'], iat: now(), exp: now() + 300 },
          SECRET,
        ),
      'TOKEN_CLAIMS_INVALID',
    ],
  ])('refuses %s with 403 and its code', async (_name, make, code) => {
    const { gw, up } = await setup([jwts()])
    const r = await call(`${gw.url}/task`, { authorization: `Bearer ${make()}` })
    expect([r.status, r.body?.code]).toEqual([403, code])
    expect(up.seen).toHaveLength(0)
  })

  it('a cached token is re-checked at once against keys held in memory (findSync), and refused once its key is gone', async () => {
    const signer = edKey()
    const keys = new StaticKeySource([{ publicKey: signer.publicKey, kid: 'svc' }])
    let present = true
    const source = {
      find: async (q: Parameters<typeof keys.find>[0]) => (present ? keys.find(q) : []),
      findSync: (q: Parameters<typeof keys.find>[0]) => (present ? keys.findSync(q) : []),
    }
    let misses = 0
    const verifier = createJwtVerifier({
      keys: source as never,
      onCache: (r) => (r === 'miss' ? misses++ : undefined),
    })
    const token = mintToken({ sub: 'svc', privateKey: signer.privateKey, kid: 'svc' }).token
    await verifier.verify(token)
    await verifier.verify(token) // the second use puts it in the cache
    const hit = verifier.verify(token)
    expect(misses).toBe(2)
    expect(hit instanceof Promise).toBe(false)
    expect(hit).toMatchObject({ kind: 'jwt', subject: 'svc' })
    present = false
    expect(() => verifier.verify(token)).toThrow(
      expect.objectContaining({ code: 'TOKEN_SIGNATURE_INVALID' }) as unknown as Error,
    )
  })

  it('a token signed with a key that is later removed is refused even from the cache', async () => {
    const signer = edKey()
    const keys = new StaticKeySource([{ publicKey: signer.publicKey, kid: 'svc' }])
    let present = true
    const source = {
      find: async (q: Parameters<typeof keys.find>[0]) => (present ? keys.find(q) : []),
    }
    const cache: string[] = []
    const { gw } = await setup([createJwtVerifier({ keys: source as never, onCache: (r) => cache.push(r) })])
    const token = mintToken({ sub: 'svc', privateKey: signer.privateKey, kid: 'svc' }).token
    // Twice: the cache keeps a token from its second use.
    for (let i = 0; i < 2; i++)
      expect((await call(`${gw.url}/x`, { authorization: `Bearer ${token}` })).status).toBe(200)
    present = false
    const r = await call(`${gw.url}/x`, { authorization: `Bearer ${token}` })
    expect([r.status, r.body?.code]).toEqual([403, 'TOKEN_SIGNATURE_INVALID'])
    expect(cache).toEqual(['miss', 'miss', 'hit'])
  })
})

describe('gateway --verify guard (the body is read whole, checked, and forwarded as it came)', () => {
  it('admits a body signed by a trusted key and forwards exactly those bytes', async () => {
    const up = await startUpstream((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers }))
      })
    })
    const gw = await createGateway({ target: up.url, verifiers: [await guards()] })
    open.push(gw, up)
    const body = '{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"text":"héllo"}}'
    const r = await call(
      `${gw.url}/a2a`,
      { 'x-capiscio-badge': guardToken(body), 'content-type': 'application/json' },
      body,
    )
    expect(r.status).toBe(200)
    expect(r.body?.body).toBe(body)
    expect((r.body?.headers as Record<string, string>)['x-capiscio-credential']).toBe('guard')
    expect((r.body?.headers as Record<string, string>)['x-capiscio-subject']).toBe(guardSigner.did)
  })

  it('refuses a body one byte different from the one signed (GUARD_BODY_MISMATCH), and an untrusted signer', async () => {
    const { gw, up } = await setup([await guards()])
    const token = guardToken('{"amount":100}')
    const changed = await call(`${gw.url}/a2a`, { 'x-capiscio-badge': token }, '{"amount":900}')
    expect([changed.status, changed.body?.code]).toEqual([403, 'GUARD_BODY_MISMATCH'])
    const stranger = edKey()
    const forged = signGuardToken({
      privateKey: stranger.privateKey,
      kid: stranger.did,
      iss: stranger.did,
      body: 'x',
    })
    const untrusted = await call(`${gw.url}/a2a`, { 'x-capiscio-badge': forged }, 'x')
    expect([untrusted.status, untrusted.body?.code]).toEqual([403, 'GUARD_UNTRUSTED_KEY'])
    expect(up.seen).toHaveLength(0)
  })

  it('with Expect: 100-continue, sends 100 Continue once the token verified and reads the signed body then', async () => {
    const { gw, up } = await setup([await guards()])
    const body = '{"task":"summarise"}'
    const { port } = new URL(gw.url)
    const answer = await new Promise<{ status?: number; continued: boolean; text: string }>(
      (resolve, reject) => {
        let continued = false
        const req = httpRequest({
          port,
          host: '127.0.0.1',
          method: 'POST',
          path: '/a2a',
          headers: {
            'x-capiscio-badge': guardToken(body),
            expect: '100-continue',
            'content-length': body.length,
          },
        })
        // The body goes only after the 100: a gateway that waited for it first would never answer.
        req.on('continue', () => {
          continued = true
          req.end(body)
        })
        req.on('response', (res) => {
          let text = ''
          res.setEncoding('utf8').on('data', (d: string) => (text += d))
          res.on('end', () => resolve({ status: res.statusCode, continued, text }))
        })
        req.on('error', reject)
      },
    )
    expect([answer.status, answer.continued]).toEqual([200, true])
    expect(up.seen).toHaveLength(1)
  })

  it.each([
    ['a token refused before the body is needed', 'not.a.token', 20, 403],
    ['a body declared over --max-body', 'valid', 100, 413],
  ])(
    'with Expect: 100-continue, %s gets its answer without a 100 (the body never travels)',
    async (_what, token, length, status) => {
      const { gw, up } = await setup([await guards()], { maxBodyBytes: 64 })
      const { port } = new URL(gw.url)
      const answer = await new Promise<string>((resolve) => {
        let data = ''
        const socket = connect(Number(port), '127.0.0.1', () =>
          socket.write(
            `POST /a2a HTTP/1.1\r\nHost: x\r\nX-Capiscio-Badge: ${token === 'valid' ? guardToken('x'.repeat(length)) : token}\r\n` +
              `Expect: 100-continue\r\nContent-Length: ${length}\r\n\r\n`,
          ),
        )
        socket.on('data', (d) => (data += d))
        socket.on('close', () => resolve(data))
      })
      expect(answer).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `))
      expect(answer).not.toContain('100 Continue')
      expect(up.seen).toHaveLength(0)
    },
  )

  it('answers 413 for a body over --max-body before verifying, declared or streamed', async () => {
    const { gw, up } = await setup([await guards()], { maxBodyBytes: 16 })
    const big = 'x'.repeat(64)
    const r = await call(`${gw.url}/a2a`, { 'x-capiscio-badge': guardToken(big) }, big)
    expect(r.status).toBe(413)
    expect(up.seen).toHaveLength(0)
  })
})

describe('gateway --verify badge,jwt,guard (any of)', () => {
  it('admits each kind and names it; a refusal is explained by the verifier that got furthest', async () => {
    const { gw } = await setup([badges(), jwts(), await guards()])
    const kindOf = async (headers: Record<string, string>, body?: string) => {
      const r = await call(`${gw.url}/x`, headers, body)
      return r.status === 200
        ? (r.body!.headers as Record<string, string>)['x-capiscio-credential']
        : r.body?.code
    }
    expect(await kindOf({ authorization: `Bearer ${badge()}` })).toBe('badge')
    expect(await kindOf({ authorization: `Bearer ${jwt()}` })).toBe('jwt')
    expect(await kindOf({ 'x-capiscio-badge': guardToken('{"a":1}') }, '{"a":1}')).toBe('guard')
    // An expired badge is "badge expired", not the JWT verifier's "alg not allowed".
    expect(await kindOf({ authorization: `Bearer ${badge({ iat: now() - 900, exp: now() - 600 })}` })).toBe(
      'BADGE_EXPIRED',
    )
    expect(await kindOf({ authorization: `Bearer ${jwt({ secret: 'x'.repeat(40) })}` })).toBe(
      'TOKEN_SIGNATURE_INVALID',
    )
    expect(
      await kindOf({ authorization: `Bearer ${signHmac({ alg: 'HS256' }, { sub: 'x' }, 'short')}` }),
    ).toBe('TOKEN_SIGNATURE_INVALID')
  })

  it('replay protection works the same for every kind (BADGE_REPLAYED, TOKEN_REPLAYED, GUARD_REPLAY)', async () => {
    const { gw } = await setup([badges(), jwts(), await guards()], { replay: new MemoryReplayStore() })
    const cases: [Record<string, string>, string | undefined, string][] = [
      [{ authorization: `Bearer ${badge()}` }, undefined, 'BADGE_REPLAYED'],
      [{ authorization: `Bearer ${jwt()}` }, undefined, 'TOKEN_REPLAYED'],
      [{ 'x-capiscio-badge': guardToken('{"b":2}') }, '{"b":2}', 'GUARD_REPLAY'],
    ]
    for (const [headers, body, code] of cases) {
      expect((await call(`${gw.url}/x`, headers, body)).status).toBe(200)
      const again = await call(`${gw.url}/x`, headers, body)
      expect([again.status, again.body?.code]).toEqual([403, code])
    }
    // A token without exp cannot be remembered for a bounded time: refused, never admitted twice.
    const noExp = signHmac({ alg: 'HS256' }, { sub: 'svc', jti: 'j1' }, SECRET)
    const r = await call(`${gw.url}/x`, { authorization: `Bearer ${noExp}` })
    expect([r.status, r.body?.code]).toEqual([403, 'TOKEN_CLAIMS_INVALID'])
  })
})

describe('forward-auth (--mode auth, and /auth in proxy mode)', () => {
  it('answers 200 with the identity headers for every path and proxies nothing; 401, 403 otherwise', async () => {
    const gw = await createGateway({ mode: 'auth', verifiers: [badges(), jwts()] })
    open.push(gw)
    for (const path of ['/auth', '/anything/else?x=1', '/.well-known/agent-card.json']) {
      const ok = await call(`${gw.url}${path}`, { authorization: `Bearer ${badge()}` })
      expect(ok.status).toBe(200)
      expect(ok.body).toBeUndefined()
      expect(ok.headers.get('x-capiscio-credential')).toBe('badge')
      expect(ok.headers.get('x-capiscio-subject')).toBe('did:capiscio:agent:client')
      expect(ok.headers.get('x-capiscio-trust-level')).toBe('1')
      expect(ok.headers.get('cache-control')).toBe('no-store')
    }
    const token = await call(`${gw.url}/auth`, { authorization: `Bearer ${jwt()}` })
    expect([token.status, token.headers.get('x-capiscio-roles')]).toEqual([200, 'admin,reader'])
    const missing = await call(`${gw.url}/auth`, {})
    expect([missing.status, missing.headers.get('www-authenticate'), missing.body]).toEqual([
      401,
      'Bearer',
      { error: 'missing authorization header' },
    ])
    const forged = await call(`${gw.url}/auth`, { authorization: `Bearer ${badge().slice(0, -4)}AAAA` })
    expect([forged.status, forged.body?.code]).toEqual([403, 'BADGE_SIGNATURE_INVALID'])
    // Two different credentials: 401 here (nginx passes on only 401 and 403), 400 in proxy mode.
    const conflict = await call(`${gw.url}/auth`, {
      authorization: `Bearer ${badge()}`,
      'x-capiscio-badge': jwt(),
    })
    expect(conflict.status).toBe(401)
    expect((await call(`${gw.url}/health`, {})).status).toBe(200)
  })

  it('a signed request is checked against the body when the proxy passes it on, and refused when it says there was one it kept', async () => {
    const gw = await createGateway({ mode: 'auth', verifiers: [await guards()] })
    open.push(gw)
    const body = '{"amount":100}'
    // Envoy ext_authz with_request_body: the check carries the body, which is verified.
    expect((await call(`${gw.url}/auth/a2a`, { 'x-capiscio-badge': guardToken(body) }, body)).status).toBe(
      200,
    )
    // nginx auth_request / Traefik forwardAuth: no body, but the original method says there was one.
    const bodiless = guardToken('')
    for (const header of ['x-original-method', 'x-forwarded-method']) {
      const r = await call(`${gw.url}/auth`, { 'x-capiscio-badge': bodiless, [header]: 'POST' })
      expect([r.status, r.body?.code]).toEqual([403, 'GUARD_BODY_MISMATCH'])
    }
    // A GET has no body to sign: admitted.
    const get = await call(`${gw.url}/auth`, {
      'x-capiscio-badge': guardToken(''),
      'x-original-method': 'GET',
    })
    expect(get.status).toBe(200)
  })

  it('is at /auth in proxy mode too, and off with authPath ""', async () => {
    const { gw, up } = await setup([badges()])
    const r = await call(`${gw.url}/auth`, { authorization: `Bearer ${badge()}` })
    expect([r.status, r.headers.get('x-capiscio-subject')]).toEqual([200, 'did:capiscio:agent:client'])
    expect(up.seen).toHaveLength(0)
    const off = await setup([badges()], { authPath: '' })
    const proxied = await call(`${off.gw.url}/auth`, { authorization: `Bearer ${badge()}` })
    expect(proxied.status).toBe(200)
    expect(off.up.seen).toHaveLength(1)
  })

  it.each(['/health', '/ready', '/metrics', '/.well-known/agent-card.json', 'auth'])(
    'refuses authPath %s, which would admit every request (or never match)',
    async (authPath) => {
      await expect(
        createGateway({ target: 'http://127.0.0.1:1', verifiers: [badges()], authPath }),
      ).rejects.toMatchObject({ code: 'USAGE', options: ['authPath'] })
    },
  )

  it('refuses a proxying gateway without a target, and any gateway without a verifier', async () => {
    await expect(createGateway({ verifiers: [badges()] })).rejects.toMatchObject({ code: 'USAGE' })
    await expect(createGateway({ target: 'http://127.0.0.1:1', verifiers: [] })).rejects.toMatchObject({
      code: 'USAGE',
    })
  })
})

describe('a cached SimpleGuard token', () => {
  it('is checked against each request body: once kept (its second use), another body is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'capiscio-gw-guard-'))
    dirs.push(dir)
    await new TrustStore(dir).add(guardSigner.publicKey, guardSigner.did)
    const seen: string[] = []
    const verifier = createGuardVerifier({
      keys: new TrustStoreKeySource(new TrustStore(dir)),
      onCache: (r) => seen.push(r),
    })
    const body = '{"task":"a"}'
    const token = guardToken(body)
    const bodyOf = (text: string) => async () => Buffer.from(text)
    for (let i = 0; i < 3; i++)
      expect(await verifier.verify(token, bodyOf(body))).toMatchObject({ kind: 'guard' })
    await expect(verifier.verify(token, bodyOf('{"task":"b"}'))).rejects.toMatchObject({
      code: 'GUARD_BODY_MISMATCH',
    })
    expect(seen).toEqual(['miss', 'miss', 'hit', 'hit'])
  })
})

describe('the verified-credential cache and the verifier agree on time', () => {
  it('keeps a badge until exp + clock skew, as long as verifyBadge accepts it, then drops it', async () => {
    let t = 1_800_000_000_000
    let misses = 0
    const verifier = createBadgeVerifier({
      keys: new StaticKeySource([{ publicKey: badgeSigner.publicKey, kid: 'k' }]),
      now: () => t,
      onCache: (r) => (r === 'miss' ? misses++ : undefined),
    })
    const iat = t / 1000
    const token = signRaw({ alg: 'EdDSA', kid: 'k' }, claims({ iat, exp: iat + 60 }), badgeSigner.privateKey)
    await verifier.verify(token)
    await verifier.verify(token) // the second use puts it in the cache
    t += 90_000 // 30 s past exp, inside the 60 s skew: a cache hit, not a re-verification
    await verifier.verify(token)
    expect(misses).toBe(2)
    t += 31_000 // past exp + skew: refused, as verifyBadge refuses it (thrown at once: keys in memory)
    expect(thrownBy(() => verifier.verify(token))).toMatchObject({ code: 'BADGE_EXPIRED' })
    expect(misses).toBe(3)
  })
})

describe('credential kinds never stand in for each other (review findings)', () => {
  const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551')
  async function sharedStore() {
    const dir = mkdtempSync(join(tmpdir(), 'capiscio-gw-shared-'))
    dirs.push(dir)
    const store = new TrustStore(dir)
    await store.add(badgeSigner.publicKey, 'k', { issuers: ['did:web:issuer.example.com'] })
    await store.add(guardSigner.publicKey, guardSigner.did)
    return new TrustStoreKeySource(new TrustStore(dir))
  }

  it('a badge refused by the badge rules is not admitted as a signed request, in either order', async () => {
    const keys = await sharedStore()
    for (const order of ['badge,guard', 'guard,badge']) {
      const bv = createBadgeVerifier({ keys, audience: 'https://api.example.com' })
      const gv = createGuardVerifier({ keys })
      const { gw, up } = await setup(order === 'badge,guard' ? [bv, gv] : [gv, bv])
      const wrongAud = badge({ aud: ['https://other.example.com'] })
      const r = await call(`${gw.url}/x`, { authorization: `Bearer ${wrongAud}` })
      expect([order, r.status, r.body?.code]).toEqual([order, 403, 'BADGE_AUDIENCE_MISMATCH'])
      expect(up.seen).toHaveLength(0)
    }
  })

  it('a badge or a signed request is never admitted as a JWT by a key both trust', async () => {
    const keys = await sharedStore()
    const { gw, up } = await setup([
      createJwtVerifier({ keys, requiredClaims: [] }),
      createBadgeVerifier({ keys, audience: 'https://api.example.com' }),
      createGuardVerifier({ keys }),
    ])
    const wrongAud = badge({ aud: ['https://other.example.com'] })
    const r1 = await call(`${gw.url}/x`, { authorization: `Bearer ${wrongAud}` })
    expect([r1.status, r1.body?.code]).toEqual([403, 'BADGE_AUDIENCE_MISMATCH'])
    const signed = signGuardToken({
      privateKey: guardSigner.privateKey,
      kid: guardSigner.did,
      iss: guardSigner.did,
      claims: { sub: 'ci' },
      body: '{"amount":1}',
    })
    const r2 = await call(`${gw.url}/x`, { 'x-capiscio-badge': signed }, '{"amount":1000000}')
    expect([r2.status, r2.body?.code]).toEqual([403, 'GUARD_BODY_MISMATCH'])
    expect(up.seen).toHaveLength(0)
  })

  it.each(['jwt first', 'guard first'])(
    'a signed request over an empty body is never admitted as a JWT carrying a body (%s)',
    async (order) => {
      const keys = await sharedStore()
      const jwt = createJwtVerifier({ keys, requiredClaims: [] })
      const guard = createGuardVerifier({ keys })
      const { gw, up } = await setup(order === 'jwt first' ? [jwt, guard] : [guard, jwt])
      // No body signed, so no bh: only its header's iss says it is a signed request.
      const bodiless = signGuardToken({
        privateKey: guardSigner.privateKey,
        kid: guardSigner.did,
        iss: guardSigner.did,
        claims: { sub: 'ci' },
      })
      const r = await call(`${gw.url}/x`, { 'x-capiscio-badge': bodiless }, '{"transfer":1000000}')
      expect([r.status, r.body?.code]).toEqual([403, 'GUARD_BODY_MISMATCH'])
      expect(up.seen).toHaveLength(0)
      // Without a body it is what it says: a signed request, admitted as one.
      const get = await call(`${gw.url}/x`, { 'x-capiscio-badge': bodiless })
      expect(get.status).toBe(200)
      expect((get.body?.headers as Record<string, string>)['x-capiscio-credential']).toBe('guard')
    },
  )

  it('a signed request from a key bound to no issuer speaks only as itself', async () => {
    const { gw, up } = await setup([await guards()])
    const lie = signGuardToken({
      privateKey: guardSigner.privateKey,
      kid: guardSigner.did,
      iss: 'did:web:bank.example',
      body: 'x',
    })
    const r = await call(`${gw.url}/x`, { 'x-capiscio-badge': lie }, 'x')
    expect([r.status, r.body?.code]).toEqual([403, 'GUARD_UNTRUSTED_KEY'])
    expect(up.seen).toHaveLength(0)
  })

  it('an ES256 JWT without jti and its high-S twin are one token to replay protection', async () => {
    const es = keyPair('ec', { namedCurve: 'P-256' })
    const token = mintToken({ sub: 'svc', privateKey: es.privateKey, kid: 'es' }).token
    const claimsNoJti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<
      string,
      unknown
    >
    delete claimsNoJti.jti
    const low = signRaw({ alg: 'ES256', kid: 'es', typ: 'JWT' }, claimsNoJti, es.privateKey)
    const sig = Buffer.from(low.split('.')[2]!, 'base64url')
    const s = P256_N - BigInt('0x' + sig.subarray(32).toString('hex'))
    const twin = `${low.slice(0, low.lastIndexOf('.'))}.${Buffer.concat([sig.subarray(0, 32), Buffer.from(s.toString(16).padStart(64, '0'), 'hex')]).toString('base64url')}`
    const keys = new StaticKeySource([{ publicKey: es.publicKey, kid: 'es' }])
    const { gw } = await setup([createJwtVerifier({ keys })], { replay: new MemoryReplayStore() })
    expect((await call(`${gw.url}/x`, { authorization: `Bearer ${low}` })).status).toBe(200)
    const again = await call(`${gw.url}/x`, { authorization: `Bearer ${twin}` })
    expect([again.status, again.body?.code]).toEqual([403, 'TOKEN_REPLAYED'])
  })

  it('an unsigned request makes the gateway read no body: refused while its body is still arriving', async () => {
    const { request } = await import('node:http')
    const { gw, up } = await setup([await guards()])
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${gw.url}/x`, {
        method: 'POST',
        headers: { 'x-capiscio-badge': 'not.a.token', 'content-length': String(9 * 1024 * 1024) },
      })
      req.on('response', (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
        req.destroy()
      })
      req.on('error', reject)
      req.write(Buffer.alloc(1024))
    })
    expect(status).toBe(403)
    expect(up.seen).toHaveLength(0)
  })

  it('identity values with a space at either end are refused, never trimmed into another name', async () => {
    const { gw } = await setup([jwts()])
    const r = await call(`${gw.url}/x`, { authorization: `Bearer ${jwt({ sub: ' admin ' })}` })
    expect([r.status, r.body?.code]).toEqual([403, 'TOKEN_CLAIMS_INVALID'])
  })

  it('forward-auth: any sign of a body the proxy kept refuses a signed request; junk is still junk', async () => {
    const gw = await createGateway({ mode: 'auth', verifiers: [badges(), await guards()] })
    open.push(gw)
    const bodiless = guardToken('')
    const spoof = await call(`${gw.url}/auth`, {
      'x-capiscio-badge': bodiless,
      'x-original-method': 'GET',
      'x-forwarded-method': 'DELETE',
    })
    expect([spoof.status, spoof.body?.code]).toEqual([403, 'GUARD_BODY_MISMATCH'])
    const junk = await call(`${gw.url}/auth`, { 'x-capiscio-badge': 'garbage', 'x-original-method': 'POST' })
    expect([junk.status, junk.body?.code]).toEqual([403, 'BADGE_MALFORMED'])
  })
})

describe('an internal failure', () => {
  it('is a 500 to the client and logged with what failed, not as "ok"', async () => {
    const { GatewayMetrics } = await import('../../../src/lib/gateway/metrics.js')
    const metrics = new GatewayMetrics({ processMetrics: false })
    metrics.text = () => Promise.reject(new Error('the primary did not answer'))
    let logged!: (e: { status: number; reason?: string }) => void
    const entry = new Promise<{ status: number; reason?: string }>((resolve) => (logged = resolve))
    const { gw } = await setup([badges()], { metrics, onLog: (e) => logged(e) })
    const r = await fetch(`${gw.url}/metrics`)
    expect([r.status, await r.json()]).toEqual([500, { error: 'internal error' }])
    expect(await entry).toMatchObject({ status: 500, reason: 'internal error (the primary did not answer)' })
  })
})
