import { Agent, request, type IncomingMessage, type ServerResponse } from 'node:http'

import { afterAll, afterEach, describe, expect, it } from '@jest/globals'

import { clientKeyDir, DOC_ISSUE_ARGS, runCli } from '../helpers/cli.js'
import { promtoolCheck, sampleValue } from '../helpers/metrics.js'
import { startCli, stopAll, waitForOutput, type Running } from '../helpers/processes.js'
import { socketOwner } from '../helpers/sockets.js'
import { echoAgent, freePort, startUpstream, type Upstream } from '../helpers/servers.js'
import { cleanupTmp } from '../helpers/tmp.js'

// `capiscio gateway start --workers N`: one /metrics, the sum over all workers (cluster-metrics.ts).
// Real processes throughout: the built CLI, its workers, a node:http agent, and a client that opens
// either a fresh connection per request (which the primary hands to the workers in turn) or one
// kept-alive connection (served by one worker, which /proc tells).

const ups: Upstream[] = []
afterEach(async () => {
  await stopAll()
  await Promise.all(ups.splice(0).map((u) => u.close()))
})
afterAll(cleanupTmp)

const OK_GET = 'capiscio_gateway_requests_total{code="200",method="GET"}'
const GET_COUNT = 'capiscio_gateway_request_duration_seconds_count{method="GET"}'
const MISSING = 'capiscio_gateway_metrics_workers_missing'
const RESTARTS = 'capiscio_gateway_worker_restarts_total'

interface Answer {
  status: number
  body: string
  /** The client end's port, to find which worker holds the other end. */
  localPort: number
  ms: number
}

/** One GET: on a fresh connection (closed after it), or on `agent`'s kept-alive connection. */
function get(
  url: string,
  options: { agent?: Agent; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const t0 = Date.now()
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: options.agent ?? false, headers: options.headers }, (res) => {
      const localPort = res.socket.localPort!
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode!, body, localPort, ms: Date.now() - t0 }))
    })
    req.on('error', reject).setTimeout(20_000, () => req.destroy(new Error(`GET ${url} timed out`)))
    req.end()
  })
}

async function setup(
  workers = 2,
  o: { handler?: Parameters<typeof startUpstream>[0]; args?: string[]; detached?: boolean } = {},
) {
  const cwd = await clientKeyDir()
  const agent = await startUpstream(o.handler ?? echoAgent)
  ups.push(agent)
  const r = await runCli(DOC_ISSUE_ARGS, { cwd })
  expect(r.code).toBe(0)
  const badge = { authorization: `Bearer ${r.stdout.trim()}` }
  const port = await freePort()
  const gw = startCli(
    [
      'gateway',
      'start',
      ...['--port', String(port), '--host', '127.0.0.1'],
      ...['--target', agent.url, '--local-key', 'client/public.jwk'],
      ...['--workers', String(workers)],
      ...(o.args ?? []),
    ],
    { cwd, detached: o.detached },
  )
  await waitForOutput(
    gw,
    workers > 1 ? new RegExp(Array(workers).fill('listening on').join('[\\s\\S]*')) : /listening on/,
  )
  return { gw, agent, badge, port, url: `http://127.0.0.1:${port}`, pids: workerPids(gw) }
}

const workerPids = (gw: Running) =>
  [...gw.stderr().matchAll(/listening on .*\[worker (\d+)\]/g)].map((m) => Number(m[1]))

/** The worker serving `agent`'s kept-alive connection (after a first request on it), and the other one. */
async function workerOf(
  port: number,
  answer: Answer,
  pids: number[],
): Promise<{ serving: number; other: number }> {
  const serving = await socketOwner(port, answer.localPort, pids)
  expect(pids).toContain(serving)
  return { serving: serving!, other: pids.find((p) => p !== serving)! }
}

describe('capiscio gateway start --workers: one /metrics for all workers', () => {
  it('answers every scrape, whichever worker takes it, with the exact sum over both, which promtool accepts', async () => {
    const { url, badge, agent } = await setup()
    const K = 40
    for (let i = 0; i < K; i++) expect((await get(`${url}/x`, { headers: badge })).status).toBe(200)
    expect(agent.seen).toHaveLength(K)

    for (let j = 0; j < 6; j++) {
      const { status, body } = await get(`${url}/metrics`)
      expect(status).toBe(200)
      // Every request counted once: the K proxied ones, and the j scrapes before this one (a
      // scrape is counted when it ends, after its own text was made).
      expect([sampleValue(body, OK_GET), sampleValue(body, GET_COUNT)]).toEqual([K + j, K + j])
      expect(
        sampleValue(body, 'capiscio_gateway_auth_total{result="allowed",reason="valid",credential="badge"}'),
      ).toBe(K)
      // The same badge every time, and a verify cache per worker that keeps it from its second use:
      // two misses per worker that served at least two, so both workers served some and both are in
      // the sum.
      expect(sampleValue(body, 'capiscio_gateway_verify_cache_total{result="miss"}')).toBe(4)
      expect(sampleValue(body, 'capiscio_gateway_verify_cache_total{result="hit"}')).toBe(K - 4)
      expect(sampleValue(body, 'capiscio_gateway_in_flight_requests')).toBe(1) // this scrape
      expect([sampleValue(body, MISSING), sampleValue(body, RESTARTS)]).toEqual([0, 0])
      expect(body.match(/^nodejs_version_info\{/gm)).toHaveLength(1)
      if (j === 5) expect(await promtoolCheck(body)).toEqual({ code: 0, output: '' })
    }
  })

  it('answers without a stopped worker after 1 s (its last numbers, flagged), and fails the scrape while the primary is stopped', async () => {
    const { gw, url, port, badge, pids } = await setup()
    const K = 20
    for (let i = 0; i < K; i++) expect((await get(`${url}/x`, { headers: badge })).status).toBe(200)
    const keep = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const { other } = await workerOf(port, await get(`${url}/health`, { agent: keep }), pids)
      const first = await get(`${url}/metrics`, { agent: keep })
      expect([sampleValue(first.body, OK_GET), sampleValue(first.body, MISSING)]).toEqual([K + 1, 0])

      process.kill(other, 'SIGSTOP')
      try {
        const M = 5
        for (let i = 0; i < M; i++)
          expect((await get(`${url}/x`, { agent: keep, headers: badge })).status).toBe(200)
        const slow = await get(`${url}/metrics`, { agent: keep })
        expect(slow.status).toBe(200)
        expect(slow.ms).toBeGreaterThanOrEqual(950)
        // The stopped worker's share of the K is still in the sum (its last answer), flagged.
        expect([sampleValue(slow.body, OK_GET), sampleValue(slow.body, MISSING)]).toEqual([K + 2 + M, 1])
        expect(sampleValue(slow.body, RESTARTS)).toBe(0)
      } finally {
        process.kill(other, 'SIGCONT')
      }
      const back = await get(`${url}/metrics`, { agent: keep })
      expect([sampleValue(back.body, OK_GET), sampleValue(back.body, MISSING)]).toEqual([K + 8, 0])

      const primary = gw.child.pid!
      process.kill(primary, 'SIGSTOP')
      let stuck: Answer
      try {
        stuck = await get(`${url}/metrics`, { agent: keep })
      } finally {
        process.kill(primary, 'SIGCONT')
      }
      // No primary, no sum: the scrape fails (within the worker's 3 s) rather than pass off one
      // worker's numbers as the total.
      expect(stuck.status).toBe(500)
      expect(stuck.ms).toBeGreaterThanOrEqual(2900)
      const after = await get(`${url}/metrics`, { agent: keep })
      expect(after.status).toBe(200)
      expect(sampleValue(after.body, OK_GET)).toBe(K + 9)
      expect(sampleValue(after.body, 'capiscio_gateway_requests_total{code="500",method="GET"}')).toBe(1)
    } finally {
      keep.destroy()
    }
    expect(await gw.stop()).toBe(0)
  })

  it('keeps what a killed worker had counted in the sum after it is restarted, and counts the restart', async () => {
    const { gw, url, port, badge, pids } = await setup()
    const keep = new Agent({ keepAlive: true, maxSockets: 1 })
    const K = 15
    let serving = 0
    try {
      ;({ serving } = await workerOf(port, await get(`${url}/health`, { agent: keep }), pids))
      for (let i = 0; i < K; i++)
        expect((await get(`${url}/x`, { agent: keep, headers: badge })).status).toBe(200)
      const before = await get(`${url}/metrics`, { agent: keep })
      expect([sampleValue(before.body, OK_GET), sampleValue(before.body, RESTARTS)]).toEqual([K + 1, 0])
    } finally {
      keep.destroy()
    }
    // Everything so far was served by one worker: kill it.
    process.kill(serving, 'SIGKILL')
    await waitForOutput(gw, new RegExp(`worker ${serving} exited[\\s\\S]*listening on`))
    expect(workerPids(gw)).toHaveLength(3)
    for (let j = 0; j < 3; j++) {
      const { body } = await get(`${url}/metrics`)
      // Its K + 1 as of its last answer stay in the sum (the scrape it served after that is lost),
      // plus the scrapes since; a sum of the live workers alone would have dropped to j.
      expect(sampleValue(body, OK_GET)).toBe(K + 1 + j)
      expect(
        sampleValue(body, 'capiscio_gateway_auth_total{result="allowed",reason="valid",credential="badge"}'),
      ).toBe(K)
      expect([sampleValue(body, RESTARTS), sampleValue(body, MISSING)]).toEqual([1, 0])
      expect(sampleValue(body, 'capiscio_gateway_in_flight_requests')).toBe(1)
    }
    expect(await gw.stop()).toBe(0)
  })

  it('serves its own registry with --workers 1, as one process does (no cluster metrics)', async () => {
    const { url, badge } = await setup(1)
    expect((await get(`${url}/x`, { headers: badge })).status).toBe(200)
    const { body } = await get(`${url}/metrics`)
    expect(sampleValue(body, OK_GET)).toBe(1)
    expect(body).not.toMatch(
      /capiscio_gateway_metrics_workers_missing|capiscio_gateway_worker_restarts_total/,
    )
  })
})

/** An agent that holds every request until released: requests in flight for as long as a test needs. */
function heldAgent() {
  const held: (() => void)[] = []
  const handler = (_req: IncomingMessage, res: ServerResponse) => {
    held.push(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('done'))
  }
  return { held, handler, release: () => held.splice(0).forEach((answer) => answer()) }
}

async function until(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('capiscio gateway start --workers: signals and start-up failures', () => {
  it('a SIGTERM to the whole process group (systemd, tini -g, Ctrl-C) drains every worker: no request is cut', async () => {
    const agent = heldAgent()
    const { gw, url, badge } = await setup(2, {
      handler: agent.handler,
      args: ['--drain-timeout', '20s'],
      detached: true,
    })
    // Fresh connections: the primary hands them to the workers in turn, so both have requests in flight.
    const answers = Array.from({ length: 4 }, () => get(`${url}/slow`, { headers: badge }))
    await until(() => agent.held.length === 4, 'four requests at the agent')
    process.kill(-gw.child.pid!, 'SIGTERM')
    await waitForOutput(gw, /SIGTERM: draining[\s\S]*SIGTERM: draining/)
    agent.release()
    expect((await Promise.all(answers)).map((a) => [a.status, a.body])).toEqual(Array(4).fill([200, 'done']))
    expect(await gw.exited).toBe(0)
    expect(gw.stderr()).toMatch(/SIGTERM: all workers stopped/)
    expect(gw.stderr()).not.toMatch(/exited \(|could not start/)
  })

  it.each([
    ['a key file that does not exist', ['--local-key', 'missing.jwk'], /missing\.jwk/],
    ['a card file that does not exist', ['--card', 'nope.json'], /nope\.json/],
  ])(
    'stops with the exit code one process would have (4) when the workers cannot start: %s',
    async (_what, args, named) => {
      const cwd = await clientKeyDir()
      const agent = await startUpstream(echoAgent)
      ups.push(agent)
      const port = await freePort()
      const gw = startCli(
        ['gateway', 'start', '--port', String(port), '--target', agent.url, '--workers', '2', ...args].concat(
          args.includes('--local-key') ? [] : ['--local-key', 'client/public.jwk'],
        ),
        { cwd },
      )
      expect(await gw.exited).toBe(4)
      expect(gw.stderr()).toMatch(named)
      expect(gw.stderr()).toMatch(/a worker could not start \(exit code 4\); stopped/)
    },
  )

  it('stops with exit code 4 when the port is taken', async () => {
    const taken = await startUpstream(echoAgent)
    ups.push(taken)
    const cwd = await clientKeyDir()
    const gw = startCli(
      ['gateway', 'start', '--port', String(taken.port), '--host', '127.0.0.1', '--target', taken.url].concat(
        ['--local-key', 'client/public.jwk', '--workers', '2'],
      ),
      { cwd },
    )
    expect(await gw.exited).toBe(4)
    expect(gw.stderr()).toMatch(/a worker could not start/)
  })
})
