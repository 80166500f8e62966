import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

import { afterEach, afterAll, describe, expect, it } from '@jest/globals'
import express from 'express'

import { getIdentity } from '../../../src/lib/auth/context.js'
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
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32001 }, id: 7 })
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
  })
})
