import { request as httpsRequest } from 'node:https'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'

import { afterAll, afterEach, describe, expect, it } from '@jest/globals'
import { Client } from 'undici'

import { clientKeyDir, DOC_ISSUE_ARGS, runCli } from '../helpers/cli.js'
import { peakRssMiB, startCli, startRedis, stopAll, waitForOutput } from '../helpers/processes.js'
import { echoAgent, freePort, startUpstream, waitForHttp, type Upstream } from '../helpers/servers.js'
import { cleanupTmp } from '../helpers/tmp.js'
import { gatewayStartArgs, startGatewayCli } from '../helpers/gateway-cli.js'
import { selfSignedCert } from '../helpers/tls.js'

const ups: Upstream[] = []
afterEach(async () => {
  await stopAll()
  await Promise.all(ups.splice(0).map((u) => u.close()))
})
afterAll(cleanupTmp)

async function issue(cwd: string): Promise<string> {
  const r = await runCli(DOC_ISSUE_ARGS, { cwd })
  expect(r.code).toBe(0)
  return r.stdout.trim()
}

const gateway = startGatewayCli

describe('capiscio gateway start (child processes, real servers)', () => {
  it('runs the documented flow: 200 with the agent seeing the subject, 401, 403, and 502 with the agent down', async () => {
    const cwd = await clientKeyDir()
    const agent = await startUpstream(echoAgent)
    ups.push(agent)
    const { gw, url } = await gateway(cwd, ['--target', agent.url, '--local-key', 'client/public.jwk'])
    const BADGE = await issue(cwd)

    const ok = await fetch(`${url}/api/task`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${BADGE}` },
      body: '{"task":"summarise"}',
    })
    expect(ok.status).toBe(200)
    const seen = (await ok.json()) as { headers: Record<string, string> }
    expect(seen.headers['x-capiscio-subject']).toBe('did:capiscio:agent:client')

    const missing = await fetch(`${url}/api/task`, { method: 'POST', body: '{}' })
    expect([missing.status, await missing.json()]).toEqual([401, { error: 'missing authorization header' }])

    const forged = await fetch(`${url}/api/task`, {
      method: 'POST',
      headers: { Authorization: 'Bearer invalid.token.here' },
      body: '{}',
    })
    expect(forged.status).toBe(403)
    expect(await forged.json()).toMatchObject({ error: 'invalid badge signature' })

    await agent.close()
    ups.length = 0
    const down = await fetch(`${url}/api/task`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${BADGE}` },
      body: '{}',
    })
    expect(down.status).toBe(502)

    expect(await gw.stop()).toBe(0)
    const log = gw.stderr()
    expect(log).toMatch(/\[200\] POST \/api\/task - valid badge from did:capiscio:agent:client/)
    expect(log).toMatch(/\[401\] POST \/api\/task - missing authorization header/)
    expect(log).not.toContain(BADGE)
  })

  it('--log-format off writes no line per request, keeps the start and stop lines (JSON under --json), and /metrics still counts', async () => {
    const cwd = await clientKeyDir()
    const agent = await startUpstream(echoAgent)
    ups.push(agent)
    const BADGE = await issue(cwd)
    const { gw, url } = await gateway(cwd, [
      '--target',
      agent.url,
      '--local-key',
      'client/public.jwk',
      '--log-format',
      'off',
      '--json',
    ])
    const ok = await fetch(`${url}/api/task`, { headers: { Authorization: `Bearer ${BADGE}` } })
    expect(ok.status).toBe(200)
    const missing = await fetch(`${url}/api/task`)
    expect(missing.status).toBe(401)
    const metrics = await (await fetch(`${url}/metrics`)).text()
    expect(metrics).toMatch(/capiscio_gateway_requests_total\{code="200",method="GET"\} 1\n/)
    expect(metrics).toMatch(/capiscio_gateway_requests_total\{code="401",method="GET"\} 1\n/)

    expect(await gw.stop()).toBe(0)
    const lines = gw
      .stderr()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level?: string; message?: string; status?: number })
    expect(lines.map((l) => l.message)).toEqual([
      expect.stringMatching(/^capiscio gateway listening on /),
      'SIGTERM: draining in-flight requests',
      'stopped',
    ])
    expect(lines.some((l) => l.status !== undefined)).toBe(false)
  })

  it.each([
    [[], /must provide either --local-key or --registry-url \(or --trust-dir\)/],
    [['--local-key', 'client/public.jwk', '--trust-dir', 'x'], /choose one key source/],
    [['--local-key', 'client/public.jwk', '--target', 'not a url'], /invalid --target URL: not a url/],
    [['--local-key', 'client/public.jwk', '--max-body', 'lots'], /is not a size/],
    [
      ['--local-key', 'client/public.jwk', '--redis', 'http://127.0.0.1:6379'],
      /--redis must be a "redis:\/\/" or "rediss:\/\/" URL/,
    ],
    [
      ['--local-key', 'client/public.jwk', '--redis', 'redis://127.0.0.1:abc'],
      /--redis must be a "redis:\/\/" or "rediss:\/\/" URL/,
    ],
    [
      ['--local-key', 'client/public.jwk', '--redis-timeout', '2s'],
      /--redis-timeout is for --redis, which is not set/,
    ],
    [
      ['--local-key', 'client/public.jwk', '--redis', 'redis://127.0.0.1:1', '--redis-timeout', '0'],
      /--redis-timeout must be at least 1ms/,
    ],
  ])('refuses to start with %j (exit 2)', async (args, message) => {
    const cwd = await clientKeyDir()
    const r = await runCli(['gateway', 'start', '--port', '0', ...(args as string[])], { cwd })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(message)
  })

  it.each([
    [{ CAPISCIO_GATEWAY_MAX_BODY: 'lots' }, 'CAPISCIO_GATEWAY_MAX_BODY "lots" is not a size'],
    [{ CAPISCIO_GATEWAY_CLOCK_SKEW: 'soon' }, 'CAPISCIO_GATEWAY_CLOCK_SKEW "soon" is not a duration'],
    [{ CAPISCIO_GATEWAY_TARGET: 'ftp://agent' }, 'invalid CAPISCIO_GATEWAY_TARGET URL: ftp://agent/'],
    [
      { CAPISCIO_GATEWAY_VERIFY: 'badge,magic' },
      'CAPISCIO_GATEWAY_VERIFY "magic" is not one of badge, jwt, guard',
    ],
    [{ CAPISCIO_GATEWAY_REDIS: 'http://127.0.0.1:6379' }, 'CAPISCIO_GATEWAY_REDIS must be a "redis://"'],
  ])(
    'a bad value from %j is CONFIG_INVALID (exit 4) naming the variable, not a flag',
    async (env, message) => {
      const cwd = await clientKeyDir()
      const r = await runCli(['gateway', 'start', '--port', '0', '--local-key', 'client/public.jwk'], {
        cwd,
        env,
      })
      expect([r.code, r.stderr]).toEqual([4, expect.stringContaining(message)])
      expect(r.stderr).toContain('Code: CONFIG_INVALID')
      expect(r.stderr).not.toMatch(/ --(max-body|clock-skew|target|verify|redis)\b|listening on/)
    },
  )

  it('a CAPISCIO_GATEWAY_* variable that names no setting stops start-up (exit 4) rather than being ignored', async () => {
    const cwd = await clientKeyDir()
    const args = ['gateway', 'start', '--port', '0', '--local-key', 'client/public.jwk']
    // The allow-list is ISSUERS: ignoring ISSUER would run with no allow-list at all.
    const typo = await runCli(args, { cwd, env: { CAPISCIO_GATEWAY_ISSUER: 'did:web:partner.example' } })
    expect([typo.code, typo.stderr]).toEqual([
      4,
      expect.stringContaining('environment variable CAPISCIO_GATEWAY_ISSUER is not a gateway setting'),
    ])
    expect(typo.stderr).toContain('Hint: did you mean CAPISCIO_GATEWAY_ISSUERS?')
    const far = await runCli(args, { cwd, env: { CAPISCIO_GATEWAY_XYZZY_PLUGH: '1' } })
    expect([far.code, far.stderr]).toEqual([4, expect.stringContaining('Code: CONFIG_INVALID')])
    expect(far.stderr).toContain('e.g. CAPISCIO_GATEWAY_TARGET')
    expect(`${typo.stderr}${far.stderr}`).not.toMatch(/listening on/)
  })

  it('a bad value from the config file names its key and the file (exit 4); the flag, given, wins and is named', async () => {
    const cwd = await clientKeyDir()
    writeFileSync(join(cwd, 'capiscio.config.json'), JSON.stringify({ gateway: { drainTimeout: 'zz' } }))
    const r = await runCli(['gateway', 'start', '--port', '0', '--local-key', 'client/public.jwk'], { cwd })
    expect([r.code, r.stderr]).toEqual([4, expect.stringContaining('Code: CONFIG_INVALID')])
    expect(r.stderr).toContain(
      `${join(cwd, 'capiscio.config.json')}: gateway.drainTimeout "zz" is not a duration`,
    )
    const flagged = await runCli(
      ['gateway', 'start', '--port', '0', '--local-key', 'client/public.jwk', '--drain-timeout', 'yy'],
      { cwd },
    )
    expect([flagged.code, flagged.stderr]).toEqual([
      2,
      expect.stringContaining('--drain-timeout "yy" is not a duration'),
    ])
  })

  it('a plain-http registry URL is refused naming where it was set: the variable (exit 4) or the flag (exit 2)', async () => {
    const cwd = await clientKeyDir()
    const url = 'http://registry.example.com/.well-known/jwks.json'
    const env = await runCli(['gateway', 'start', '--port', '0'], {
      cwd,
      env: { CAPISCIO_GATEWAY_REGISTRY_URL: url },
    })
    expect([env.code, env.stderr]).toEqual([
      4,
      expect.stringContaining('CAPISCIO_GATEWAY_REGISTRY_URL: http://registry.example.com is not https'),
    ])
    const flag = await runCli(['gateway', 'start', '--port', '0', '--registry-url', url], { cwd })
    expect([flag.code, flag.stderr]).toEqual([
      2,
      expect.stringContaining('--registry-url: http://registry.example.com is not https'),
    ])
  })

  it('a conflict between a flag and a variable names each as it was set (exit 2)', async () => {
    const cwd = await clientKeyDir()
    const env = { CAPISCIO_GATEWAY_REGISTRY_URL: 'https://registry.example.com/jwks.json' }
    const r = await runCli(['gateway', 'start', '--port', '0', '--local-key', 'client/public.jwk'], {
      cwd,
      env,
    })
    expect([r.code, r.stderr]).toEqual([
      2,
      expect.stringContaining('--local-key and CAPISCIO_GATEWAY_REGISTRY_URL were both given'),
    ])
  })

  it('refuses --no-replay-protection beside a Redis URL from the variable or the file, naming both (exit 2)', async () => {
    const cwd = await clientKeyDir()
    const args = gatewayStartArgs('--no-replay-protection')
    const fromEnv = await runCli(args, { cwd, env: { CAPISCIO_GATEWAY_REDIS: 'redis://127.0.0.1:1' } })
    expect([fromEnv.code, fromEnv.stderr]).toEqual([
      2,
      expect.stringContaining(
        '--replay-protection is turned off, but CAPISCIO_GATEWAY_REDIS (which turns it on) is set',
      ),
    ])
    writeFileSync(
      join(cwd, 'capiscio.config.json'),
      JSON.stringify({ gateway: { redis: 'redis://127.0.0.1:1' } }),
    )
    const fromFile = await runCli(args, { cwd })
    expect([fromFile.code, fromFile.stderr]).toEqual([
      2,
      expect.stringContaining(
        `${join(cwd, 'capiscio.config.json')}: --replay-protection is turned off, but gateway.redis (which turns it on) is set`,
      ),
    ])
    // Both from the environment: a configuration error (exit 4), each variable named.
    const bothEnv = await runCli(args.slice(0, -1), {
      cwd,
      env: { CAPISCIO_GATEWAY_REPLAY_PROTECTION: 'false', CAPISCIO_GATEWAY_REDIS: 'redis://127.0.0.1:1' },
    })
    expect([bothEnv.code, bothEnv.stderr]).toEqual([
      4,
      expect.stringContaining(
        'CAPISCIO_GATEWAY_REPLAY_PROTECTION is turned off, but CAPISCIO_GATEWAY_REDIS (which turns it on) is set',
      ),
    ])
    expect(`${fromEnv.stderr}${fromFile.stderr}${bothEnv.stderr}`).not.toMatch(/listening on/)
  })

  it('refuses a --trust-dir that does not exist, or is not a directory, at start (exit 4)', async () => {
    const cwd = await clientKeyDir()
    for (const dir of ['/nonexistent', 'client/public.jwk']) {
      const r = await runCli(['gateway', 'start', '--port', '0', '--trust-dir', dir], { cwd })
      expect([r.code, r.stderr]).toEqual([4, expect.stringContaining(dir)])
      expect(r.stderr).toMatch(/FILE_NOT_FOUND/)
      expect(r.stderr).not.toMatch(/listening on/)
    }
  })

  it('-q keeps the request log and drops the start, drain and stop lines', async () => {
    const cwd = await clientKeyDir()
    const port = await freePort()
    const args = ['-q', '--port', String(port), '--host', '127.0.0.1', '--target', 'http://127.0.0.1:9']
    const gw = startCli(['gateway', 'start', ...args, '--local-key', 'client/public.jwk'], { cwd })
    await waitForHttp(`http://127.0.0.1:${port}/health`)
    expect((await fetch(`http://127.0.0.1:${port}/api/task`)).status).toBe(401)
    await waitForOutput(gw, /\[401\] GET \/api\/task - missing authorization header/)
    expect(await gw.stop()).toBe(0)
    expect(gw.stderr()).not.toMatch(/listening on|draining|stopped/)
  })

  it('refuses TLS files that are not a PEM certificate and its key with exit 4 naming them, not a crash', async () => {
    const cwd = await clientKeyDir()
    const args = [
      '--local-key',
      'client/public.jwk',
      '--tls-cert',
      'client/public.pem',
      '--tls-key',
      'client/private.pem',
    ]
    const r = await runCli(['gateway', 'start', '--port', '0', ...args], { cwd })
    expect([r.code, r.stderr]).toEqual([4, expect.stringContaining('Code: KEY_INVALID')])
    expect(r.stderr).toContain('--tls-cert "client/public.pem" and --tls-key "client/private.pem"')
    expect(r.stderr).not.toMatch(/INTERNAL_ERROR|listening on/)
  })

  it("refuses a TLS key that is not the certificate's, even of another key type, with exit 4", async () => {
    const cwd = await clientKeyDir()
    selfSignedCert(cwd) // a P-256 certificate; OpenSSL itself checks only a P-256 key against it
    selfSignedCert(cwd, 'other')
    for (const key of ['client/private.pem', 'other.key']) {
      const args = ['--local-key', 'client/public.jwk', '--tls-cert', 'tls.crt', '--tls-key', key]
      const r = await runCli(['gateway', 'start', '--port', '0', ...args], { cwd })
      expect([r.code, r.stderr]).toEqual([4, expect.stringContaining('Code: KEY_INVALID')])
      expect(r.stderr).toContain(`--tls-cert "tls.crt" and --tls-key "${key}"`)
      expect(r.stderr).not.toMatch(/INTERNAL_ERROR|listening on|public\.jwk/)
    }
  })

  it('refuses --workers 2 --replay-protection without --redis (exit 2), saying to add --redis', async () => {
    const cwd = await clientKeyDir()
    const r = await runCli(gatewayStartArgs('--workers', '2', '--replay-protection'), { cwd })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(
      'Hint: set --redis to a Redis URL, for one memory that every worker process shares',
    )
    expect(r.stderr).not.toMatch(/listening on/)
    // From the environment: the variables are named, and the hint still reads as a sentence.
    const env = { CAPISCIO_GATEWAY_WORKERS: '2', CAPISCIO_GATEWAY_REPLAY_PROTECTION: 'true' }
    const fromEnv = await runCli(['gateway', 'start', '--port', '0', '--local-key', 'client/public.jwk'], {
      cwd,
      env,
    })
    expect([fromEnv.code, fromEnv.stderr]).toEqual([
      4,
      expect.stringContaining(
        'CAPISCIO_GATEWAY_REPLAY_PROTECTION with CAPISCIO_GATEWAY_WORKERS 2 would keep',
      ),
    ])
    expect(fromEnv.stderr).toContain('or run a single worker')
    expect(fromEnv.stderr).not.toMatch(/between CAPISCIO|run CAPISCIO/)
    const tls = await runCli(['gateway', 'start', '--port', '0', '--local-key', 'client/public.jwk'], {
      cwd,
      env: { CAPISCIO_GATEWAY_TLS_CERT: 'tls.crt' },
    })
    expect(tls.stderr).toContain('CAPISCIO_GATEWAY_TLS_CERT was given without --tls-key')
  })

  it('drops forged identity and forwarding headers, underscore spellings included (the agent echoes what it got)', async () => {
    const cwd = await clientKeyDir()
    const agent = await startUpstream(echoAgent)
    ups.push(agent)
    const { url } = await gateway(cwd, ['--target', agent.url, '--local-key', 'client/public.jwk'])
    const res = await fetch(`${url}/x`, {
      headers: {
        Authorization: `Bearer ${await issue(cwd)}`,
        X_Capiscio_Subject: 'did:web:admin.example.com',
        X_Capiscio_Trust_Level: '4',
        'X-Capiscio-Subject': 'did:web:admin.example.com',
        X_Forwarded_For: '203.0.113.9',
        Forwarded: 'for=203.0.113.9',
        'X-Real-IP': '203.0.113.9',
        X_Real_IP: '203.0.113.9',
      },
    })
    const { headers } = (await res.json()) as { headers: Record<string, string> }
    expect(headers['x-capiscio-subject']).toBe('did:capiscio:agent:client')
    expect(headers['x-capiscio-trust-level']).toBe('1')
    expect(headers['x-real-ip']).toBe('127.0.0.1')
    expect(headers['x-forwarded-for']).toBe('127.0.0.1')
    for (const name of [
      'x_capiscio_subject',
      'x_capiscio_trust_level',
      'x_forwarded_for',
      'forwarded',
      'x_real_ip',
    ])
      expect(headers).not.toHaveProperty(name)
  })

  it('takes its settings from CAPISCIO_GATEWAY_* and the config file, flags first', async () => {
    const cwd = await clientKeyDir()
    const agent = await startUpstream(echoAgent)
    ups.push(agent)
    writeFileSync(
      join(cwd, 'package.json'),
      JSON.stringify({
        name: 'x',
        capiscio: {
          gateway: { target: 'http://127.0.0.1:1', localKey: 'client/public.jwk', logFormat: 'json' },
        },
      }),
    )
    const { gw, url } = await gateway(cwd, [], { CAPISCIO_GATEWAY_TARGET: agent.url })
    const res = await fetch(`${url}/x`, { headers: { Authorization: `Bearer ${await issue(cwd)}` } })
    expect(res.status).toBe(200)
    await gw.stop()
    const line = gw
      .stderr()
      .split('\n')
      .find((l) => l.includes('"status":200'))!
    expect(JSON.parse(line)).toMatchObject({
      status: 200,
      method: 'GET',
      path: '/x',
      subject: 'did:capiscio:agent:client',
    })
  })

  it('drains gracefully: an in-flight request completes after SIGTERM, then the process exits 0', async () => {
    const cwd = await clientKeyDir()
    const agent = await startUpstream((_req, res) => setTimeout(() => res.end('finished'), 1000))
    ups.push(agent)
    const { gw, url } = await gateway(cwd, ['--target', agent.url, '--local-key', 'client/public.jwk'])
    const BADGE = await issue(cwd)
    const inFlight = fetch(`${url}/slow`, { headers: { Authorization: `Bearer ${BADGE}` } })
    await new Promise((r) => setTimeout(r, 300))
    gw.child.kill('SIGTERM')
    await waitForOutput(gw, /draining/)
    await expect(fetch(`${url}/health`)).rejects.toThrow()
    const res = await inFlight
    expect([res.status, await res.text()]).toEqual([200, 'finished'])
    expect(await gw.exited).toBe(0)
  })

  it('a second SIGTERM or SIGINT does not cut the drain short: the in-flight request still completes, exit 0', async () => {
    const cwd = await clientKeyDir()
    let answer: (() => void) | undefined
    const agent = await startUpstream((_req, res) => (answer = () => res.end('finished')))
    ups.push(agent)
    const { gw, url } = await gateway(cwd, ['--target', agent.url, '--local-key', 'client/public.jwk'])
    const inFlight = fetch(`${url}/slow`, { headers: { Authorization: `Bearer ${await issue(cwd)}` } })
    while (!answer) await new Promise((r) => setTimeout(r, 20))
    gw.child.kill('SIGTERM')
    await waitForOutput(gw, /draining/)
    gw.child.kill('SIGTERM')
    gw.child.kill('SIGINT')
    // Two signals sent at once may be delivered in either order.
    await waitForOutput(gw, /SIGTERM: already draining/)
    await waitForOutput(gw, /SIGINT: already draining/)
    answer()
    const res = await inFlight
    expect([res.status, await res.text()]).toEqual([200, 'finished'])
    expect(await gw.exited).toBe(0)
    expect(gw.stderr()).toMatch(/stopped/)
  })

  it('drains under keep-alive load: after SIGTERM no request is reset or left without an answer, and each is logged as the client saw it', async () => {
    const cwd = await clientKeyDir()
    const agent = await startUpstream((req, res) => {
      // A little work per request, so that some are in flight at the signal.
      setTimeout(() => res.end(`ok ${req.url}`), Math.floor(Math.random() * 15))
    })
    ups.push(agent)
    const { gw, url } = await gateway(cwd, [
      '--target',
      agent.url,
      '--local-key',
      'client/public.jwk',
      '--drain-timeout',
      '10s',
    ])
    const BADGE = await issue(cwd)
    let signalled = false
    const seen = new Map<string, number>() // path → status the client got
    let answeredAfterSignal = 0
    let closedAnswers = 0
    let cleanRetries = 0
    const resets: string[] = []
    const unanswered: string[] = []

    /**
     * A well-behaved keep-alive client (as nginx with `keepalive 16`): one connection, one request at
     * a time. A `Connection: close` answer ends the connection (undici opens a new one for the
     * next request). A request that got no byte before the server closed the connection cleanly
     * (FIN) is retried; a reset, or a connection closed mid-answer, is a failure. A refused connect
     * means the gateway stopped listening (a load balancer would pick another replica): stop.
     */
    async function load(id: number, pauseMs: number): Promise<void> {
      const client = new Client(url, { pipelining: 1 })
      try {
        for (let n = 0; ; n++) {
          for (let attempt = 0; ; attempt++) {
            const path = `/load/${id}/${n}/${attempt}`
            try {
              const res = await client.request({
                path,
                method: 'GET',
                headers: { authorization: `Bearer ${BADGE}` },
              })
              let body: string
              try {
                body = await res.body.text()
              } catch (err) {
                unanswered.push(`${path}: answer cut (${(err as Error).message})`)
                break
              }
              if (body !== `ok ${path}` && res.statusCode === 200) unanswered.push(`${path}: wrong body`)
              seen.set(path, res.statusCode)
              if (signalled) answeredAfterSignal++
              if (res.headers.connection === 'close') closedAnswers++
              break
            } catch (err) {
              const code = (err as { code?: string }).code
              if (code === 'ECONNREFUSED') return
              if (code === 'UND_ERR_SOCKET' && /other side closed/.test((err as Error).message)) {
                cleanRetries++
                continue
              }
              if (code === 'ECONNRESET') resets.push(path)
              else unanswered.push(`${path}: ${code} ${(err as Error).message}`)
              break
            }
          }
          if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs))
        }
      } finally {
        await client.destroy()
      }
    }

    const clients = [
      ...Array.from({ length: 6 }, (_, i) => load(i, 0)), // continuous
      load(6, 300), // idle at the signal, then sends within the grace period
      load(7, 450),
    ]
    // Load is running on every connection once 50 requests have been answered (no wall-clock wait).
    while (seen.size < 50) await new Promise((r) => setImmediate(r))
    signalled = true
    gw.child.kill('SIGTERM')
    await Promise.all(clients)
    expect(await gw.exited).toBe(0)

    expect(resets).toEqual([])
    expect(unanswered).toEqual([])
    expect(answeredAfterSignal).toBeGreaterThan(0)
    expect(closedAnswers).toBeGreaterThan(0)
    // No request went unanswered, not even one a client could have retried after a clean close
    // (nginx retries only idempotent ones), and every answer is in the log with the status seen.
    expect({ cleanRetries }).toEqual({ cleanRetries: 0 })
    const logged = new Map<string, number>()
    for (const m of gw.stderr().matchAll(/\[(\d{3})\] GET (\/load\/\S+) - /g)) logged.set(m[2]!, Number(m[1]))
    for (const [path, status] of seen) expect([path, logged.get(path)]).toEqual([path, status])
    expect([...logged.keys()].filter((p) => !seen.has(p))).toEqual([])
  })

  it('streams a 100 MB upload to the agent without buffering it (peak memory stays flat)', async () => {
    const cwd = await clientKeyDir()
    let received = 0
    const agent = await startUpstream((req, res) => {
      req.on('data', (d: Buffer) => (received += d.length))
      req.on('end', () => res.end(String(received)))
    })
    ups.push(agent)
    const { gw, url } = await gateway(cwd, [
      '--target',
      agent.url,
      '--local-key',
      'client/public.jwk',
      '--max-body',
      '200mb',
    ])
    const BADGE = await issue(cwd)
    await fetch(`${url}/health`)
    const before = await peakRssMiB(gw.child.pid!)
    const SIZE = 100 * 1024 * 1024
    const chunk = Buffer.alloc(1024 * 1024, 7)
    let sent = 0
    const body = Readable.from(
      (function* () {
        while (sent < SIZE) {
          sent += chunk.length
          yield chunk
        }
      })(),
    )
    const res = await fetch(`${url}/upload`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${BADGE}`, 'content-type': 'application/octet-stream' },
      body: Readable.toWeb(body) as ReadableStream,
      duplex: 'half',
    } as RequestInit)
    expect(res.status).toBe(200)
    expect(Number(await res.text())).toBe(SIZE)
    const after = await peakRssMiB(gw.child.pid!)
    // Buffering the body would raise the gateway's peak by at least the 100 MiB it holds; streaming
    // costs only the transient chunks the GC has not yet reclaimed (≈ 40–50 MiB measured here).
    expect(after - before).toBeLessThan(64)
  })

  it('shares replay protection between two replicas through a real redis-server, and fails closed without it', async () => {
    const cwd = await clientKeyDir()
    const agent = await startUpstream(echoAgent)
    ups.push(agent)
    const redisPort = await freePort()
    const redis = startRedis(redisPort)
    await new Promise((r) => setTimeout(r, 300))
    const args = [
      '--target',
      agent.url,
      '--local-key',
      'client/public.jwk',
      '--redis',
      `redis://127.0.0.1:${redisPort}`,
    ]
    const a = await gateway(cwd, args)
    const b = await gateway(cwd, args)
    const BADGE = await issue(cwd)
    const first = await fetch(`${a.url}/x`, { headers: { Authorization: `Bearer ${BADGE}` } })
    expect(first.status).toBe(200)
    const replay = await fetch(`${b.url}/x`, { headers: { Authorization: `Bearer ${BADGE}` } })
    expect([replay.status, await replay.json()]).toEqual([
      403,
      { error: 'badge already used', code: 'BADGE_REPLAYED' },
    ])
    expect(
      (await fetch(`${b.url}/x`, { headers: { Authorization: `Bearer ${await issue(cwd)}` } })).status,
    ).toBe(200)

    await redis.stop()
    await new Promise((r) => setTimeout(r, 300))
    const down = await fetch(`${a.url}/x`, { headers: { Authorization: `Bearer ${await issue(cwd)}` } })
    expect([down.status, await down.json()]).toEqual([503, { error: 'replay protection unavailable' }])
    const ready = await fetch(`${a.url}/ready`)
    expect(ready.status).toBe(503)
    // A short reason, without the Redis client's text; the detail is in the log.
    expect(await ready.json()).toEqual({ status: 'not ready', reason: 'replay store unavailable' })
    // The log line is written asynchronously (batched per event-loop turn); wait for it.
    await waitForOutput(
      a.gw,
      /\[503\] GET \/x - verified badge from did:capiscio:agent:client, but replay protection unavailable/,
    )
  })

  it('bounds a stalled Redis (SIGSTOP) by --redis-timeout: 503 for the badged request and /ready, 200 once it answers', async () => {
    const cwd = await clientKeyDir()
    const agent = await startUpstream(echoAgent)
    ups.push(agent)
    const redisPort = await freePort()
    const redis = startRedis(redisPort)
    // Redis set by the variable, its timeout by the flag: both reach the store.
    const { gw, url } = await gateway(
      cwd,
      ['--target', agent.url, '--local-key', 'client/public.jwk', '--redis-timeout', '300ms'],
      { CAPISCIO_GATEWAY_REDIS: `redis://127.0.0.1:${redisPort}` },
    )
    const readyStatus = async () => (await fetch(`${url}/ready`)).status
    const until = async (check: () => Promise<boolean>, what: string) => {
      const deadline = Date.now() + 10_000
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}; stderr:\n${gw.stderr()}`)
        await new Promise((r) => setTimeout(r, 20))
      }
    }
    await until(async () => (await readyStatus()) === 200, 'the gateway is ready')
    const send = async () =>
      fetch(`${url}/x`, {
        headers: { Authorization: `Bearer ${await issue(cwd)}` },
        signal: AbortSignal.timeout(5000),
      })
    expect((await send()).status).toBe(200)
    redis.child.kill('SIGSTOP')
    try {
      const stalled = await send()
      expect([stalled.status, await stalled.json()]).toEqual([
        503,
        { error: 'replay protection unavailable' },
      ])
      await waitForOutput(gw, /\[503\] GET \/x - .*the replay store \(Redis\) did not answer within 300 ms/)
      expect(await readyStatus()).toBe(503)
    } finally {
      redis.child.kill('SIGCONT')
    }
    await until(async () => (await readyStatus()) === 200, '/ready answers 200 again')
    expect((await send()).status).toBe(200)
  })

  it('serves HTTPS with --tls-cert and --tls-key', async () => {
    const cwd = await clientKeyDir()
    const agent = await startUpstream(echoAgent)
    ups.push(agent)
    selfSignedCert(cwd)
    const { url } = await gateway(cwd, [
      '--target',
      agent.url,
      '--local-key',
      'client/public.jwk',
      '--tls-cert',
      'tls.crt',
      '--tls-key',
      'tls.key',
    ])
    const status = await new Promise<number>((resolve, reject) => {
      httpsRequest(`${url.replace('http:', 'https:')}/health`, { rejectUnauthorized: false }, (res) => {
        res.resume()
        resolve(res.statusCode!)
      })
        .on('error', reject)
        .end()
    })
    expect(status).toBe(200)
  })

  it('runs --workers 2 on one port and stops them all on SIGTERM', async () => {
    const cwd = await clientKeyDir()
    const agent = await startUpstream(echoAgent)
    ups.push(agent)
    const port = await freePort()
    const gw = startCli(
      [
        'gateway',
        'start',
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--target',
        agent.url,
        '--local-key',
        'client/public.jwk',
        '--workers',
        '2',
      ],
      { cwd },
    )
    await waitForOutput(gw, /listening on[\s\S]*listening on/)
    await waitForHttp(`http://127.0.0.1:${port}/health`)
    const BADGE = await issue(cwd)
    expect(
      (await fetch(`http://127.0.0.1:${port}/x`, { headers: { Authorization: `Bearer ${BADGE}` } })).status,
    ).toBe(200)
    expect(await gw.stop()).toBe(0)
    expect(gw.stderr()).toMatch(/all workers stopped/)
  })
})
