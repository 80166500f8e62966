import { renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, afterEach, describe, expect, it } from '@jest/globals'

import { issueBadge } from '../../../src/lib/badge/issue.js'
import { verifyBadge } from '../../../src/lib/badge/verify.js'
import { createBadgeVerifier } from '../../../src/lib/gateway/badge-verifier.js'
import { TrustStoreKeySource } from '../../../src/lib/keysource/truststore.js'
import { TrustStore } from '../../../src/lib/store/truststore.js'
import { edKey } from '../../helpers/badges.js'
import { gatewayWithAgent } from '../../helpers/gateway.js'
import { rejection } from '../../helpers/thrown.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'

const partner = edKey()
const open: { close(): Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()))
})
afterAll(cleanupTmp)

/** A trust store with the partner's key, as its source with a clock the test moves. */
async function partnerStore() {
  const dir = tmpDir()
  await new TrustStore(dir).add(partner.publicKey, partner.did)
  let t = 1_800_000_000_000
  const source = new TrustStoreKeySource(new TrustStore(dir), { now: () => t })
  const badge = (await issueBadge({ privateKey: partner.privateKey, sub: 'did:web:a.example.com' })).token
  return { dir, source, badge, later: () => (t += 6000) }
}

describe('the trust store as a key source is not ready while a store-wide file cannot be read', () => {
  it('a corrupt issuers.json: refused as TRUST_STORE_INVALID, not ready naming it, ready again once fixed', async () => {
    const { dir, source, badge, later } = await partnerStore()
    await verifyBadge(badge, { keys: source })
    expect(source.ready()).toBe(true)
    writeFileSync(join(dir, 'issuers.json'), '{')
    later()
    expect((await rejection(verifyBadge(badge, { keys: source }))).code).toBe('TRUST_STORE_INVALID')
    expect(source.ready()).toBe(false)
    expect(source.notReadyReason()).toContain(join(dir, 'issuers.json'))
    writeFileSync(join(dir, 'issuers.json'), '{}')
    // Within the cache time the failure stands (no disk read per request); after it, it is read again.
    expect((await rejection(verifyBadge(badge, { keys: source }))).code).toBe('TRUST_STORE_INVALID')
    later()
    await verifyBadge(badge, { keys: source })
    expect([source.ready(), source.notReadyReason()]).toEqual([true, undefined])
  })

  it('a trust directory removed while running: FILE_NOT_FOUND and not ready, rather than an empty store', async () => {
    const { dir, source, badge, later } = await partnerStore()
    await verifyBadge(badge, { keys: source })
    renameSync(dir, `${dir}-gone`)
    later()
    const err = await rejection(verifyBadge(badge, { keys: source }))
    expect([err.code, err.message]).toEqual(['FILE_NOT_FOUND', `the trust directory ${dir} is gone`])
    expect(source.ready()).toBe(false)
    renameSync(`${dir}-gone`, dir)
    later()
    // /ready's own poll reads it again in the background.
    expect(source.ready()).toBe(false)
    // Bounded: the background read is a stat and a file read on the thread pool.
    for (let i = 0; i < 10_000 && !source.ready(); i++) await new Promise((r) => setImmediate(r))
    expect(source.ready()).toBe(true)
  })

  it('the gateway: /ready is 503 naming the store, and badged requests get 503, not 403', async () => {
    const { dir, source, badge, later } = await partnerStore()
    const { gw, up } = await gatewayWithAgent(createBadgeVerifier({ keys: source }), { drainGraceMs: 0 })
    open.push(gw, up)
    const auth = { authorization: `Bearer ${badge}` }
    expect((await fetch(`${gw.url}/x`, { headers: auth })).status).toBe(200)
    writeFileSync(join(dir, 'issuers.json'), '[')
    later()
    const denied = await fetch(`${gw.url}/x`, { headers: auth })
    expect([denied.status, await denied.json()]).toEqual([
      503,
      { error: 'credential verification unavailable' },
    ])
    const ready = await fetch(`${gw.url}/ready`)
    expect([ready.status, await ready.json()]).toEqual([
      503,
      { status: 'not ready', reason: 'key source not loaded' },
    ])
  })
})
