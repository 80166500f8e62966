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
