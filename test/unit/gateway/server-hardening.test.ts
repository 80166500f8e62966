import { readFileSync } from 'node:fs'
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http'
import { connect, type Socket } from 'node:net'

import { afterEach, describe, expect, it } from '@jest/globals'

import { issueBadge } from '../../../src/lib/badge/issue.js'
import { CapiscioError } from '../../../src/lib/errors.js'
import { createBadgeVerifier } from '../../../src/lib/gateway/badge-verifier.js'
import { RedisReplayStore } from '../../../src/lib/gateway/replay-redis.js'
import { createGateway, type Gateway, type GatewayOptions } from '../../../src/lib/gateway/server.js'
import { listenAddress } from '../../../src/lib/gateway/start.js'
import type { GatewayVerifier, RequestLogEntry } from '../../../src/lib/gateway/types.js'
import { StaticKeySource } from '../../../src/lib/keysource/static.js'
import { edKey } from '../../helpers/badges.js'
import { startRedis, stopAll } from '../../helpers/processes.js'
import { echoAgent, freePort, type Upstream } from '../../helpers/servers.js'
import { tmpDir } from '../../helpers/tmp.js'
import { selfSignedCert } from '../../helpers/tls.js'
import { gatewayWithAgent } from '../../helpers/gateway.js'

const client = edKey()
const keys = new StaticKeySource([{ publicKey: client.publicKey, kid: client.did }])
const SUB = 'did:capiscio:agent:client'
const badge = async () =>
  (await issueBadge({ privateKey: client.privateKey, sub: SUB, domain: 'client.example.com' })).token
const bearer = (t: string) => ({ authorization: `Bearer ${t}` })

const open: { close(): Promise<void> }[] = []
const sockets: Socket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  await Promise.all(open.splice(0).map((s) => s.close()))
  await stopAll()
})

async function setup(
  overrides: Partial<GatewayOptions> = {},
  handler = echoAgent,
): Promise<{ gw: Gateway; up: Upstream; logs: RequestLogEntry[] }> {
  const started = await gatewayWithAgent(createBadgeVerifier({ keys }), overrides, handler)
  open.push(started.gw, started.up)
  return started
}

/** Sends raw bytes and collects everything the gateway answers until it closes the connection. */
function raw(url: string, text: string): Promise<string> {
  const { port } = new URL(url)
  return new Promise((resolve) => {
    let data = ''
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text))
    sockets.push(socket)
    socket.on('data', (d) => (data += d))
    socket.on('error', () => undefined)
    socket.on('close', () => resolve(data))
  })
}

/** Resolves when `n` log entries have arrived (a response's log line is written when it closes). */
async function logged(logs: RequestLogEntry[], n: number): Promise<RequestLogEntry[]> {
  while (logs.length < n) await new Promise((r) => setImmediate(r))
  return logs
}

/** A verifier that admits every credential as the given identity (for replay-store tests). */
const admitAll = (exp: number): GatewayVerifier => ({
  verify: async () => ({ subject: SUB, issuer: 'did:web:i.example.com', trustLevel: '1', jti: 'j-far', exp }),
})

describe('gateway: request targets (item 6)', () => {
  it.each([
    'GET http://evil.example.com/admin HTTP/1.1',
    'GET /../admin HTTP/1.1',
    'GET /%2e%2e/admin HTTP/1.1',
    'GET /a/%2E%2e/..%2F../admin HTTP/1.1',
  ])('refuses %s with 400 and forwards nothing', async (line) => {
    const { gw, up, logs } = await setup()
    const answer = await raw(
      gw.url,
      `${line}\r\nHost: x\r\nAuthorization: Bearer ${await badge()}\r\nConnection: close\r\n\r\n`,
    )
    expect(answer).toMatch(/^HTTP\/1\.1 400 /)
    expect(answer).toContain('{"error":"bad request target"}')
    expect(up.seen).toHaveLength(0)
    expect((await logged(logs, 1))[0]).toMatchObject({ status: 400, reason: 'bad request target' })
  })

  it('refuses dot-segments that climb out of the target path prefix, and forwards ones that stay inside', async () => {
    const { gw, up } = await setup({}, echoAgent)
    await gw.close()
    open.length = 0
    open.push(up)
    const prefixed = await createGateway({
      target: `${up.url}/agent`,
      verifier: createBadgeVerifier({ keys }),
    })
    open.push(prefixed)
    const token = await badge()
    const escape = await raw(
      prefixed.url,
      `GET /x/../../admin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
    )
    expect(escape).toMatch(/^HTTP\/1\.1 400 /)
    expect(up.seen).toHaveLength(0)
    const inside = await raw(
      prefixed.url,
      `GET /x/../y HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
    )
    expect(inside).toMatch(/^HTTP\/1\.1 200 /)
    expect(inside).toContain('"path":"/agent/x/../y"')
  })
})

describe('gateway: /ready says little (item 4)', () => {
  it('gives a short reason without internals; the detail goes to the log', async () => {
    const verifier: GatewayVerifier = {
      verify: async () => {
        throw new CapiscioError('BADGE_ISSUER_UNTRUSTED', 'no keys')
      },
      ready: () => false,
      notReadyReason: () => 'registry https://user:pass@registry.example.com/jwks?api_key=k1: ECONNREFUSED',
    }
    const { gw, logs } = await setup({ verifier })
    const res = await fetch(`${gw.url}/ready`)
    expect([res.status, await res.json()]).toEqual([
      503,
      { status: 'not ready', reason: 'key source not loaded' },
    ])
    expect((await logged(logs, 1))[0]!.reason).toContain('ECONNREFUSED')
  })

  it('does not show the Redis client text', async () => {
    const replay = {
      claim: async () => true,
      ready: () => false,
      notReadyReason: () => 'redis connecting: connect ECONNREFUSED 10.0.0.7:6379',
    }
    const { gw } = await setup({ replay })
    const res = await fetch(`${gw.url}/ready`)
    expect([res.status, await res.json()]).toEqual([
      503,
      { status: 'not ready', reason: 'replay store unavailable' },
    ])
  })
})

describe('gateway: server limits (item 12)', () => {
  it('lets a 16,000-character badge through the header limit (403 for a bogus one, never 431)', async () => {
    const { gw } = await setup()
    const big = 'a'.repeat(7990) + '.' + 'b'.repeat(8009)
    expect(big).toHaveLength(16_000)
    const res = await fetch(`${gw.url}/x`, { headers: { 'x-capiscio-badge': big, ...bearer(big) } })
    expect(res.status).toBe(403)
  })

  it('closes slowloris connections that never finish their headers within headersTimeout', async () => {
    const { gw, up } = await setup({ headersTimeoutMs: 300 })
    const { port } = new URL(gw.url)
    const closed: Promise<void>[] = []
    const timers: NodeJS.Timeout[] = []
    for (let i = 0; i < 50; i++) {
      const socket = connect(Number(port), '127.0.0.1')
      sockets.push(socket)
      socket.on('error', () => undefined)
      closed.push(new Promise((resolve) => socket.on('close', () => resolve())))
      socket.write('GET /x HTTP/1.1\r\nHost: x\r\n')
      // One header line every 100 ms, forever: each keeps the connection busy but never completes.
      let n = 0
      timers.push(setInterval(() => socket.writable && socket.write(`X-Slow-${n++}: 1\r\n`), 100))
    }
    let count = 0
    for (const c of closed) void c.then(() => count++)
    // 50 connections closed by the gateway; without a header timeout they stay open for a minute.
    await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, 5000))])
    for (const t of timers) clearInterval(t)
    expect(count).toBe(50)
    expect(up.seen).toHaveLength(0)
    expect((await fetch(`${gw.url}/health`)).status).toBe(200)
  })

  it('caps the number of connections', async () => {
    const { gw } = await setup({ maxConnections: 3 })
    const { port } = new URL(gw.url)
    const agent = new Agent({ keepAlive: true, maxSockets: 3 })
    // Three keep-alive connections, each answered and left open.
    await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<void>((resolve, reject) =>
            httpRequest(`${gw.url}/health`, { agent }, (res) => res.resume().on('end', resolve))
              .on('error', reject)
              .end(),
          ),
      ),
    )
    // The fourth is closed without an answer.
    const fourth = await raw(`http://127.0.0.1:${port}`, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n')
    expect(fourth).toBe('')
    agent.destroy()
    expect(gw.server.maxConnections).toBe(3)
  })

  it('answers a badge whose exp overflows Redis EXAT with 403 BADGE_CLAIMS_INVALID, not "Redis unreachable"', async () => {
    const port = await freePort()
    const redis = startRedis(port)
    const store = new RedisReplayStore(`redis://127.0.0.1:${port}`)
    await store.waitReady(5000).catch(async () => {
      await new Promise((r) => setTimeout(r, 500))
      await store.waitReady(5000)
    })
    await expect(store.claim('j-far', 1e16)).rejects.toMatchObject({ code: 'BADGE_CLAIMS_INVALID' })
    const { gw } = await setup({ verifier: admitAll(1e16), replay: store })
    const res = await fetch(`${gw.url}/x`, { headers: bearer('anything') })
    expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([403, 'BADGE_CLAIMS_INVALID'])
    expect(store.ready()).toBe(true)
    await redis.stop()
  })
})

describe('gateway: honest status for requests that got no full answer (item 9)', () => {
  it('logs and counts 499 when the client goes away before the answer', async () => {
    let arrived!: () => void
    const atAgent = new Promise<void>((r) => (arrived = r))
    const { gw, logs } = await setup({}, () => arrived())
    const req = httpRequest(`${gw.url}/slow`, { headers: bearer(await badge()) })
    req.on('error', () => undefined).end()
    await atAgent
    req.destroy()
    const [entry] = await logged(logs, 1)
    expect(entry).toMatchObject({ status: 499, reason: 'client closed the connection' })
    expect(await gw.metrics.text()).toContain('capiscio_gateway_requests_total{code="499",method="GET"} 1')
    expect(await gw.metrics.text()).not.toContain('code="200"')
  })

  it('logs 499 when the client goes away mid-response', async () => {
    const { gw, logs } = await setup({}, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('first part')
    })
    const token = await badge()
    const streaming = await new Promise<IncomingMessage>((resolve, reject) =>
      httpRequest(`${gw.url}/stream`, { headers: bearer(token) }, resolve)
        .on('error', reject)
        .end(),
    )
    await new Promise((r) => streaming.once('data', r))
    streaming.destroy()
    const [entry] = await logged(logs, 1)
    expect(entry).toMatchObject({ status: 499, reason: 'client closed the connection' })
  })

  it('logs 400 when a chunked request body breaks mid-way', async () => {
    let arrived!: () => void
    const atAgent = new Promise<void>((r) => (arrived = r))
    const { gw, logs } = await setup({}, (req) => {
      arrived()
      req.resume()
    })
    const { port } = new URL(gw.url)
    const socket = connect(Number(port), '127.0.0.1')
    sockets.push(socket)
    socket.on('error', () => undefined)
    socket.write(
      `POST /up HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${await badge()}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`,
    )
    await atAgent
    socket.write('zz-not-a-chunk-size\r\n')
    const [entry] = await logged(logs, 1)
    expect(entry!.status).toBe(400)
    expect(entry!.reason).toMatch(/request body/)
  })
})

describe('gateway: drain (item 8)', () => {
  it('answers a request arriving on an idle keep-alive connection during the grace period, with Connection: close', async () => {
    const { gw, logs } = await setup({ drainGraceMs: 1000 })
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const get = () =>
      new Promise<IncomingMessage>((resolve, reject) =>
        httpRequest(`${gw.url}/health`, { agent }, (res) => {
          res.resume()
          res.on('end', () => resolve(res))
        })
          .on('error', reject)
          .end(),
      )
    const first = await get()
    expect(first.headers.connection).toBe('keep-alive')
    const closing = gw.close()
    await new Promise((r) => setTimeout(r, 100))
    const second = await get()
    expect([second.statusCode, second.headers.connection]).toEqual([200, 'close'])
    await closing
    expect(logs.map((l) => l.status)).toEqual([200, 200])
    agent.destroy()
  })

  it('answers /ready 503 "draining" once the drain began, on a connection kept alive across it', async () => {
    const { gw } = await setup({ drainGraceMs: 1000 })
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const ready = () =>
      new Promise<[number, string]>((resolve, reject) =>
        httpRequest(`${gw.url}/ready`, { agent }, (res) => {
          let text = ''
          res.on('data', (d) => (text += d)).on('end', () => resolve([res.statusCode!, text]))
        })
          .on('error', reject)
          .end(),
      )
    expect(await ready()).toEqual([200, '{"status":"ready"}'])
    const closing = gw.close()
    expect(await ready()).toEqual([503, '{"status":"not ready","reason":"draining"}'])
    await closing
    agent.destroy()
  })

  it('sends Connection: close on a response in flight at the signal, and waits for it', async () => {
    let release!: () => void
    const { gw } = await setup({}, (_req, res) => {
      release = () => res.end('done')
    })
    const agent = new Agent({ keepAlive: true })
    const token = await badge()
    const inFlight = new Promise<[IncomingMessage, string]>((resolve, reject) =>
      httpRequest(`${gw.url}/slow`, { agent, headers: bearer(token) }, (res) => {
        let text = ''
        res.on('data', (d) => (text += d)).on('end', () => resolve([res, text]))
      })
        .on('error', reject)
        .end(),
    )
    while (!release) await new Promise((r) => setTimeout(r, 10))
    const closing = gw.close()
    release()
    const [res, text] = await inFlight
    expect([res.statusCode, res.headers.connection, text]).toEqual([200, 'close', 'done'])
    await closing
    agent.destroy()
  })

  it('cuts what is left at the drain deadline and logs it as 503, not 200', async () => {
    const { gw, logs } = await setup({ drainTimeoutMs: 200 }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: one\n\n')
    })
    const res = await fetch(`${gw.url}/events`, { headers: bearer(await badge()) })
    expect(res.status).toBe(200)
    await gw.close()
    await expect(res.text()).rejects.toThrow()
    const [entry] = await logged(logs, 1)
    expect(entry).toMatchObject({ status: 503, reason: 'cut at the drain deadline' })
  })
})

describe('gateway start: the start-up line (item 18)', () => {
  it('keeps :80 and :443', () => {
    expect(listenAddress('http', '0.0.0.0', 80)).toBe('http://0.0.0.0:80')
    expect(listenAddress('https', '::', 443)).toBe('https://[::]:443')
  })
})

describe('the drain with TLS', () => {
  it('closes a connection still in its TLS handshake after the grace period, not at the drain deadline', async () => {
    const dir = tmpDir()
    const { key, cert } = selfSignedCert(dir)
    const { gw, logs } = await setup({
      tls: { key: readFileSync(key), cert: readFileSync(cert) },
      drainGraceMs: 50,
      drainTimeoutMs: 60_000,
    })
    // A client that connects and never says hello.
    const socket = connect(Number(new URL(gw.url).port), '127.0.0.1')
    sockets.push(socket)
    await new Promise((resolve) => socket.once('connect', resolve))
    const closedBySocket = new Promise<boolean>((resolve) => socket.once('close', () => resolve(true)))
    const deadline = new Promise<boolean>((resolve) => setTimeout(resolve, 10_000, false).unref())
    const closing = gw.close()
    // Closed by the grace period: well before the 60 s drain deadline (10 s is a generous bound).
    expect(await Promise.race([closedBySocket, deadline])).toBe(true)
    await closing
    expect(logs.filter((l) => l.reason === 'cut at the drain deadline')).toEqual([])
  })
})

describe('createGateway when it cannot listen', () => {
  it('a port another process holds is NETWORK_ERROR with a hint about the port, not about URLs', async () => {
    const first = await createGateway({
      target: 'http://127.0.0.1:9',
      verifier: createBadgeVerifier({ keys }),
    })
    try {
      const port = Number(new URL(first.url).port)
      const second = createGateway({
        port,
        target: 'http://127.0.0.1:9',
        verifier: createBadgeVerifier({ keys }),
      })
      await expect(second).rejects.toMatchObject({
        code: 'NETWORK_ERROR',
        message: `cannot listen on 127.0.0.1:${port} (EADDRINUSE)`,
        hint: 'another process is listening there: stop it, or choose another port',
        options: ['host', 'port'],
      })
    } finally {
      await first.close()
    }
  })
})

describe('gateway: request bodies the target has not taken', () => {
  it('forwards a body sent with Expect: 100-continue (as curl sends large uploads): the client gets 100 Continue here, the target the body', async () => {
    const { gw, up } = await setup({}, echoAgent)
    const token = await badge()
    const answer = await raw(
      gw.url,
      `POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nExpect: 100-continue\r\n` +
        'Content-Length: 5\r\nConnection: close\r\n\r\nhello',
    )
    expect(answer).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /)
    const echoed = JSON.parse(answer.slice(answer.indexOf('{'), answer.lastIndexOf('}') + 1)) as {
      size: number
      headers: Record<string, string>
    }
    expect(echoed.size).toBe(5)
    expect(echoed.headers).not.toHaveProperty('expect')
    expect(up.seen).toHaveLength(1)
  })

  it('closes the connection after a 502 that left the body unread, instead of leaving it open until drain', async () => {
    const dead = await freePort()
    const gw = await createGateway({
      target: `http://127.0.0.1:${dead}`,
      verifier: createBadgeVerifier({ keys }),
    })
    open.push(gw)
    const token = await badge()
    // Keep-alive, and only the first bytes of a 100 kB body: the gateway must end the connection.
    const answer = await raw(
      gw.url,
      `POST /x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: 100000\r\n\r\n${'a'.repeat(1000)}`,
    )
    expect(answer).toMatch(/^HTTP\/1\.1 502 /)
    expect(answer.toLowerCase()).toContain('connection: close')
  })
})

describe('gateway: a client that leaves mid-way is logged and counted 499, not as a broken body', () => {
  it('a download the client resets (a curl -m that ran out)', async () => {
    const { gw, logs } = await setup({}, (req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      const chunk = Buffer.alloc(64 * 1024, 97)
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
      }
      res.on('drain', pump)
      req.on('close', () => res.destroy())
      pump()
    })
    const token = await badge()
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${gw.url}/huge`, { headers: bearer(token) }, (res) => {
        // Unread data in the receive buffer: closing now resets the connection.
        res.once('data', () => setImmediate(() => (req.destroy(), resolve())))
      })
      req.on('error', () => undefined)
      req.end()
    })
    expect((await logged(logs, 1))[0]).toMatchObject({
      status: 499,
      method: 'GET',
      reason: 'client closed the connection',
    })
    const metrics = await (await fetch(`${gw.url}/metrics`)).text()
    expect(metrics).toMatch(/capiscio_gateway_requests_total\{code="499",method="GET"\} 1/)
    expect(metrics).not.toMatch(/code="400"/)
  })

  it('an upload the client gives up on part-way (its side closed before the declared length)', async () => {
    const { gw, logs } = await setup()
    const { port } = new URL(gw.url)
    const socket = connect(Number(port), '127.0.0.1')
    sockets.push(socket)
    socket.on('error', () => undefined)
    socket.write(
      `POST /x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${await badge()}\r\nContent-Length: 100000\r\n\r\n${'a'.repeat(1000)}`,
    )
    socket.end()
    const entry = (await logged(logs, 1))[0]
    expect(entry).toMatchObject({ status: 499, reason: 'client closed the connection' })
  })
})

describe('gateway: requests the HTTP parser refuses', () => {
  it('are answered in JSON, and logged and counted once each like every request', async () => {
    const { gw, logs } = await setup()
    const both = await raw(
      gw.url,
      'POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n',
    )
    expect(both).toMatch(/^HTTP\/1\.1 400 [^]*\r\n\r\n\{"error":/)
    const huge = await raw(gw.url, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`)
    expect(huge).toMatch(/^HTTP\/1\.1 431 /)
    expect(await logged(logs, 2)).toEqual([
      expect.objectContaining({
        status: 400,
        method: '-',
        path: '-',
        reason: expect.stringMatching(/^malformed request \(HPE_/),
      }),
      expect.objectContaining({ status: 431, reason: 'request headers too large' }),
    ])
    const metrics = await (await fetch(`${gw.url}/metrics`)).text()
    expect(metrics).toMatch(/capiscio_gateway_requests_total\{code="400",method="-"\} 1/)
    expect(metrics).toMatch(/capiscio_gateway_requests_total\{code="431",method="-"\} 1/)
  })
})

describe('gateway: requests it does not serve', () => {
  it('answers an HTTP/1.1 request without Host 400 in JSON, forwards nothing, and logs and counts it; HTTP/1.0 needs none', async () => {
    const { gw, up, logs } = await setup()
    const token = await badge()
    const answer = await raw(
      gw.url,
      `GET /x HTTP/1.1\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
    )
    expect(answer).toMatch(/^HTTP\/1\.1 400 [^]*\r\n\r\n\{"error":"missing host header"\}$/)
    expect(up.seen).toHaveLength(0)
    expect((await logged(logs, 1))[0]).toMatchObject({
      status: 400,
      method: 'GET',
      reason: 'missing host header',
    })
    const old = await raw(gw.url, `GET /x HTTP/1.0\r\nAuthorization: Bearer ${token}\r\n\r\n`)
    expect(old).toMatch(/^HTTP\/1\.1 200 /)
    expect(up.seen).toHaveLength(1)
    const metrics = await (await fetch(`${gw.url}/metrics`)).text()
    expect(metrics).toMatch(/capiscio_gateway_requests_total\{code="400",method="GET"\} 1/)
    expect(metrics).toMatch(
      /capiscio_gateway_auth_total\{result="denied",reason="missing_host_header",credential="none"\} 1/,
    )
  })

  it('answers CONNECT 501 and closes, tunnelling nothing; the request is logged and counted', async () => {
    const { gw, up, logs } = await setup()
    const answer = await raw(gw.url, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n')
    expect(answer).toMatch(
      /^HTTP\/1\.1 501 Not Implemented\r\n[^]*connection: close\r\n\r\n\{"error":"method not supported"\}$/,
    )
    expect(up.seen).toHaveLength(0)
    expect((await logged(logs, 1))[0]).toMatchObject({
      status: 501,
      method: 'CONNECT',
      path: 'example.com:443',
      reason: 'CONNECT is not supported',
    })
    const metrics = await (await fetch(`${gw.url}/metrics`)).text()
    expect(metrics).toMatch(/capiscio_gateway_requests_total\{code="501",method="CONNECT"\} 1/)
  })
})

describe('gateway: Host (RFC 9112 §3.2)', () => {
  const request = (host: string, token: string) =>
    `GET /x HTTP/1.1\r\n${host}Authorization: Bearer ${token}\r\nConnection: close\r\n\r\n`

  it.each([
    ['two Host lines', 'Host: evil.example.com\r\nHost: x\r\n', 'more than one host header'],
    ['a path and query', 'Host: evil.example.com/x?y\r\n', 'invalid host header'],
    ['userinfo', 'Host: user@evil.example.com\r\n', 'invalid host header'],
    ['a space', 'Host: a b\r\n', 'invalid host header'],
    ['an unclosed IPv6 literal', 'Host: [::1\r\n', 'invalid host header'],
    ['a non-numeric port', 'Host: x:http\r\n', 'invalid host header'],
    ['a port of six digits', 'Host: x:123456\r\n', 'invalid host header'],
    ['a port without a host', 'Host: :80\r\n', 'invalid host header'],
  ])(
    'refuses %s with 400 and forwards nothing, so no agent builds URLs from it',
    async (_what, host, reason) => {
      const { gw, up, logs } = await setup()
      const answer = await raw(gw.url, request(host, await badge()))
      expect(answer).toMatch(/^HTTP\/1\.1 400 [^]*\r\n\r\n\{"error":"bad host header"\}$/)
      expect(up.seen).toHaveLength(0)
      expect((await logged(logs, 1))[0]).toMatchObject({ status: 400, method: 'GET', reason })
    },
  )

  it.each([
    'Host: agent.example.com:8443\r\n',
    'Host: AGENT.Example.COM.\r\n',
    'Host: [::1]:8080\r\n',
    'Host: [fe80::1%25eth0]:8080\r\n',
    'Host: 127.0.0.1\r\n',
    'Host: x%41y\r\n',
  ])('forwards a valid %s', async (host) => {
    const { gw, up } = await setup()
    const answer = await raw(gw.url, request(host, await badge()))
    expect(answer).toMatch(/^HTTP\/1\.1 200 /)
    expect(up.seen[0]!['x-forwarded-host']).toBe(host.slice(6, -2))
  })
})

describe('gateway: a credential header sent twice', () => {
  it('two Authorization lines with different tokens are conflicting credentials (Node would keep the first)', async () => {
    const { gw, up, logs } = await setup()
    const answer = await raw(
      gw.url,
      `GET /x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${await badge()}\r\nAuthorization: Bearer ${await badge()}\r\n` +
        'Connection: close\r\n\r\n',
    )
    expect(answer).toMatch(/^HTTP\/1\.1 400 [^]*\{"error":"conflicting credentials"\}$/)
    expect(up.seen).toHaveLength(0)
    expect((await logged(logs, 1))[0]).toMatchObject({ status: 400, reason: 'conflicting credentials' })
  })

  it('the same badge in two X-Capiscio-Badge lines is one credential; two different ones conflict', async () => {
    const { gw, up } = await setup()
    const token = await badge()
    const twice = (a: string, b: string) =>
      raw(
        gw.url,
        `GET /x HTTP/1.1\r\nHost: x\r\nX-Capiscio-Badge: ${a}\r\nX-Capiscio-Badge: ${b}\r\nConnection: close\r\n\r\n`,
      )
    expect(await twice(token, token)).toMatch(/^HTTP\/1\.1 200 /)
    expect(up.seen).toHaveLength(1)
    expect(await twice(token, await badge())).toMatch(/^HTTP\/1\.1 400 [^]*"conflicting credentials"/)
    expect(up.seen).toHaveLength(1)
  })
})

describe('gateway: Expect', () => {
  /** Sends the head, then the body only once the gateway says 100 Continue (as curl does). */
  function expectContinue(url: string, head: string, body: string): Promise<string> {
    const { port } = new URL(url)
    return new Promise((resolve) => {
      let data = ''
      const socket = connect(Number(port), '127.0.0.1', () => socket.write(head))
      sockets.push(socket)
      socket.on('data', (d) => {
        data += d
        if (data === 'HTTP/1.1 100 Continue\r\n\r\n') socket.write(body)
      })
      socket.on('error', () => undefined)
      socket.on('close', () => resolve(data))
    })
  }
  const head = (auth: string) =>
    `POST /upload HTTP/1.1\r\nHost: x\r\n${auth}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n`

  it('sends 100 Continue only to an admitted request; the body then reaches the target', async () => {
    const { gw, up } = await setup()
    const answer = await expectContinue(
      gw.url,
      head(`Authorization: Bearer ${await badge()}\r\n`).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'),
      'hello',
    )
    expect(answer).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /)
    expect(answer).toContain('"size":5')
    expect(up.seen).toHaveLength(1)
  })

  it('keeps the connection alive after a 100 Continue and its answer: a second request on it is served', async () => {
    const { gw, up } = await setup()
    const token = await badge()
    const { port } = new URL(gw.url)
    const answers = await new Promise<string>((resolve) => {
      let data = ''
      let sent = 0
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.write(head(`Authorization: Bearer ${token}\r\n`)),
      )
      sockets.push(socket)
      socket.on('data', (d) => {
        data += d
        if (sent === 0 && data.endsWith('100 Continue\r\n\r\n')) {
          sent = 1
          socket.write('hello')
        } else if (sent === 1 && data.endsWith('\r\n0\r\n\r\n')) {
          // The first answer (chunked) is whole.
          sent = 2
          socket.write(
            `GET /second HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
          )
        }
      })
      socket.on('close', () => resolve(data))
    })
    expect(answers.match(/^HTTP\/1\.1 \d+/gm)).toEqual(['HTTP/1.1 100', 'HTTP/1.1 200', 'HTTP/1.1 200'])
    expect(up.seen).toHaveLength(2)
  })

  it.each([
    ['no credential', '', 401],
    ['a refused badge', 'Authorization: Bearer a.b.c\r\n', 403],
  ])(
    'answers a request with %s at once, without 100 Continue, and closes the connection (its body is never read)',
    async (_what, auth, status) => {
      const { gw, up } = await setup()
      // The connection closing is what ends this: a kept-alive one would wait for the body.
      const answer = await expectContinue(gw.url, head(auth), 'hello')
      expect(answer).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `))
      expect(answer).not.toContain('100 Continue')
      expect(answer.toLowerCase()).toContain('connection: close')
      expect(up.seen).toHaveLength(0)
    },
  )

  it('answers any other expectation 417 in JSON, closing, and logs and counts it', async () => {
    const { gw, up, logs } = await setup()
    const answer = await raw(
      gw.url,
      `POST /x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${await badge()}\r\nExpect: something-else\r\nContent-Length: 5\r\n\r\n`,
    )
    expect(answer).toMatch(
      /^HTTP\/1\.1 417 [^]*connection: close[^]*\r\n\r\n\{"error":"unsupported expectation"\}$/,
    )
    expect(up.seen).toHaveLength(0)
    expect((await logged(logs, 1))[0]).toMatchObject({ status: 417, reason: 'unsupported Expect header' })
    const metrics = await (await fetch(`${gw.url}/metrics`)).text()
    expect(metrics).toMatch(/capiscio_gateway_requests_total\{code="417",method="POST"\} 1/)
  })
})

describe('gateway: the TLS handshake', () => {
  it('is bounded by the header timeout: a client that never says hello is closed, not held for Node’s 120 s', async () => {
    const dir = tmpDir()
    const { key, cert } = selfSignedCert(dir)
    const { gw } = await setup({
      tls: { key: readFileSync(key), cert: readFileSync(cert) },
      headersTimeoutMs: 200,
    })
    const socket = connect(Number(new URL(gw.url).port), '127.0.0.1')
    sockets.push(socket)
    socket.on('error', () => undefined)
    const closed = new Promise<boolean>((resolve) => socket.once('close', () => resolve(true)))
    // Well inside Node's default of 120 s (10 s is a generous bound for a 200 ms limit).
    const bound = new Promise<boolean>((resolve) => setTimeout(resolve, 10_000, false).unref())
    expect(await Promise.race([closed, bound])).toBe(true)
  })
})
