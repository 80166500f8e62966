// The gateway's verify cache on its hot path: what a request costs it once the cache is full.
// A miss on a badge's first sight (every request in the gateway benchmark, where no badge repeats)
// does get + offer, which only marks it; on its second, get + set, evicting; a hit hashes the token, finds the entry and re-checks that its signing key is still trusted.
import { createHash, generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import {
  createBadgeVerifier,
  issueBadge,
  StaticKeySource,
  TrustStore,
  TrustStoreKeySource,
} from '../dist/index.js'
import { VerifyCache } from '../dist/lib/gateway/verify-cache.js'

const SIZE = 10_000
const OPS = 200_000
const BATCHES = 5

/** Best per-op time in µs over BATCHES batches of OPS / BATCHES. */
async function best(op) {
  let min = Infinity
  for (let b = 0; b < BATCHES; b++) {
    const n = OPS / BATCHES
    const t = process.hrtime.bigint()
    for (let i = 0; i < n; i++) await op(b * n + i)
    min = Math.min(min, Number(process.hrtime.bigint() - t) / n / 1000)
  }
  return min
}

export async function cacheBench() {
  const cache = new VerifyCache(SIZE, () => 0)
  const keys = Array.from({ length: SIZE + OPS }, (_, i) =>
    createHash('sha256').update(String(i)).digest('base64url'),
  )
  for (let i = 0; i < SIZE; i++) cache.set(keys[i], { exp: 1e12 })
  const missSet = await best((i) => {
    cache.get(keys[SIZE + i])
    cache.set(keys[SIZE + i], { exp: 1e12 })
  })
  // A credential seen for the first time: looked up, offered, not kept (verify-cache.ts).
  const fresh = new VerifyCache(SIZE, () => 0)
  for (let i = 0; i < SIZE; i++) fresh.set(keys[i], { exp: 1e12 })
  const missOffer = await best((i) => {
    fresh.get(keys[SIZE + i])
    fresh.offer(keys[SIZE + i], { exp: 1e12 })
  })

  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const dir = mkdtempSync(join(tmpdir(), 'capiscio-bench-'))
  const store = new TrustStore(dir)
  await store.add(publicKey, 'ca-1', { issuers: ['https://issuer.example.com'] })
  const { token } = await issueBadge({
    privateKey,
    kid: 'ca-1',
    iss: 'https://issuer.example.com',
    sub: 'did:web:agent.example.com',
    ttlSeconds: 3600,
  })
  const hits = []
  for (const [name, keySource] of [
    ['trust store', new TrustStoreKeySource(store)],
    ['static key', new StaticKeySource([{ publicKey, kid: 'ca-1' }])],
  ]) {
    const verifier = createBadgeVerifier({ keys: keySource })
    // Twice: the cache keeps a badge from its second use.
    await verifier.verify(token)
    await verifier.verify(token)
    hits.push([name, await best(() => verifier.verify(token))])
  }
  rmSync(dir, { recursive: true, force: true })
  return [
    '## Verify cache',
    '',
    `\`node bench/run.js cache\`. A full ${SIZE}-entry cache, best of ${BATCHES} batches of ${OPS / BATCHES} operations.`,
    '',
    '| operation | µs per request |',
    '|---|---|',
    `| miss, first sight: get + offer (marked, not kept) | ${missOffer.toFixed(2)} |`,
    `| miss, seen before: get + set, evicting (two-generation maps) | ${missSet.toFixed(2)} |`,
    ...hits.map(([name, us]) => `| hit, ${name}: hash, lookup, signing key re-checked | ${us.toFixed(2)} |`),
    '',
  ].join('\n')
}
