import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from '@jest/globals'

import { decodeBadge } from '../../../src/lib/badge/decode.js'
import { issueBadge } from '../../../src/lib/badge/issue.js'
import { BadgeKeeper, type KeeperEvent } from '../../../src/lib/badge/keeper.js'
import { verifyBadge } from '../../../src/lib/badge/verify.js'
import { CapiscioError } from '../../../src/lib/errors.js'
import { StaticKeySource } from '../../../src/lib/keysource/static.js'
import { edKey } from '../../helpers/badges.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'

afterAll(cleanupTmp)

const key = edKey()
const keys = new StaticKeySource([{ publicKey: key.publicKey, kid: key.did }])
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The keeper runs on real timers; its clock is shifted by `offset` seconds so expiry can be forced. */
function setup(issueImpl?: () => Promise<Awaited<ReturnType<typeof issueBadge>>>) {
  const out = join(tmpDir(), 'badge.jwt')
  let offset = 0
  const now = () => Date.now() + offset * 1000
  const events: KeeperEvent[] = []
  const issue =
    issueImpl ??
    (() => issueBadge({ privateKey: key.privateKey, sub: 'did:web:agent.example.com', ttlSeconds: 300, now }))
  const keeper = new BadgeKeeper({
    outPath: out,
    issue,
    renewBeforeSeconds: 60,
    checkIntervalSeconds: 0.05,
    now,
    onEvent: (e) => events.push(e),
  })
  return { out, keeper, events, now, shift: (s: number) => (offset += s) }
}

const jtiOf = (path: string) => decodeBadge(readFileSync(path, 'utf8')).claims.jti

describe('BadgeKeeper', () => {
  it('writes a badge (0600) at start, keeps it while fresh, and renews it when under renew-before', async () => {
    const { out, keeper, events, now, shift } = setup()
    await keeper.start()
    expect(statSync(out).mode & 0o777).toBe(0o600)
    const first = jtiOf(out)
    await sleep(200)
    expect(jtiOf(out)).toBe(first)
    shift(250) // 50 s left < 60 s renew-before
    await sleep(200)
    await keeper.stop()
    const second = jtiOf(out)
    expect(second).not.toBe(first)
    expect(events.filter((e) => e.type === 'renewed')).toHaveLength(2)
    const r = await verifyBadge(readFileSync(out, 'utf8').trim(), { keys, now })
    expect(r.claims.jti).toBe(second)
  })

  it('survives failed renewals: keeps the old badge, retries with backoff, then recovers', async () => {
    let fail = false
    let calls = 0
    const { out, keeper, events, now, shift } = setup(async () => {
      calls++
      if (fail) throw new CapiscioError('NETWORK_ERROR', 'registry down')
      return issueBadge({ privateKey: key.privateKey, sub: 'did:web:agent.example.com', now })
    })
    await keeper.start()
    const before = readFileSync(out, 'utf8')
    fail = true
    shift(250)
    await sleep(1700) // retries at ~0.05 s (capped by the interval)…
    const errors = events.filter((e) => e.type === 'error')
    expect(errors.length).toBeGreaterThanOrEqual(2)
    expect(errors[0]).toMatchObject({ retryInSeconds: 0.05, keptUntil: expect.any(Number) })
    expect(readFileSync(out, 'utf8')).toBe(before)
    fail = false
    await sleep(300)
    await keeper.stop()
    expect(readFileSync(out, 'utf8')).not.toBe(before)
    expect(calls).toBeGreaterThan(errors.length)
  })

  it('backs off exponentially up to the check interval', async () => {
    const out = join(tmpDir(), 'b.jwt')
    const events: KeeperEvent[] = []
    const keeper = new BadgeKeeper({
      outPath: out,
      issue: async () => {
        throw new CapiscioError('NETWORK_ERROR', 'down')
      },
      checkIntervalSeconds: 30,
      onEvent: (e) => events.push(e),
    })
    await keeper.start()
    await sleep(3700) // attempts at 0, 1 and 3 s; the next would be at 7 s
    await keeper.stop()
    expect(events.map((e) => (e.type === 'error' ? e.retryInSeconds : -1))).toEqual([1, 2, 4])
  })

  it('reports the expiry of a badge left by an earlier run while renewals fail', async () => {
    const out = join(tmpDir(), 'old.jwt')
    const old = await issueBadge({ privateKey: key.privateKey, sub: 'did:web:agent.example.com' })
    writeFileSync(out, old.token)
    const events: KeeperEvent[] = []
    const keeper = new BadgeKeeper({
      outPath: out,
      issue: async () => {
        throw new CapiscioError('NETWORK_ERROR', 'down')
      },
      onEvent: (e) => events.push(e),
    })
    await keeper.start()
    await keeper.stop()
    expect(events[0]).toMatchObject({ type: 'error', keptUntil: old.claims.exp })
    expect(readFileSync(out, 'utf8')).toBe(old.token)
  })
})

describe('BadgeKeeper.current() (in memory, for clients that attach a badge to every call)', () => {
  function memoryKeeper(fail: { now: boolean }) {
    let t = 1_800_000_000_000
    const now = () => t
    let issued = 0
    const keeper = new BadgeKeeper({
      issue: async () => {
        if (fail.now) throw new CapiscioError('NETWORK_ERROR', 'the issuer is down')
        issued++
        return issueBadge({
          privateKey: key.privateKey,
          sub: 'did:web:agent.example.com',
          ttlSeconds: 120,
          now,
        })
      },
      renewBeforeSeconds: 30,
      now,
    })
    return { keeper, advance: (s: number) => (t += s * 1000), issued: () => issued }
  }

  it('issues on first use, returns the same badge while fresh, and renews within renew-before', async () => {
    const { keeper, advance, issued } = memoryKeeper({ now: false })
    const first = await keeper.current()
    expect(await keeper.current()).toBe(first)
    advance(80) // 40 s left: still fresh
    expect(await keeper.current()).toBe(first)
    advance(15) // 25 s left < 30 s renew-before: renewed on use, whatever the timer did
    const second = await keeper.current()
    expect(second).not.toBe(first)
    expect(decodeBadge(second).claims.exp).toBeGreaterThan(decodeBadge(first).claims.exp as number)
    expect(issued()).toBe(2)
    await keeper.stop()
  })

  it('concurrent callers share one renewal', async () => {
    const { keeper, issued } = memoryKeeper({ now: false })
    const all = await Promise.all(Array.from({ length: 20 }, () => keeper.current()))
    expect(new Set(all).size).toBe(1)
    expect(issued()).toBe(1)
    await keeper.stop()
  })

  it('while renewals fail, hands out the last badge until it expires, then throws the renewal error', async () => {
    const fail = { now: false }
    const { keeper, advance } = memoryKeeper(fail)
    const first = await keeper.current()
    fail.now = true
    advance(100) // 20 s left: renewal fails, the badge is still valid
    expect(await keeper.current()).toBe(first)
    advance(30) // expired
    await expect(keeper.current()).rejects.toMatchObject({ code: 'NETWORK_ERROR' })
    fail.now = false
    expect(await keeper.current()).not.toBe(first)
    await keeper.stop()
  })
})
