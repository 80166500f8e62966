// verifyBadge throughput against a bare node:crypto Ed25519 verify loop over the same tokens, in the
// same run (target ≥ 0.85×). Both sides split the token, decode the signature and verify it; ours
// also parses and checks header and claims, looks the key up, and checks time, audience and issuer.
import { createPublicKey, verify } from 'node:crypto'

import { generateKey, issueBadge, StaticKeySource, verifyBadge } from '../dist/index.js'

const N = Number(process.env.BENCH_VERIFY_TOKENS ?? 5000)
const ROUNDS = Number(process.env.BENCH_VERIFY_ROUNDS ?? 7)
const TARGET = 0.85

export async function verifyBench() {
  const key = await generateKey('EdDSA')
  const publicKey = createPublicKey(key.privateKey)
  const tokens = []
  for (let i = 0; i < N; i++) {
    const b = await issueBadge({
      privateKey: key.privateKey,
      kid: key.kid,
      sub: `did:web:agent-${i}.example.com`,
      aud: ['https://api.example.com'],
    })
    tokens.push(b.token)
  }
  const keys = new StaticKeySource([{ publicKey, kid: key.kid }])
  const options = { keys, audience: 'https://api.example.com' }

  function baseline() {
    let ok = 0
    for (const t of tokens) {
      const dot = t.lastIndexOf('.')
      const sig = Buffer.from(t.slice(dot + 1), 'base64url')
      if (verify(null, Buffer.from(t.slice(0, dot), 'latin1'), publicKey, sig)) ok++
    }
    if (ok !== N) throw new Error('baseline rejected a token')
  }
  async function ours() {
    let ok = 0
    for (const t of tokens) if ((await verifyBadge(t, options)).valid) ok++
    if (ok !== N) throw new Error('verifyBadge rejected a token')
  }
  const time = async (fn) => {
    const t0 = process.hrtime.bigint()
    await fn()
    return Number(process.hrtime.bigint() - t0) / 1e9
  }
  await time(baseline)
  await time(ours) // warm-up
  const base = []
  const mine = []
  for (let r = 0; r < ROUNDS; r++) {
    base.push(N / (await time(baseline)))
    mine.push(N / (await time(ours)))
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const b = median(base)
  const m = median(mine)
  const ratio = m / b
  return [
    '## Badge verification throughput',
    '',
    `${N} distinct valid Ed25519 badges, median of ${ROUNDS} interleaved rounds. Target: ≥ ${TARGET}× the bare loop.`,
    '',
    '| verifier | verifications/s | ratio |',
    '|---|---|---|',
    `| bare \`node:crypto\` Ed25519 verify loop | ${b.toFixed(0)} | 1.00× |`,
    `| \`verifyBadge\` (static key, audience check) | ${m.toFixed(0)} | ${ratio.toFixed(2)}× ${ratio >= TARGET ? '(met)' : '(NOT met)'} |`,
    '',
  ].join('\n')
}
