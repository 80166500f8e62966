import { writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'

import { afterEach, afterAll, describe, expect, it } from '@jest/globals'
import express from 'express'

import { getIdentity } from '../../../src/lib/auth/context.js'
import { cardHandler } from '../../../src/lib/card/serve.js'
import { SimpleGuard } from '../../../src/lib/guard/guard.js'
import {
  captureRawBody,
  guardedFetch,
  requireSignature,
  signResponse,
  SIGNATURE_HEADER,
} from '../../../src/lib/guard/http.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'

afterAll(cleanupTmp)
const servers: Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
})

async function listen(server: Server): Promise<string> {
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** One project whose guard signs as the caller and, trusting itself, verifies as the agent. */
function guard(): SimpleGuard {
  return new SimpleGuard({ baseDir: tmpDir(), devMode: true, env: {} })
}

/** The Flask guide's agent: /a2a/tasks protected, responses signed, the card public. */
function agent(g: SimpleGuard, errorFormat: 'json' | 'jsonrpc', parserFirst: boolean) {
  const app = express()
  if (parserFirst) app.use(express.json({ verify: captureRawBody }))
  app.get('/.well-known/agent-card.json', (_req, res) => {
    res.json({ name: 'agent' })
  })
  app.use(signResponse(g))
  app.use(requireSignature(g, { errorFormat }))
  if (!parserFirst) app.use(express.json())
  app.post('/a2a/tasks', async (req, res) => {
    await new Promise((r) => setImmediate(r))
    res.json({
      jsonrpc: '2.0',
      result: { echo: req.body, caller: getIdentity()?.id },
      id: (req.body as { id?: number }).id,
    })
  })
  return createServer(app)
}

const RPC = JSON.stringify({ jsonrpc: '2.0', method: 'tasks/send', params: { text: 'hi' }, id: 7 })

describe.each([
  ['parser after requireSignature', false],
  ['express.json({verify: captureRawBody}) first', true],
])('requireSignature + signResponse (%s)', (_name, parserFirst) => {
  it('a signed request gets 200 with a response signature that verifies over the exact bytes', async () => {
    const g = guard()
    const base = await listen(agent(g, 'jsonrpc', parserFirst))
    const call = guardedFetch(g, { verifyResponse: true })
    const res = await call(`${base}/a2a/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: RPC,
    })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { result: { echo: unknown; caller: string } }
    expect(body.result.echo).toEqual(JSON.parse(RPC))
    expect(body.result.caller).toBe((await g.whoami()).agentId)
  })

  it('no credential → 401 with JSON-RPC -32001 and the request id; the card stays public', async () => {
    const g = guard()
    const base = await listen(agent(g, 'jsonrpc', parserFirst))
    const res = await fetch(`${base}/a2a/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: RPC,
    })
    expect(res.status).toBe(401)
    // The body is not read for a request without a credential: its id is known only when a
    // parser captured the bytes first.
    expect(await res.json()).toMatchObject({
      jsonrpc: '2.0',
      error: { code: -32001, data: { code: 'GUARD_MALFORMED' } },
      id: parserFirst ? 7 : null,
    })
    expect((await fetch(`${base}/.well-known/agent-card.json`)).status).toBe(200)
  })

  it('a body changed by one byte → 403 -32002 GUARD_BODY_MISMATCH; a forged signature → 403', async () => {
    const g = guard()
    const base = await listen(agent(g, 'jsonrpc', parserFirst))
    const token = await g.signOutbound({}, RPC)
    const changed = await fetch(`${base}/a2a/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-capiscio-badge': token },
      body: RPC.replace('"hi"', '"ho"'),
    })
    expect(changed.status).toBe(403)
    expect(await changed.json()).toMatchObject({
      error: { code: -32002, data: { code: 'GUARD_BODY_MISMATCH' } },
      id: 7,
    })
    const forged = `${token.slice(0, token.lastIndexOf('.'))}.${'A'.repeat(86)}`
    const res = await fetch(`${base}/a2a/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${forged}` },
      body: RPC,
    })
    expect(res.status).toBe(403)
    expect(await res.json()).toMatchObject({ error: { data: { code: 'GUARD_SIGNATURE_INVALID' } } })
  })
})

describe('requireSignature on plain node:http, JSON errors', () => {
  it('alg none and HS256 are 401 GUARD_MALFORMED; a 64 KiB header is 401, not a crash', async () => {
    const g = guard()
    const mw = requireSignature(g)
    const server = createServer({ maxHeaderSize: 128 * 1024 }, (req, res) =>
      mw(req, res, () => {
        res.end('ok')
      }),
    )
    const base = await listen(server)
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
    const now = Math.floor(Date.now() / 1000)
    const payload = b64({ iat: now, exp: now + 60 })
    for (const token of [
      `${b64({ alg: 'none', kid: 'x' })}.${payload}.`,
      `${b64({ alg: 'HS256', kid: 'x' })}.${payload}.${'A'.repeat(43)}`,
      'A'.repeat(64 * 1024),
    ]) {
      const res = await fetch(`${base}/x`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: 'b',
      })
      expect(res.status).toBe(401)
      expect(((await res.json()) as { code: string }).code).toBe('GUARD_MALFORMED')
    }
    expect((await fetch(`${base}/x`, { method: 'POST', body: 'b' })).status).toBe(401)
  })

  it('a body parser that kept no bytes is a 500 that says how to mount it, never an unchecked pass', async () => {
    const g = guard()
    const app = express()
    app.use(express.json())
    app.use(requireSignature(g))
    app.post('/x', (_req, res) => {
      res.json({ passed: true })
    })
    const base = await listen(createServer(app))
    const token = await g.signOutbound({}, RPC)
    const res = await fetch(`${base}/x`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-capiscio-badge': token },
      body: RPC,
    })
    expect(res.status).toBe(500)
    expect(((await res.json()) as { error: string }).error).toMatch(/captureRawBody/)
  })

  it('guardedFetch with verifyResponse refuses a response without a valid signature', async () => {
    const g = guard()
    const base = await listen(
      createServer((_req, res) => {
        res.setHeader(SIGNATURE_HEADER, 'not.a.token')
        res.end('{}')
      }),
    )
    await expect(
      guardedFetch(g, { verifyResponse: true })(`${base}/`, { method: 'POST', body: '{}' }),
    ).rejects.toMatchObject({
      code: 'GUARD_MALFORMED',
    })
    const unsigned = await listen(createServer((_req, res) => res.end('{}')))
    await expect(guardedFetch(g, { verifyResponse: true })(`${unsigned}/`)).rejects.toMatchObject({
      code: 'GUARD_MALFORMED',
      message: `the response has no ${SIGNATURE_HEADER}`,
    })
  })

  it('judges the credential before reading the body: none is 401 and a forged one 403 whatever the size; a valid one gets 413 past the limit', async () => {
    const g = guard()
    const mw = requireSignature(g, { maxBodyBytes: 1024 })
    let reached = 0
    const base = await listen(
      createServer((req, res) =>
        mw(req, res, () => {
          reached++
          res.end('ok')
        }),
      ),
    )
    const big = Buffer.alloc(2 * 1024 * 1024, 'a')
    const none = await fetch(`${base}/x`, { method: 'POST', body: big })
    expect([none.status, await none.json()]).toEqual([
      401,
      { error: 'missing credential', code: 'GUARD_MALFORMED' },
    ])
    const token = await g.signOutbound({}, big)
    const forged = `${token.slice(0, token.lastIndexOf('.'))}.${'A'.repeat(86)}`
    const refused = await fetch(`${base}/x`, {
      method: 'POST',
      headers: { 'x-capiscio-badge': forged },
      body: big,
    })
    expect(refused.status).toBe(403)
    expect(((await refused.json()) as { code: string }).code).toBe('GUARD_SIGNATURE_INVALID')
    const large = await fetch(`${base}/x`, {
      method: 'POST',
      headers: { 'x-capiscio-badge': token },
      body: big,
    })
    expect([large.status, await large.json()]).toEqual([
      413,
      { error: 'request body too large', code: 'FILE_TOO_LARGE' },
    ])
    expect(reached).toBe(0)
  })

  it('a corrupt trust store is a 500 that tells the client nothing of it; onError gets the detail', async () => {
    const g = guard()
    const token = await g.signOutbound({}, 'b')
    writeFileSync(join(g.trustDir, 'issuers.json'), '{not json')
    const errors: unknown[] = []
    const mw = requireSignature(g, { onError: (err) => errors.push(err) })
    const base = await listen(createServer((req, res) => mw(req, res, () => res.end('ok'))))
    const res = await fetch(`${base}/x`, {
      method: 'POST',
      headers: { 'x-capiscio-badge': token },
      body: 'b',
    })
    expect(res.status).toBe(500)
    const text = await res.text()
    expect(JSON.parse(text)).toEqual({ error: 'internal error', code: 'INTERNAL_ERROR' })
    expect(text).not.toContain('issuers.json')
    expect(errors).toEqual([expect.objectContaining({ code: 'TRUST_STORE_INVALID' })])
  })

  it('a handler that throws or rejects is a 500 without its message, and the server lives on', async () => {
    const g = guard()
    const errors: unknown[] = []
    const mw = requireSignature(g, { onError: (err) => errors.push(err) })
    const base = await listen(
      createServer((req, res) =>
        mw(req, res, async () => {
          if (req.url === '/sync') throw new Error('cannot open /srv/agent/db.sqlite')
          await new Promise((r) => setImmediate(r))
          if (req.url === '/async') throw new Error('cannot open /srv/agent/db.sqlite')
          res.end('ok')
        }),
      ),
    )
    for (const path of ['/sync', '/async', '/ok']) {
      const res = await fetch(`${base}${path}`, { headers: { 'x-capiscio-badge': await g.signOutbound({}) } })
      const text = await res.text()
      expect([path, res.status, text]).toEqual(
        path === '/ok'
          ? [path, 200, 'ok']
          : [path, 500, JSON.stringify({ error: 'internal error', code: 'INTERNAL_ERROR' })],
      )
    }
    expect(errors).toHaveLength(2)
  })

  it("under Express, a handler error reaches the app's error handler (next(err)), sync or async", async () => {
    const g = guard()
    const app = express()
    app.use(requireSignature(g))
    app.get('/sync', () => {
      throw new Error('sync')
    })
    app.get('/async', async () => {
      await new Promise((r) => setImmediate(r))
      throw new Error('async')
    })
    app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(599).json({ seen: err.message })
    })
    const base = await listen(createServer(app))
    for (const path of ['sync', 'async']) {
      const res = await fetch(`${base}/${path}`, {
        headers: { 'x-capiscio-badge': await g.signOutbound({}) },
      })
      expect([res.status, await res.json()]).toEqual([599, { seen: path }])
    }
  })
})

describe('signResponse and guardedFetch', () => {
  it("signs answers sent with writeHead (status, reason and headers kept), and cardHandler's card: 200, 304 and HEAD", async () => {
    const g = guard()
    const sign = signResponse(g)
    const card = cardHandler({ name: 'agent' })
    const base = await listen(
      createServer((req, res) =>
        sign(req, res, () => {
          if (req.url!.startsWith('/.well-known/')) return card(req, res)
          res.writeHead(201, 'Made', [
            ['content-type', 'application/json'],
            ['x-extra', 'yes'],
          ])
          res.end('{"made":true}')
        }),
      ),
    )
    const call = guardedFetch(g, { verifyResponse: true })
    const made = await call(`${base}/x`, { method: 'POST', body: '{}' })
    expect([made.status, made.statusText, made.headers.get('x-extra'), await made.json()]).toEqual([
      201,
      'Made',
      'yes',
      { made: true },
    ])
    const url = `${base}/.well-known/agent-card.json`
    const first = await call(url)
    expect([first.status, await first.json()]).toEqual([200, { name: 'agent' }])
    const again = await call(url, { headers: { 'if-none-match': first.headers.get('etag')! } })
    expect([again.status, again.body]).toEqual([304, null])
    const head = await call(url, { method: 'HEAD' })
    expect([head.status, head.headers.get('content-length')]).toEqual([200, '16'])
  })

  it('guardedFetch with verifyResponse returns a signed 204 as a Response without a body', async () => {
    const g = guard()
    const sign = signResponse(g)
    const base = await listen(
      createServer((req, res) =>
        sign(req, res, () => {
          res.statusCode = 204
          res.end()
        }),
      ),
    )
    const none = await guardedFetch(g, { verifyResponse: true })(`${base}/x`, { method: 'POST', body: '{}' })
    expect([none.status, none.body, none.headers.has('content-length')]).toEqual([204, null, false])
  })

  it('guardedFetch with verifyResponse keeps the response URL and redirected flag of a followed redirect', async () => {
    const g = guard()
    const sign = signResponse(g)
    const base = await listen(
      createServer((req, res) => {
        if (req.url === '/old') {
          res.writeHead(307, { location: '/new' })
          res.end()
        } else sign(req, res, () => res.end('moved here'))
      }),
    )
    const res = await guardedFetch(g, { verifyResponse: true })(`${base}/old`)
    expect([res.status, await res.text(), res.url, res.redirected]).toEqual([
      200,
      'moved here',
      `${base}/new`,
      true,
    ])
    const direct = await guardedFetch(g, { verifyResponse: true })(`${base}/new`)
    expect([direct.url, direct.redirected]).toEqual([`${base}/new`, false])
  })

  it('an answer whose head left before signResponse held it is cut off, never sent unsigned', async () => {
    const g = guard()
    const sign = signResponse(g)
    const base = await listen(
      createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.flushHeaders()
        sign(req, res, () => res.end('unsigned'))
      }),
    )
    const res = await fetch(base)
    expect(res.headers.get(SIGNATURE_HEADER)).toBeNull()
    await expect(res.text()).rejects.toThrow()
  })

  it("guardedFetch signs a Request's own body and keeps its method and headers", async () => {
    const g = guard()
    const mw = requireSignature(g)
    const base = await listen(
      createServer((req, res) =>
        mw(req, res, () =>
          res.end(
            JSON.stringify({
              method: req.method,
              custom: req.headers['x-custom'],
              body: (req as { rawBody?: Buffer }).rawBody?.toString(),
            }),
          ),
        ),
      ),
    )
    const res = await guardedFetch(g)(
      new Request(`${base}/x`, { method: 'PUT', headers: { 'x-custom': 'kept' }, body: RPC }),
    )
    expect([res.status, await res.json()]).toEqual([200, { method: 'PUT', custom: 'kept', body: RPC }])
  })
})
