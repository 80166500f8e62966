import { createHmac } from 'node:crypto'
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setImmediate as tick } from 'node:timers/promises'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import express from 'express'

import { getIdentity } from '../../../src/lib/auth/context.js'
import { JWTAuthenticator } from '../../../src/lib/auth/jwt.js'
import type { Authenticator } from '../../../src/lib/auth/authenticator.js'
import { makeIdentity } from '../../../src/lib/auth/identity.js'
import { authMiddleware, withAuth } from '../../../src/lib/auth/middleware.js'
import { mintToken } from '../../../src/lib/token/mint.js'
import { signHmac, unsigned } from '../../helpers/badges.js'
import { tmpDir } from '../../helpers/tmp.js'
import { keyPair } from '../../helpers/keypair.js'

const SECRET = 'middleware-test-secret-of-at-least-32-bytes'
const token = (sub: string, extra: Record<string, unknown> = {}) =>
  mintToken({ sub, secret: SECRET, roles: ['r'], claims: extra }).token

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

function call(base: string, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** A handler that answers with the identity getIdentity() sees, after an await and in a callback. */
async function whoAmI(_req: IncomingMessage, res: ServerResponse): Promise<void> {
  await tick()
  const afterAwait = getIdentity()
  const inCallback = await new Promise((r) => setTimeout(() => r(getIdentity()), 1))
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ afterAwait, inCallback }))
}

const authenticator = new JWTAuthenticator({ secret: SECRET })
const servers: Server[] = []
let plain: string

beforeAll(async () => {
  const server = createServer(withAuth(whoAmI, { authenticator }))
  servers.push(server)
  plain = await listen(server)
})
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
})

describe('withAuth (node:http)', () => {
  it('lets a valid bearer token in; the handler sees its identity after awaits and in callbacks', async () => {
    const r = await call(plain, '/tasks', { authorization: `Bearer ${token('alice')}` })
    expect(r.status).toBe(200)
    const body = JSON.parse(r.body) as Record<string, { id: string; roles: string[] }>
    expect(body.afterAwait).toMatchObject({ id: 'alice', type: 'user', roles: ['r'] })
    expect(body.inCallback).toEqual(body.afterAwait)
  })

  it('answers 401 with WWW-Authenticate: Bearer and the documented body when no credential is sent', async () => {
    const r = await call(plain, '/tasks')
    expect(r.status).toBe(401)
    expect(r.headers['www-authenticate']).toBe('Bearer')
    expect(r.headers['content-type']).toBe('application/json')
    expect(JSON.parse(r.body)).toEqual({ error: 'Unauthorized', detail: 'Missing or invalid Bearer token' })
  })

  it('says error="invalid_token" (RFC 6750 §3.1) when a credential was sent but is not valid', async () => {
    for (const authorization of [`Bearer ${token('a')}x`, 'Bearer', 'bearer a b']) {
      const r = await call(plain, '/tasks', { authorization })
      expect([authorization, r.status, r.headers['www-authenticate']]).toEqual([
        authorization,
        401,
        'Bearer error="invalid_token"',
      ])
    }
  })

  it('accepts the scheme in any case', async () => {
    const r = await call(plain, '/tasks', { authorization: `bEaReR ${token('bob')}` })
    expect(r.status).toBe(200)
  })

  it('serves the default exempt paths without a credential and with no identity, exact match only', async () => {
    for (const path of [
      '/.well-known/agent-card.json',
      '/.well-known/agent.json',
      '/health',
      '/metrics?x=1',
    ]) {
      const r = await call(plain, path)
      expect([path, r.status, JSON.parse(r.body)]).toEqual([
        path,
        200,
        { afterAwait: null, inCallback: null },
      ])
    }
    for (const path of ['/health/', '/healthz', '/Health', '/%68ealth', '/metrics/../admin', '//health'])
      expect([path, (await call(plain, path)).status]).toEqual([path, 401])
  })

  it('answers 500 instead of crashing when the handler throws or rejects', async () => {
    const server = createServer(
      withAuth(
        (req) => {
          if (req.url === '/sync') throw new Error('boom')
          return Promise.reject(new Error('boom'))
        },
        { authenticator },
      ),
    )
    servers.push(server)
    const base = await listen(server)
    const auth = { authorization: `Bearer ${token('a')}` }
    expect((await call(base, '/sync', auth)).status).toBe(500)
    expect((await call(base, '/async', auth)).status).toBe(500)
  })
})

describe('an authenticator that answers something other than an identity refuses (fail closed)', () => {
  const id = makeIdentity('u', 'user', [], {})
  // Plain-JS authenticators: a missing return, a boolean, a half-made object.
  const answers: [string, unknown][] = [
    ['undefined', undefined],
    ['false', false],
    ['true', true],
    ['{}', {}],
    ['an object without roles', { id: 'u', type: 'user', attrs: {} }],
    ['an empty id', { ...id, id: '' }],
  ]
  const authenticatorOf = (answer: () => unknown): Authenticator =>
    ({ authenticate: answer, securitySchemes: () => ({}) }) as unknown as Authenticator

  it.each(answers)(
    'answered %s, at once or as a promise → 401 through withAuth and Express',
    async (_n, answer) => {
      for (const wrap of [(v: unknown) => v, (v: unknown) => Promise.resolve(v)]) {
        const a = authenticatorOf(() => wrap(answer))
        const plainServer = createServer(withAuth((_req, res) => res.end('admin data'), { authenticator: a }))
        const app = express()
        app.use(authMiddleware({ authenticator: a }))
        app.get('/admin', (_req, res) => void res.send('admin data'))
        const expressServer = createServer(app)
        servers.push(plainServer, expressServer)
        for (const base of [await listen(plainServer), await listen(expressServer)]) {
          const reply = await call(base, '/admin')
          expect(reply.status).toBe(401)
          expect(reply.body).not.toContain('admin data')
        }
      }
    },
  )

  it('still admits a real identity from a custom authenticator', async () => {
    const a = authenticatorOf(() => id)
    const server = createServer(withAuth((_req, res) => res.end('admin data'), { authenticator: a }))
    servers.push(server)
    const reply = await call(await listen(server), '/admin')
    expect([reply.status, reply.body]).toEqual([200, 'admin data'])
  })

  it('refuses to be made without an authenticator (a usage error, not 401 for everything later)', () => {
    expect(() => authMiddleware({} as never)).toThrow(expect.objectContaining({ code: 'USAGE' }))
    expect(() => withAuth(() => undefined, { authenticator: {} as never })).toThrow(
      expect.objectContaining({ code: 'USAGE' }),
    )
  })
})

describe('WWW-Authenticate names invalid_token only for a credential of ours (RFC 6750 §3.1)', () => {
  it.each([
    ['Basic dXNlcjpwYXNz', 'Bearer'],
    ['Digest username="u"', 'Bearer'],
    ['Bearer not-a-token', 'Bearer error="invalid_token"'],
    ['bearer', 'Bearer error="invalid_token"'],
  ])('Authorization: %s → %s', async (auth, expected) => {
    const reply = await call(plain, '/x', { authorization: auth })
    expect(reply.status).toBe(401)
    expect(reply.headers['www-authenticate']).toBe(expected)
  })

  it('X-Capiscio-Badge counts as a credential of ours', async () => {
    const reply = await call(plain, '/x', { 'x-capiscio-badge': 'junk' })
    expect(reply.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
  })
})

describe('hostile credentials through the middleware: each a 401, never a crash', () => {
  const ec = keyPair('ec', { namedCurve: 'P-256' })
  const rsa = keyPair('rsa', { modulusLength: 2048 })
  let base: string
  let rsaBase: string
  const serve = async (publicKey: typeof ec.publicKey) => {
    const keyFile = join(tmpDir(), 'public.pem')
    writeFileSync(keyFile, publicKey.export({ type: 'spki', format: 'pem' }))
    const server = createServer(withAuth(whoAmI, { authenticator: new JWTAuthenticator({ keyFile }) }))
    servers.push(server)
    return listen(server)
  }
  beforeAll(async () => {
    base = await serve(ec.publicKey)
    rsaBase = await serve(rsa.publicKey)
  })

  it.each([
    ['PEM', () => rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string],
    ['PKCS#1 PEM', () => rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string],
    ['JWK', () => JSON.stringify(rsa.publicKey.export({ format: 'jwk' }))],
  ])('HS256 keyed with the RSA public key (%s) → 401 invalid_token', async (_name, secret) => {
    const r = await call(rsaBase, '/x', {
      authorization: `Bearer ${signHmac({ alg: 'HS256', typ: 'JWT' }, { sub: 'admin' }, secret())}`,
    })
    expect([r.status, r.headers['www-authenticate']]).toEqual([401, 'Bearer error="invalid_token"'])
  })

  const pem = () => ec.publicKey.export({ type: 'spki', format: 'pem' }) as string
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const cases: [string, () => string][] = [
    ['alg none', () => unsigned({ alg: 'none' }, { sub: 'admin' })],
    ['HS256 keyed with the public key PEM', () => signHmac({ alg: 'HS256' }, { sub: 'admin' }, pem())],
    [
      'HS256 keyed with the public JWK',
      () =>
        signHmac({ alg: 'HS256' }, { sub: 'admin' }, JSON.stringify(ec.publicKey.export({ format: 'jwk' }))),
    ],
    [
      'a kid with path traversal',
      () => signHmac({ alg: 'ES256', kid: '../../../etc/passwd' }, { sub: 'a' }, 'x'),
    ],
    [
      'a payload nesting 5,000 arrays',
      () => {
        const input = `${b64({ alg: 'ES256' })}.${Buffer.from(`{"sub":${'['.repeat(5000)}${']'.repeat(5000)}}`).toString('base64url')}`
        return `${input}.${createHmac('sha256', 'k').update(input).digest('base64url')}`
      },
    ],
  ]

  it.each(cases)('%s → 401 invalid_token', async (_name, make) => {
    const r = await call(base, '/x', { authorization: `Bearer ${make()}` })
    expect([r.status, r.headers['www-authenticate']]).toEqual([401, 'Bearer error="invalid_token"'])
  })

  it("a 64 KiB Authorization header → 401 from the middleware (under node:http's header limit)", async () => {
    const server = createServer({ maxHeaderSize: 128 * 1024 }, withAuth(whoAmI, { authenticator }))
    servers.push(server)
    const big = await listen(server)
    const r = await call(big, '/x', { authorization: `Bearer ${'A'.repeat(64 * 1024)}` })
    expect([r.status, r.headers['www-authenticate']]).toEqual([401, 'Bearer error="invalid_token"'])
  })
})

describe('getIdentity() never leaks between requests', () => {
  it('hundreds of interleaved requests with different identities each see their own', async () => {
    const ids = Array.from({ length: 300 }, (_, i) => `caller-${i}`)
    const results = await Promise.all(
      ids.map(async (id) => {
        const r = await call(plain, '/x', { authorization: `Bearer ${token(id)}` })
        const body = JSON.parse(r.body) as Record<string, { id: string } | null>
        return [body.afterAwait?.id, body.inCallback?.id]
      }),
    )
    expect(results).toEqual(ids.map((id) => [id, id]))
    expect(getIdentity()).toBeNull()
  })

  it('in-process: a slow async authenticator and awaits between steps keep identities apart', async () => {
    // Resolves each authentication after a random number of turns, so requests finish out of order.
    const slow: Authenticator = {
      async authenticate(headers) {
        for (let i = Math.floor(Math.random() * 5); i > 0; i--) await tick()
        const who = (headers as Record<string, string>)['x-who']
        return who ? makeIdentity(who, 'user', []) : null
      },
      securitySchemes: () => ({}),
    }
    const mw = authMiddleware({ authenticator: slow })
    const seen = await Promise.all(
      Array.from({ length: 500 }, (_, i) => {
        const req = { url: '/x', headers: { 'x-who': `w${i}` } } as unknown as IncomingMessage
        const res = {} as ServerResponse
        return new Promise<string[]>((resolve) =>
          mw(req, res, async () => {
            const first = getIdentity()?.id ?? 'none'
            await tick()
            const second = await new Promise<string>((r) =>
              setImmediate(() => r(getIdentity()?.id ?? 'none')),
            )
            resolve([`w${i}`, first, second])
          }),
        )
      }),
    )
    for (const [want, first, second] of seen) expect([first, second]).toEqual([want, want])
  })

  it('an identity cannot be changed by the code that reads it', async () => {
    const r = makeIdentity('a', 'user', ['x'], { k: 1 })
    expect(Object.isFrozen(r) && Object.isFrozen(r.roles) && Object.isFrozen(r.attrs)).toBe(true)
  })
})

describe('authMiddleware with Express', () => {
  let base: string
  beforeAll(async () => {
    const app = express()
    // Mounted under /api: /api/health is not the exempt /health.
    app.use('/api', authMiddleware({ authenticator }), (_req, res) => {
      res.json({ who: getIdentity()?.id ?? null })
    })
    app.use(
      '/open',
      authMiddleware({ authenticator, requireAuth: false }),
      (_req, res) => void res.json({ who: getIdentity()?.id ?? null }),
    )
    app.use(
      authMiddleware({ authenticator, exemptPrefixes: ['/public/'] }),
      (_req, res) => void res.json({ who: getIdentity()?.id ?? null }),
    )
    const server = createServer(app)
    servers.push(server)
    base = await listen(server)
  })

  it('sets the identity for the route and refuses without a credential', async () => {
    expect(
      JSON.parse((await call(base, '/api/tasks', { authorization: `Bearer ${token('eve')}` })).body),
    ).toEqual({
      who: 'eve',
    })
    expect((await call(base, '/api/tasks')).status).toBe(401)
  })

  it('matches exempt paths on the full path: a mount at /api does not make /api/health exempt', async () => {
    expect((await call(base, '/api/health')).status).toBe(401)
    expect((await call(base, '/health')).status).toBe(200)
  })

  it('requireAuth: false lets anonymous and invalid requests through with no identity', async () => {
    expect(JSON.parse((await call(base, '/open/x')).body)).toEqual({ who: null })
    expect(JSON.parse((await call(base, '/open/x', { authorization: 'Bearer junk' })).body)).toEqual({
      who: null,
    })
    expect(JSON.parse((await call(base, '/open/x', { authorization: `Bearer ${token('z')}` })).body)).toEqual(
      {
        who: 'z',
      },
    )
  })

  it('exempt prefixes never cover a path with dot segments or encoded slashes', async () => {
    expect((await call(base, '/public/logo.png')).status).toBe(200)
    for (const path of [
      '/public/../admin',
      '/public/%2e%2e/admin',
      '/public/..%2fadmin',
      '/public//x',
      '/public\\..\\x',
    ])
      expect([path, (await call(base, path)).status]).toEqual([path, 401])
  })
})
