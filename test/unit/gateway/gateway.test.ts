import { execFile } from 'node:child_process'
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

import { afterAll, afterEach, describe, expect, it } from '@jest/globals'

import { issueBadge } from '../../../src/lib/badge/issue.js'
import type { CapiscioError } from '../../../src/lib/errors.js'
import { publicJwkOf } from '../../../src/lib/keys/key.js'
import { createBadgeVerifier } from '../../../src/lib/gateway/badge-verifier.js'
import { loadCard } from '../../../src/lib/gateway/card.js'
import { MemoryReplayStore } from '../../../src/lib/gateway/replay.js'
import { createGateway, type Gateway, type GatewayOptions } from '../../../src/lib/gateway/server.js'
import type { RequestLogEntry } from '../../../src/lib/gateway/types.js'
import { RemoteJwksKeySource } from '../../../src/lib/keysource/jwks.js'
import { StaticKeySource } from '../../../src/lib/keysource/static.js'
import { TrustStoreKeySource } from '../../../src/lib/keysource/truststore.js'
import { TrustStore } from '../../../src/lib/store/truststore.js'
import { claims as claimsAt, edKey, signHmac, signRaw, unsigned } from '../../helpers/badges.js'
import { echoAgent, startUpstream, type Upstream } from '../../helpers/servers.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'
import { gatewayWithAgent } from '../../helpers/gateway.js'

const run = promisify(execFile)
const client = edKey()
const keys = new StaticKeySource([{ publicKey: client.publicKey, kid: client.did }])
const SUB = 'did:capiscio:agent:client'
const badge = async (o: { ttl?: number; privateKey?: typeof client.privateKey } = {}) =>
  (
    await issueBadge({
      privateKey: o.privateKey ?? client.privateKey,
      sub: SUB,
      domain: 'client.example.com',
      ttlSeconds: o.ttl,
    })
  ).token

const open: { close(): Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()))
})
afterAll(cleanupTmp)

async function setup(
  overrides: Partial<GatewayOptions> = {},
  handler = echoAgent,
): Promise<{ gw: Gateway; up: Upstream; logs: RequestLogEntry[] }> {
  // Idle keep-alive connections get no grace on close(): these tests do not drain under load.
  const started = await gatewayWithAgent(
    createBadgeVerifier({ keys }),
    { drainGraceMs: 0, ...overrides },
    handler,
  )
  open.push(started.gw, started.up)
  return started
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` })

describe('gateway: credentials', () => {
  it('forwards a request with a valid badge, adding the identity headers and dropping the credential', async () => {
    const { gw, up } = await setup()
    const token = await badge()
    const res = await fetch(`${gw.url}/api/task?x=1`, {
      method: 'POST',
      headers: bearer(token),
      body: '{"task":1}',
    })
    expect(res.status).toBe(200)
    const seen = (await res.json()) as { path: string; size: number; headers: Record<string, string> }
    expect(seen.path).toBe('/api/task?x=1')
    expect(seen.size).toBe(10)
    expect(seen.headers).toMatchObject({
      'x-capiscio-subject': SUB,
      'x-capiscio-issuer': client.did,
      'x-capiscio-trust-level': '1',
      'x-capiscio-badge-jti': expect.stringMatching(/^[0-9a-f-]{36}$/),
    })
    expect(seen.headers.authorization).toBeUndefined()
    expect(up.seen).toHaveLength(1)
  })

  it('forwards the credential only with forwardCredential', async () => {
    const { gw } = await setup({ forwardCredential: true })
    const token = await badge()
    const seen = (await (await fetch(`${gw.url}/x`, { headers: bearer(token) })).json()) as {
      headers: Record<string, string>
    }
    expect(seen.headers.authorization).toBe(`Bearer ${token}`)
  })

  it('accepts X-Capiscio-Badge and a case-insensitive bearer scheme', async () => {
    const { gw } = await setup()
    const token = await badge()
    expect((await fetch(`${gw.url}/x`, { headers: { 'x-capiscio-badge': token } })).status).toBe(200)
    expect((await fetch(`${gw.url}/x`, { headers: { authorization: `bEaReR ${token}` } })).status).toBe(200)
    expect(
      (await fetch(`${gw.url}/x`, { headers: { 'x-capiscio-badge': token, ...bearer(token) } })).status,
    ).toBe(200)
  })

  it('answers 401 with WWW-Authenticate when there is no credential, without calling the agent', async () => {
    const { gw, up } = await setup()
    const variants: Record<string, string>[] = [
      {},
      { authorization: 'Basic dXNlcjpwYXNz' },
      { authorization: 'Bearer' },
    ]
    for (const headers of variants) {
      const res = await fetch(`${gw.url}/api/task`, { method: 'POST', headers, body: '{}' })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
      expect(await res.json()).toEqual({ error: 'missing authorization header' })
    }
    expect(up.seen).toHaveLength(0)
  })

  it('answers 403 with a short reason and the code for invalid badges', async () => {
    const { gw, up } = await setup()
    const cases: [string, string, string][] = [
      ['invalid.token.here', 'invalid badge signature', 'BADGE_MALFORMED'],
      [await badge({ privateKey: edKey().privateKey }), 'untrusted badge issuer', 'BADGE_ISSUER_UNTRUSTED'],
    ]
    const other = await issueBadge({
      privateKey: edKey().privateKey,
      sub: SUB,
      iss: 'did:web:x.example.com',
      kid: client.did,
    })
    cases.push([other.token, 'invalid badge signature', 'BADGE_SIGNATURE_INVALID'])
    for (const [token, error, code] of cases) {
      const res = await fetch(`${gw.url}/api/task`, { headers: bearer(token) })
      expect([res.status, await res.json()]).toEqual([403, { error, code }])
    }
    expect(up.seen).toHaveLength(0)
  })

  it('refuses hostile badges (alg none, HMAC keyed with the public key, a traversal kid) with 403', async () => {
    const dir = tmpDir()
    const store = new TrustStore(join(dir, 'trusted'))
    await store.add(client.publicKey, client.did)
    const { gw, up } = await setup({
      verifier: createBadgeVerifier({ keys: new TrustStoreKeySource(store) }),
    })
    const now = Math.floor(Date.now() / 1000)
    const payload = claimsAt({ iss: client.did, iat: now, exp: now + 300 })
    const pem = client.publicKey.export({ type: 'spki', format: 'pem' }) as string
    const hostile: [string, string][] = [
      [unsigned({ alg: 'none', kid: client.did }, payload), 'BADGE_MALFORMED'],
      [signHmac({ alg: 'HS256', kid: client.did }, payload, pem), 'BADGE_MALFORMED'],
      [
        signRaw({ alg: 'EdDSA', kid: '../../../../etc/passwd' }, payload, edKey().privateKey),
        'BADGE_ISSUER_UNTRUSTED',
      ],
      [
        signRaw(
          { alg: 'EdDSA', kid: '../trusted/' + client.did },
          claimsAt({ iss: 'did:web:evil.example.com', iat: now, exp: now + 300 }),
          edKey().privateKey,
        ),
        'BADGE_ISSUER_UNTRUSTED',
      ],
    ]
    for (const [token, code] of hostile) {
      const res = await fetch(`${gw.url}/api/task`, { headers: bearer(token) })
      expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([403, code])
    }
    expect(up.seen).toHaveLength(0)
  })

  it('answers 400 for two different credentials', async () => {
    const { gw } = await setup()
    const res = await fetch(`${gw.url}/x`, {
      headers: { 'x-capiscio-badge': await badge(), ...bearer(await badge()) },
    })
    expect(res.status).toBe(400)
  })

  it('strips identity headers sent by the client and sets X-Forwarded-*, dropping hop-by-hop headers', async () => {
    const { gw } = await setup()
    const token = await badge()
    // node:http rather than fetch: fetch refuses to send a Connection header.
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${gw.url}/x`, {
        headers: {
          ...bearer(token),
          'x-capiscio-subject': 'did:web:admin',
          'x-capiscio-trust-level': '4',
          'x-capiscio-custom': 'forged',
          'x-forwarded-for': '203.0.113.7',
          connection: 'keep-alive, x-secret-hop',
          'x-secret-hop': 'drop me',
        },
      })
      req.on('response', (res) => {
        let text = ''
        res.on('data', (d) => (text += d))
        res.on('end', () => resolve(text))
      })
      req.on('error', reject).end()
    })
    const { headers } = JSON.parse(body) as { headers: Record<string, string> }
    expect(headers['x-capiscio-subject']).toBe(SUB)
    expect(headers['x-capiscio-trust-level']).toBe('1')
    expect(headers['x-capiscio-custom']).toBeUndefined()
    expect(headers['x-secret-hop']).toBeUndefined()
    // Without --trust-forwarded the client's own chain is dropped, not extended.
    expect(headers['x-forwarded-for']).toBe('127.0.0.1')
    expect(headers['x-forwarded-proto']).toBe('http')
    expect(headers['x-forwarded-host']).toBe(new URL(gw.url).host)
  })

  it('keeps X-Forwarded-Proto/Host from a proxy in front only with trustForwarded', async () => {
    const headers = {
      ...bearer(await badge()),
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'agent.example.com',
    }
    const plain = await setup()
    const seen = (await (await fetch(`${plain.gw.url}/x`, { headers })).json()) as {
      headers: Record<string, string>
    }
    expect([seen.headers['x-forwarded-proto'], seen.headers['x-forwarded-host']]).toEqual([
      'http',
      new URL(plain.gw.url).host,
    ])
    const trusting = await setup({ trustForwarded: true })
    const headers2 = { ...headers, ...bearer(await badge()) }
    const seen2 = (await (await fetch(`${trusting.gw.url}/x`, { headers: headers2 })).json()) as {
      headers: Record<string, string>
    }
    expect([seen2.headers['x-forwarded-proto'], seen2.headers['x-forwarded-host']]).toEqual([
      'https',
      'agent.example.com',
    ])
  })

  it('never writes the credential or the query string into the log', async () => {
    const { gw, logs } = await setup()
    const token = await badge()
    await fetch(`${gw.url}/api/task?api_key=secret`, { headers: bearer(token) })
    await fetch(`${gw.url}/api/task?api_key=secret`, { headers: bearer('invalid.token.here') })
    const text = JSON.stringify(logs)
    expect(logs.map((l) => [l.status, l.path])).toEqual([
      [200, '/api/task'],
      [403, '/api/task'],
    ])
    expect(text).not.toContain(token)
    expect(text).not.toContain('invalid.token.here')
    expect(text).not.toContain('secret')
  })

  it('refuses a 10 MB header with 431 and keeps serving', async () => {
    const { gw, up } = await setup()
    const { port } = new URL(gw.url)
    // A raw socket, so the answer can be read even though the gateway stops reading the header early.
    const answer = await new Promise<string>((resolve) => {
      let data = ''
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(
          `GET /x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'a'.repeat(10 * 1024 * 1024)}\r\n\r\n`,
        )
      })
      socket.on('data', (d) => (data += d))
      socket.on('error', () => undefined)
      socket.on('close', () => resolve(data))
    })
    expect(answer).toMatch(/^HTTP\/1\.1 431 /)
    expect(answer).toContain('{"error":"request headers too large"}')
    expect(up.seen).toHaveLength(0)
    expect((await fetch(`${gw.url}/health`)).status).toBe(200)
  })
})

describe('gateway: caching, revocation and replay', () => {
  it('caches verified badges, still honouring revocation', async () => {
    const dir = tmpDir()
    const store = new TrustStore(dir)
    await store.add(client.publicKey, client.did)
    const source = new TrustStoreKeySource(store, { cacheMs: 0 })
    const { gw } = await setup({
      verifier: createBadgeVerifier({
        keys: source,
        onCache: (r) => gw.metrics.verifyCache.inc({ result: r }),
      }),
    })
    const token = await badge()
    // Verified at its first and second use (the cache keeps a badge from its second), then a hit.
    for (let i = 0; i < 3; i++)
      expect((await fetch(`${gw.url}/x`, { headers: bearer(token) })).status).toBe(200)
    const metrics = await gw.metrics.text()
    expect(metrics).toContain('capiscio_gateway_verify_cache_total{result="hit"} 1')
    expect(metrics).toContain('capiscio_gateway_verify_cache_total{result="miss"} 2')
    const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti
    writeFileSync(join(dir, 'revoked.json'), JSON.stringify([jti]))
    const res = await fetch(`${gw.url}/x`, { headers: bearer(token) })
    expect([res.status, await res.json()]).toEqual([403, { error: 'badge revoked', code: 'BADGE_REVOKED' }])
  })

  it('with replay protection accepts each badge once', async () => {
    const { gw } = await setup({ replay: new MemoryReplayStore() })
    const token = await badge()
    expect((await fetch(`${gw.url}/x`, { headers: bearer(token) })).status).toBe(200)
    const again = await fetch(`${gw.url}/x`, { headers: bearer(token) })
    expect([again.status, await again.json()]).toEqual([
      403,
      { error: 'badge already used', code: 'BADGE_REPLAYED' },
    ])
    expect((await fetch(`${gw.url}/x`, { headers: bearer(await badge()) })).status).toBe(200)
  })
})

describe('gateway: upstream behaviour', () => {
  it('answers 502 when the agent is down', async () => {
    const { gw, up } = await setup()
    await up.close()
    const res = await fetch(`${gw.url}/api/task`, { headers: bearer(await badge()) })
    expect([res.status, await res.json()]).toEqual([502, { error: 'upstream unavailable' }])
  })

  it('answers 504 when the agent is too slow', async () => {
    const { gw } = await setup({ upstreamTimeoutMs: 200 }, (_req, res) =>
      setTimeout(() => res.end('late'), 1500),
    )
    const res = await fetch(`${gw.url}/slow`, { headers: bearer(await badge()) })
    expect([res.status, await res.json()]).toEqual([504, { error: 'upstream timeout' }])
  })

  it('cuts the client off when the agent dies mid-response, and keeps serving', async () => {
    const { gw } = await setup({}, (req, res) => {
      if (req.url === '/die') {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.write('partial')
        setTimeout(() => res.socket?.destroy(), 50)
      } else res.end('fine')
    })
    const token = await badge()
    const res = await fetch(`${gw.url}/die`, { headers: bearer(token) })
    expect(res.status).toBe(200)
    await expect(res.text()).rejects.toThrow()
    expect(await (await fetch(`${gw.url}/ok`, { headers: bearer(token) })).text()).toBe('fine')
  })

  it('streams server-sent events to the client as they are sent', async () => {
    let secondWrittenAt = 0
    const { gw } = await setup({}, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      res.write('data: one\n\n')
      setTimeout(() => {
        secondWrittenAt = Date.now()
        res.write('data: two\n\n')
      }, 400)
      setTimeout(() => res.end('data: three\n\n'), 800)
    })
    const res = await fetch(`${gw.url}/events`, { headers: bearer(await badge()) })
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const reader = res.body!.getReader()
    const arrivals: [string, number][] = []
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      arrivals.push([Buffer.from(value).toString(), Date.now()])
    }
    expect(arrivals.map(([t]) => t).join('')).toBe('data: one\n\ndata: two\n\ndata: three\n\n')
    // Event by event: the first event reached the client before the agent had even written the second.
    expect(arrivals[0]![0]).toBe('data: one\n\n')
    expect(arrivals[0]![1]).toBeLessThan(secondWrittenAt)
    expect(arrivals.length).toBeGreaterThanOrEqual(3)
  })

  it('answers 413 for a declared body over the limit, and for a chunked one that grows past it', async () => {
    const { gw, up } = await setup({ maxBodyBytes: 1024 })
    const token = await badge()
    const declared = await fetch(`${gw.url}/up`, {
      method: 'POST',
      headers: bearer(token),
      body: 'x'.repeat(2048),
    })
    expect([declared.status, await declared.json()]).toEqual([413, { error: 'request body too large' }])
    expect(up.seen).toHaveLength(0)
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        `${gw.url}/up`,
        { method: 'POST', headers: { ...bearer(token), 'transfer-encoding': 'chunked' } },
        (res) => {
          res.resume()
          resolve(res.statusCode!)
        },
      )
      req.on('error', reject)
      req.write('x'.repeat(800))
      setTimeout(() => req.end('y'.repeat(800)), 100)
    })
    expect(status).toBe(413)
  })
})

describe('gateway: operations endpoints', () => {
  it('serves /health, /ready and /metrics without a credential', async () => {
    const { gw } = await setup()
    await fetch(`${gw.url}/x`, { headers: bearer(await badge()) })
    expect(await (await fetch(`${gw.url}/health`)).json()).toEqual({ status: 'ok' })
    expect(await (await fetch(`${gw.url}/ready`)).json()).toEqual({ status: 'ready' })
    const m = await (await fetch(`${gw.url}/metrics`)).text()
    for (const name of [
      'capiscio_gateway_requests_total{code="200",method="GET"}',
      'capiscio_gateway_request_duration_seconds_bucket',
      'capiscio_gateway_upstream_duration_seconds_bucket',
      'capiscio_gateway_in_flight_requests',
      'capiscio_gateway_auth_total{result="allowed",reason="valid",credential="badge"} 1',
      'process_resident_memory_bytes',
    ]) {
      expect(m).toContain(name)
    }
  })

  it('produces /metrics that promtool accepts', async () => {
    const { gw } = await setup()
    await fetch(`${gw.url}/x`, { headers: bearer('bad.token.x') })
    const text = await (await fetch(`${gw.url}/metrics`)).text()
    const dir = tmpDir()
    writeFileSync(join(dir, 'metrics.txt'), text)
    const { stdout, stderr } = await run('sh', ['-c', `promtool check metrics < ${join(dir, 'metrics.txt')}`])
    expect(stdout + stderr).not.toMatch(/error/i)
  })

  it('is not ready while the registry has never answered', async () => {
    const source = new RemoteJwksKeySource('http://127.0.0.1:9/.well-known/jwks.json', { timeoutMs: 200 })
    await source.refresh()
    const { gw } = await setup({ verifier: createBadgeVerifier({ keys: source }) })
    const res = await fetch(`${gw.url}/ready`)
    expect(res.status).toBe(503)
    expect(((await res.json()) as { reason: string }).reason).toMatch(/key source not loaded/)
    // Badged requests fail closed with 503 (our outage), not 403 (the badge's fault).
    const denied = await fetch(`${gw.url}/x`, { headers: bearer(await badge()) })
    expect([denied.status, await denied.json()]).toEqual([
      503,
      { error: 'credential verification unavailable' },
    ])
  })

  it.each([
    ['[]', 'is not a JSON object'],
    ['"a card"', 'is not a JSON object'],
    ['null', 'is not a JSON object'],
    ['{"name":', 'is not valid JSON'],
  ])('refuses --card %s at start as CARD_UNREADABLE (%s), as card validate does', async (text, message) => {
    const file = join(tmpDir(), 'card.json')
    writeFileSync(file, text)
    await expect(loadCard(file)).rejects.toMatchObject({
      code: 'CARD_UNREADABLE',
      message: `${file} ${message}`,
    })
  })

  it('serves --card at both well-known paths with an ETag, and 304 for a matching If-None-Match', async () => {
    const dir = tmpDir()
    writeFileSync(join(dir, 'card.json'), JSON.stringify({ name: 'Agent', version: '1.0.0' }))
    const { gw, up } = await setup({ card: await loadCard(join(dir, 'card.json')) })
    for (const path of ['/.well-known/agent-card.json', '/.well-known/agent.json']) {
      const res = await fetch(`${gw.url}${path}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('cache-control')).toBe('public, max-age=300')
      expect(await res.json()).toEqual({ name: 'Agent', version: '1.0.0' })
      const etag = res.headers.get('etag')!
      expect((await fetch(`${gw.url}${path}`, { headers: { 'if-none-match': etag } })).status).toBe(304)
    }
    expect(up.seen).toHaveLength(0)
  })

  it('passes the card paths through to the agent, unauthenticated, without --card', async () => {
    const { gw, up } = await setup()
    const res = await fetch(`${gw.url}/.well-known/agent-card.json`, {
      headers: { 'x-capiscio-subject': 'did:web:forged' },
    })
    expect(res.status).toBe(200)
    expect(up.seen[0]!['x-capiscio-subject']).toBeUndefined()
  })

  it('refuses a bad target URL', async () => {
    await expect(
      createGateway({ target: 'not a url', verifier: createBadgeVerifier({ keys }) }),
    ).rejects.toThrow('invalid target URL: not a url')
  })

  it('refuses a target with credentials or a query, without showing them', async () => {
    for (const target of ['http://u:hunter2@127.0.0.1:9/', 'http://127.0.0.1:9/?api_key=SECRET']) {
      const err = await createGateway({ target, verifier: createBadgeVerifier({ keys }) }).catch(
        (e: unknown) => e as CapiscioError,
      )
      expect(err).toMatchObject({ code: 'USAGE', message: expect.stringContaining('invalid target URL') })
      expect(String((err as Error).message)).not.toMatch(/hunter2|SECRET/)
    }
  })

  it('loads keys from a registry (JWKS) on the first badge, then is ready', async () => {
    const jwks = await startUpstream((_req, res) =>
      res.end(JSON.stringify({ keys: [publicJwkOf(client.publicKey, client.did)] })),
    )
    open.push(jwks)
    // Bound to the badge's issuer explicitly: by default a registry's keys sign only for its own URL.
    const source = new RemoteJwksKeySource(`${jwks.url}/.well-known/jwks.json`, { issuers: [client.did] })
    const { gw } = await setup({ verifier: createBadgeVerifier({ keys: source }) })
    // The first badge loads the key set (no fetch happened before it).
    expect(source.ready()).toBe(false)
    expect((await fetch(`${gw.url}/x`, { headers: bearer(await badge()) })).status).toBe(200)
    expect((await fetch(`${gw.url}/ready`)).status).toBe(200)
  })
})
