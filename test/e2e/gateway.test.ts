import { execFileSync } from 'node:child_process'
import { request as httpsRequest } from 'node:https'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'

import { afterAll, afterEach, describe, expect, it } from '@jest/globals'

import { clientKeyDir, DOC_ISSUE_ARGS, runCli } from '../helpers/cli.js'
import { peakRssMiB, startCli, startProgram, stopAll, waitForOutput } from '../helpers/processes.js'
import { echoAgent, freePort, startUpstream, waitForHttp, type Upstream } from '../helpers/servers.js'
import { cleanupTmp } from '../helpers/tmp.js'

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

async function gateway(cwd: string, args: string[], env: Record<string, string> = {}) {
  const port = await freePort()
  const gw = startCli(['gateway', 'start', '--port', String(port), '--host', '127.0.0.1', ...args], {
    cwd,
    env,
  })
  await waitForOutput(gw, /listening on/)
  return { gw, url: `http://127.0.0.1:${port}` }
}

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

  it.each([
    [[], /must provide either --local-key or --registry-url \(or --trust-dir\)/],
    [['--local-key', 'client/public.jwk', '--trust-dir', 'x'], /choose one key source/],
    [['--local-key', 'client/public.jwk', '--target', 'not a url'], /invalid target URL: not a url/],
    [['--local-key', 'client/public.jwk', '--max-body', 'lots'], /is not a size/],
  ])('refuses to start with %j (exit 2)', async (args, message) => {
    const cwd = await clientKeyDir()
    const r = await runCli(['gateway', 'start', '--port', '0', ...(args as string[])], { cwd })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(message)
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
    const redis = startProgram('redis-server', [
      '--port',
      String(redisPort),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
    ])
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
    expect(((await ready.json()) as { reason: string }).reason).toMatch(/redis/)
    // The log line is written asynchronously (batched per event-loop turn); wait for it.
    await waitForOutput(
      a.gw,
      /\[503\] GET \/x - valid badge from did:capiscio:agent:client; replay protection unavailable/,
    )
  })

  it('serves HTTPS with --tls-cert and --tls-key', async () => {
    const cwd = await clientKeyDir()
    const agent = await startUpstream(echoAgent)
    ups.push(agent)
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        join(cwd, 'tls.key'),
        '-out',
        join(cwd, 'tls.crt'),
        '-subj',
        '/CN=localhost',
        '-days',
        '1',
      ],
      { stdio: 'ignore' },
    )
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
