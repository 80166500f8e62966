// Forward-auth behind a real nginx (docs/deployment.md, "Forward-auth"): nginx's auth_request asks
// `capiscio gateway start --mode auth` (the built CLI, a child process) about every request, copies
// the identity headers of its 200 answer onto the request with proxy_set_header, and proxies to a
// real upstream that echoes what it received. nginx is required: a machine without it fails here
// with a message saying how to install it.
import { writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { join } from 'node:path'

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'

import { signGuardToken } from '../../src/lib/guard/token.js'
import { TrustStore } from '../../src/lib/store/truststore.js'
import { mintToken } from '../../src/lib/token/mint.js'
import { edKey } from '../helpers/badges.js'
import { clientKeyDir, DOC_ISSUE_ARGS, runCli } from '../helpers/cli.js'
import { startNginx, type Nginx } from '../helpers/nginx.js'
import { startCli, stopAll, waitForOutput, type Running } from '../helpers/processes.js'
import { echoAgent, freePort, startUpstream, type Upstream } from '../helpers/servers.js'
import { cleanupTmp } from '../helpers/tmp.js'

const SECRET = 'forward-auth-secret-of-at-least-thirty-two-bytes'
const SUBJECT = 'did:capiscio:agent:client'
const guardSigner = edKey()

/** The nginx configuration of docs/deployment.md ("Forward-auth"), on loopback ports. */
function forwardAuthConfig(o: { port: number; gateway: number; upstream: number }): string {
  return `
  upstream agent { server 127.0.0.1:${o.upstream}; }
  upstream capiscio { server 127.0.0.1:${o.gateway}; }

  server {
    listen 127.0.0.1:${o.port};

    # The agent card is public: served without asking the gateway.
    location = /.well-known/agent-card.json {
      proxy_pass http://agent;
    }

    location / {
      auth_request /_capiscio;
      auth_request_set $capiscio_credential $upstream_http_x_capiscio_credential;
      auth_request_set $capiscio_subject    $upstream_http_x_capiscio_subject;
      auth_request_set $capiscio_issuer     $upstream_http_x_capiscio_issuer;
      auth_request_set $capiscio_trust      $upstream_http_x_capiscio_trust_level;
      auth_request_set $capiscio_badge_jti  $upstream_http_x_capiscio_badge_jti;
      auth_request_set $capiscio_jti        $upstream_http_x_capiscio_jti;
      auth_request_set $capiscio_type       $upstream_http_x_capiscio_type;
      auth_request_set $capiscio_roles      $upstream_http_x_capiscio_roles;

      # Set from the gateway's answer, never from the client: an empty value drops the header.
      proxy_set_header X-Capiscio-Credential  $capiscio_credential;
      proxy_set_header X-Capiscio-Subject     $capiscio_subject;
      proxy_set_header X-Capiscio-Issuer      $capiscio_issuer;
      proxy_set_header X-Capiscio-Trust-Level $capiscio_trust;
      proxy_set_header X-Capiscio-Badge-Jti   $capiscio_badge_jti;
      proxy_set_header X-Capiscio-Jti         $capiscio_jti;
      proxy_set_header X-Capiscio-Type        $capiscio_type;
      proxy_set_header X-Capiscio-Roles       $capiscio_roles;
      # The credential stays with nginx, as the gateway's proxy mode keeps it (--forward-credential).
      proxy_set_header X-Capiscio-Badge "";
      proxy_set_header Authorization    "";

      proxy_pass http://agent;
    }

    location = /_capiscio {
      internal;
      proxy_pass http://capiscio/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-Content-Length $content_length;
      proxy_set_header X-Original-Transfer-Encoding $http_transfer_encoding;
    }
  }
`
}

let cwd: string
let badge: string
let upstream: Upstream
let gateway: Running
let nginx: Nginx | undefined

beforeAll(async () => {
  // The badge issuer's key for --local-key; the SimpleGuard signer in capiscio_keys/trusted of the
  // gateway's working directory, where SimpleGuard (and --verify guard without --trust-dir) looks.
  cwd = await clientKeyDir()
  const issued = await runCli(DOC_ISSUE_ARGS, { cwd })
  expect(issued.code).toBe(0)
  badge = issued.stdout.trim()
  await new TrustStore(join(cwd, 'capiscio_keys', 'trusted')).add(guardSigner.publicKey, guardSigner.did)
  writeFileSync(join(cwd, 'jwt.secret'), SECRET)

  upstream = await startUpstream(echoAgent)
  const gatewayPort = await freePort()
  gateway = startCli(
    [
      'gateway',
      'start',
      '--mode',
      'auth',
      '--host',
      '127.0.0.1',
      '--port',
      String(gatewayPort),
      '--local-key',
      'client/public.jwk',
      '--verify',
      'badge,jwt,guard',
      '--jwt-secret-file',
      'jwt.secret',
    ],
    { cwd },
  )
  await waitForOutput(gateway, /listening on .* forward-auth/)
  const port = await freePort()
  nginx = await startNginx(
    join(cwd, 'nginx'),
    port,
    forwardAuthConfig({ port, gateway: gatewayPort, upstream: upstream.port }),
  )
}, 60_000)

afterAll(async () => {
  await nginx?.stop()
  await stopAll()
  await upstream?.close()
  cleanupTmp()
})

interface Echo {
  path: string
  method: string
  size: number
  headers: Record<string, string>
}

/** A request through nginx: the status, and what the upstream echoed (undefined when it did not answer). */
/** A SimpleGuard token signed over no body (no bh). */
function bodilessGuardToken(): string {
  return signGuardToken({ privateKey: guardSigner.privateKey, kid: guardSigner.did, iss: guardSigner.did })
}

async function call(
  path: string,
  headers: Record<string, string> = {},
  init: { method?: string; body?: string } = {},
): Promise<{ status: number; headers: Headers; echo?: Echo; text: string; reached: boolean }> {
  const before = upstream.seen.length
  const res = await fetch(`${nginx!.url}${path}`, {
    headers,
    ...init,
    signal: AbortSignal.timeout(10_000),
  })
  const text = await res.text()
  const reached = upstream.seen.length > before
  return {
    status: res.status,
    headers: res.headers,
    echo: reached && res.headers.get('content-type') === 'application/json' ? JSON.parse(text) : undefined,
    text,
    reached,
  }
}

const identityOf = (echo: Echo | undefined) =>
  Object.fromEntries(Object.entries(echo?.headers ?? {}).filter(([k]) => k.startsWith('x-capiscio-')))

describe('nginx auth_request → capiscio gateway --mode auth → upstream (real processes)', () => {
  it('a valid badge: the upstream answers and sees the identity nginx copied from the auth answer', async () => {
    const r = await call('/api/task?x=1', { Authorization: `Bearer ${badge}` })
    expect(r.status).toBe(200)
    expect(r.echo?.path).toBe('/api/task?x=1')
    const identity = identityOf(r.echo)
    expect(identity).toEqual({
      'x-capiscio-credential': 'badge',
      'x-capiscio-subject': SUBJECT,
      'x-capiscio-issuer': expect.stringMatching(/^did:key:z/),
      'x-capiscio-trust-level': expect.stringMatching(/^[0-4]$/),
      'x-capiscio-badge-jti': expect.any(String),
      'x-capiscio-jti': identity['x-capiscio-badge-jti'],
    })
    // The credential itself stays with nginx.
    expect(r.echo?.headers.authorization).toBeUndefined()
    // The gateway saw the subrequest on /auth, and logged whom it admitted.
    await waitForOutput(gateway, new RegExp(`\\[200\\] GET /auth - valid badge from ${SUBJECT}`), 5000)
  })

  it('no credential: 401 with WWW-Authenticate, and the upstream is not reached', async () => {
    const r = await call('/api/task')
    expect([r.status, r.headers.get('www-authenticate'), r.reached]).toEqual([401, 'Bearer', false])
    const post = await call('/api/task', {}, { method: 'POST', body: '{"task":"x"}' })
    expect([post.status, post.reached]).toEqual([401, false])
  })

  it('a forged badge: 403, and the upstream is not reached', async () => {
    const forged = `${badge.slice(0, badge.lastIndexOf('.') + 1)}${'A'.repeat(86)}`
    const r = await call('/api/task', { Authorization: `Bearer ${forged}` })
    expect([r.status, r.reached]).toEqual([403, false])
    await waitForOutput(
      gateway,
      /\[403\] GET \/auth - invalid badge signature \(BADGE_SIGNATURE_INVALID\)/,
      5000,
    )
  })

  it('identity headers a client sends never reach the upstream as given', async () => {
    const forgedIdentity = {
      'X-Capiscio-Subject': 'did:web:admin.example.com',
      'X-Capiscio-Trust-Level': '4',
      'X-Capiscio-Credential': 'badge',
      'X-Capiscio-Roles': 'admin',
      X_Capiscio_Subject: 'did:web:admin.example.com',
    }
    const r = await call('/api/task', { Authorization: `Bearer ${badge}`, ...forgedIdentity })
    expect(r.status).toBe(200)
    expect(r.echo?.headers['x-capiscio-subject']).toBe(SUBJECT)
    expect(r.echo?.headers['x-capiscio-trust-level']).not.toBe('4')
    // A header the gateway did not set is dropped (proxy_set_header with an empty value), and nginx
    // drops header names with underscores (underscores_in_headers off).
    expect(r.echo?.headers['x-capiscio-roles']).toBeUndefined()
    expect(r.echo?.headers).not.toHaveProperty('x_capiscio_subject')
    // Without a credential the forged headers get nowhere.
    const anonymous = await call('/api/task', forgedIdentity)
    expect([anonymous.status, anonymous.reached]).toEqual([401, false])
  })

  it('a valid JWT: 200, the upstream sees X-Capiscio-Credential jwt with its type and roles, no trust level', async () => {
    const token = mintToken({
      sub: 'billing',
      type: 'service',
      roles: ['admin', 'reader'],
      secret: SECRET,
    }).token
    // A client claiming a trust level with its JWT: the JWT has none, so none arrives.
    const r = await call('/api/task', { Authorization: `Bearer ${token}`, 'X-Capiscio-Trust-Level': '4' })
    expect(r.status).toBe(200)
    expect(identityOf(r.echo)).toEqual({
      'x-capiscio-credential': 'jwt',
      'x-capiscio-subject': 'billing',
      'x-capiscio-jti': expect.any(String),
      'x-capiscio-type': 'service',
      'x-capiscio-roles': 'admin,reader',
    })
    const wrongSecret = mintToken({ sub: 'billing', secret: 'x'.repeat(40) }).token
    const refused = await call('/api/task', { Authorization: `Bearer ${wrongSecret}` })
    expect([refused.status, refused.reached]).toEqual([403, false])
  })

  it('SimpleGuard over an empty body (GET): 200, the upstream sees X-Capiscio-Credential guard', async () => {
    const token = bodilessGuardToken()
    const r = await call('/api/status', { 'X-Capiscio-Badge': token })
    expect(r.status).toBe(200)
    expect(identityOf(r.echo)).toEqual({
      'x-capiscio-credential': 'guard',
      'x-capiscio-subject': guardSigner.did,
      'x-capiscio-issuer': guardSigner.did,
      'x-capiscio-jti': expect.any(String),
    })
    expect(r.echo?.headers['x-capiscio-badge']).toBeUndefined()
  })

  it('SimpleGuard over a body (POST): 403 GUARD_BODY_MISMATCH, as the auth subrequest carries no body', async () => {
    const body = '{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{}}'
    const token = signGuardToken({
      privateKey: guardSigner.privateKey,
      kid: guardSigner.did,
      iss: guardSigner.did,
      body,
    })
    const r = await call(
      '/a2a',
      { 'X-Capiscio-Badge': token, 'Content-Type': 'application/json' },
      { method: 'POST', body },
    )
    expect([r.status, r.reached]).toEqual([403, false])
    // nginx shows the client its own 403 page; the reason is in the gateway's log.
    await waitForOutput(
      gateway,
      /\[403\] GET \/auth - request body does not match its signature \(GUARD_BODY_MISMATCH\)/,
      5000,
    )
  })

  it('a SimpleGuard token over no body does not admit a POST whose body the gateway never saw', async () => {
    // nginx passes no body to auth_request, but it says the method (X-Original-Method): a signed
    // request cannot vouch for a body nobody showed the gateway, so it is refused, not admitted.
    const token = bodilessGuardToken()
    // Whatever other tests logged before, this call adds one more such refusal.
    const line = '\\[403\\] GET \\/auth - request body does not match its signature \\(GUARD_BODY_MISMATCH\\)'
    const before = gateway.stderr().match(new RegExp(line, 'g'))?.length ?? 0
    const r = await call('/a2a', { 'X-Capiscio-Badge': token }, { method: 'POST', body: '{"amount":900}' })
    expect([r.status, r.reached]).toEqual([403, false])
    await waitForOutput(gateway, new RegExp(`(?:${line}[\\s\\S]*){${before + 1}}`), 5000)
  })

  it('a SimpleGuard token over no body does not admit a GET that carries a body (nginx says its length)', async () => {
    const token = bodilessGuardToken()
    const body = '{"amount":900}'
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const url = new URL(`${nginx!.url}/a2a`)
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'GET',
          headers: {
            'X-Capiscio-Badge': token,
            'content-type': 'application/json',
            'content-length': body.length,
          },
        },
        (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode))
        },
      )
      req.on('error', reject)
      req.end(body)
    })
    expect(status).toBe(403)
    // The same token with a GET without a body is a signed request over no body, and passes.
    const plain = await call('/a2a', { 'X-Capiscio-Badge': token })
    expect([plain.status, plain.reached]).toEqual([200, true])
  })

  it('the card is public only because nginx routes it around auth_request; the auth endpoint is internal', async () => {
    const card = await call('/.well-known/agent-card.json')
    expect([card.status, card.echo?.path]).toEqual([200, '/.well-known/agent-card.json'])
    expect(identityOf(card.echo)).toEqual({})
    // The gateway itself never exempts a path it is told about (X-Original-URI is the client's).
    const other = await call('/.well-known/agent.json')
    expect([other.status, other.reached]).toEqual([401, false])
    const direct = await call('/_capiscio', { Authorization: `Bearer ${badge}` })
    expect([direct.status, direct.reached]).toEqual([404, false])
  })
})
