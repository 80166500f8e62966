import { createServer, connect, type AddressInfo, type Socket } from 'node:net'

import { afterEach, describe, expect, it } from '@jest/globals'

import { issueBadge } from '../../../src/lib/badge/issue.js'
import { createBadgeVerifier } from '../../../src/lib/gateway/badge-verifier.js'
import { RedisReplayStore, type RedisReplayOptions } from '../../../src/lib/gateway/replay-redis.js'
import type { Gateway } from '../../../src/lib/gateway/server.js'
import type { RequestLogEntry } from '../../../src/lib/gateway/types.js'
import { StaticKeySource } from '../../../src/lib/keysource/static.js'
import { edKey } from '../../helpers/badges.js'
import { gatewayWithAgent } from '../../helpers/gateway.js'
import { startRedis, stopAll, type Running } from '../../helpers/processes.js'
import { freePort } from '../../helpers/servers.js'

const client = edKey()
const keys = new StaticKeySource([{ publicKey: client.publicKey, kid: client.did }])
const badge = async () =>
  (
    await issueBadge({
      privateKey: client.privateKey,
      sub: 'did:capiscio:agent:client',
      domain: 'client.example.com',
    })
  ).token

const open: { close(): Promise<void> }[] = []
/** Redis processes stopped with SIGSTOP: resumed before they are killed, whatever a test did. */
const stopped = new Set<Running>()
afterEach(async () => {
  for (const r of stopped) r.child.kill('SIGCONT')
  stopped.clear()
  await Promise.all(open.splice(0).map((s) => s.close()))
  await stopAll()
})

/** Polls `check` until it holds, or fails after `ms` (the condition, not a guessed delay, is waited for). */
async function until(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** A real redis-server, a store on it (connected), and a gateway in front of an agent using it. */
async function withRedis(
  options: RedisReplayOptions,
): Promise<{ redis: Running; store: RedisReplayStore; gw: Gateway; logs: RequestLogEntry[] }> {
  const port = await freePort()
  const redis = startRedis(port)
  const store = new RedisReplayStore(`redis://127.0.0.1:${port}`, 60, undefined, options)
  open.push(store)
  // redis-server may not listen yet at the first attempt; the client reconnects on its own.
  await until(async () => store.ready(), 'Redis is connected')
  const { gw, up, logs } = await gatewayWithAgent(createBadgeVerifier({ keys }), { replay: store })
  open.push(gw, up)
  return { redis, store, gw, logs }
}

const stop = (r: Running) => (stopped.add(r), r.child.kill('SIGSTOP'))
const resume = (r: Running) => (stopped.delete(r), r.child.kill('SIGCONT'))

/** A badged request, given up on after 5 s (without a command timeout it would never be answered). */
const send = async (gw: Gateway, token: string) =>
  fetch(`${gw.url}/x`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) })
/** The n-th log line (1-based): a response's line is written when it closes, maybe after the client read it. */
async function line(logs: RequestLogEntry[], n: number): Promise<RequestLogEntry> {
  await until(async () => logs.length >= n, `${n} log lines`)
  return logs[n - 1]!
}
const readyStatus = async (gw: Gateway) => (await fetch(`${gw.url}/ready`)).status

describe('Redis replay store: a Redis that is connected but does not answer (SIGSTOP)', () => {
  it('answers a badged request 503 within the command timeout, and /ready 503 until Redis answers again', async () => {
    const { redis, gw, logs } = await withRedis({ commandTimeoutMs: 200 })
    expect((await send(gw, await badge())).status).toBe(200)

    stop(redis)
    const sentBeforeTimeout = await badge()
    const stalled = await send(gw, sentBeforeTimeout)
    expect([stalled.status, await stalled.json()]).toEqual([503, { error: 'replay protection unavailable' }])
    expect((await line(logs, 2)).reason).toBe(
      'replay protection unavailable: the replay store (Redis) did not answer within 200 ms',
    )
    const ready = await fetch(`${gw.url}/ready`)
    expect([ready.status, await ready.json()]).toEqual([
      503,
      { status: 'not ready', reason: 'replay store unavailable' },
    ])
    expect((await line(logs, 3)).reason).toBe('not ready: redis not answering: no answer within 200 ms')
    // Redis has not answered since: the next claim is refused at once, without being sent.
    const notSent = await badge()
    const refused = await send(gw, notSent)
    expect([refused.status, await refused.json()]).toEqual([503, { error: 'replay protection unavailable' }])
    expect((await line(logs, 4)).reason).toMatch(/not answering \(no answer within 200 ms\)$/)

    resume(redis)
    await until(async () => (await readyStatus(gw)) === 200, '/ready answers 200 again')
    // The claim that was never sent did not use the badge up.
    expect((await send(gw, notSent)).status).toBe(200)
    // The one written before the timeout was run by Redis once it resumed: used up (fail closed).
    const late = await send(gw, sentBeforeTimeout)
    expect([late.status, ((await late.json()) as { code: string }).code]).toEqual([403, 'BADGE_REPLAYED'])
    expect((await send(gw, await badge())).status).toBe(200)
  })

  it('turns /ready 503 while no request comes (a PING), and 200 once Redis answers again', async () => {
    const { redis, store, gw } = await withRedis({ commandTimeoutMs: 200, pingIntervalMs: 50 })
    expect(await readyStatus(gw)).toBe(200)
    stop(redis)
    await until(async () => (await readyStatus(gw)) === 503, '/ready answers 503')
    // Still on the stalled connection, or already on its way to a new one (three PINGs at 50 ms).
    expect(store.notReadyReason()).toMatch(
      /^redis (not answering|reconnecting|connecting|connect): (no answer within 200 ms|Command timed out)$/,
    )
    resume(redis)
    await until(async () => (await readyStatus(gw)) === 200, '/ready answers 200 again')
    expect((await send(gw, await badge())).status).toBe(200)
  })
})

/**
 * A TCP relay in front of Redis whose connections can be made dead without being closed: nothing
 * passes either way and no FIN or RST ever comes (a NAT or load balancer that dropped them, a
 * Redis that failed over). New connections are relayed as before.
 */
async function deadableRelay(
  redisPort: number,
): Promise<{ port: number; kill(): void; close(): Promise<void> }> {
  const pairs = new Set<[Socket, Socket]>()
  const server = createServer((client) => {
    const upstream = connect(redisPort, '127.0.0.1')
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    client.pipe(upstream)
    upstream.pipe(client)
    const drop = () => (pairs.delete(pair), client.destroy(), upstream.destroy())
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    kill() {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream)
        upstream.unpipe(client)
        client.pause()
        upstream.pause()
      }
    },
    async close() {
      for (const [client, upstream] of pairs) {
        client.destroy()
        upstream.destroy()
      }
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

describe('Redis replay store: a connection that is dead but never closed', () => {
  it('is replaced after three PINGs in a row get no answer: /ready turns 503, then 200 on the new connection, and claims work', async () => {
    const redisPort = await freePort()
    startRedis(redisPort)
    const relay = await deadableRelay(redisPort)
    open.push(relay)
    const store = new RedisReplayStore(`redis://127.0.0.1:${relay.port}`, 60, undefined, {
      commandTimeoutMs: 200,
      pingIntervalMs: 50,
    })
    open.push(store)
    await until(async () => store.ready(), 'Redis is connected')
    const { gw, up } = await gatewayWithAgent(createBadgeVerifier({ keys }), { replay: store })
    open.push(gw, up)
    const used = await badge()
    expect((await send(gw, used)).status).toBe(200)

    relay.kill()
    await until(async () => (await readyStatus(gw)) === 503, '/ready answers 503')
    // Redis itself is fine: a new connection reaches it, and the gateway is ready again by itself.
    await until(async () => (await readyStatus(gw)) === 200, '/ready answers 200 on a new connection')
    expect((await send(gw, await badge())).status).toBe(200)
    // Replay state lives in Redis, not in the connection: the badge used before is still used.
    const replayed = await send(gw, used)
    expect([replayed.status, ((await replayed.json()) as { code: string }).code]).toEqual([
      403,
      'BADGE_REPLAYED',
    ])
  })
})

describe('Redis replay store: what /ready says', () => {
  it('names the latest cause: a stall first, then the refused connection once Redis is gone', async () => {
    const { redis, store, gw } = await withRedis({ commandTimeoutMs: 200, pingIntervalMs: 50 })
    stop(redis)
    await until(async () => (await readyStatus(gw)) === 503, '/ready answers 503')
    stopped.delete(redis)
    redis.child.kill('SIGKILL')
    await until(
      async () => /ECONNREFUSED/.test(store.notReadyReason() ?? ''),
      'the reason names ECONNREFUSED',
    )
    expect(store.notReadyReason()).toMatch(
      /^redis (reconnecting|connecting|connect|close): connect ECONNREFUSED/,
    )
    expect(await readyStatus(gw)).toBe(503)
  })
})
