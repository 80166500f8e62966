// SimpleGuard verifyInbound on distinct tokens with a 1 KiB body, against a bare node:crypto
// Ed25519 verify plus a SHA-256 of the body over the same tokens, in the same run (goal ≥ 0.9×).
import { createHash, createPublicKey, verify } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { SimpleGuard } from '../dist/index.js'

const N = Number(process.env.BENCH_GUARD_TOKENS ?? 4000)
const ROUNDS = Number(process.env.BENCH_GUARD_ROUNDS ?? 7)
const TARGET = 0.9

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

export async function guardBench() {
  const dir = mkdtempSync(join(tmpdir(), 'capiscio-bench-guard-'))
  try {
    // Dev mode: the guard makes its key and trusts it, as an agent calling itself would.
    const guard = new SimpleGuard({ baseDir: dir, devMode: true, env: {} })
    const body = Buffer.alloc(1024, 'a')
    const tokens = []
    for (let i = 0; i < N; i++) tokens.push(await guard.signOutbound({ sub: `caller-${i}` }, body))
    const { readFileSync } = await import('node:fs')
    const publicKey = createPublicKey(readFileSync(join(guard.keysDir, 'public.pem'), 'utf8'))

    async function bare() {
      let ok = 0
      for (const t of tokens) {
        const dot = t.lastIndexOf('.')
        createHash('sha256').update(body).digest()
        if (
          verify(
            null,
            Buffer.from(t.slice(0, dot), 'latin1'),
            publicKey,
            Buffer.from(t.slice(dot + 1), 'base64url'),
          )
        )
          ok++
      }
      if (ok !== N) throw new Error('the bare loop refused a token')
    }
    async function ours() {
      let ok = 0
      for (const t of tokens) if ((await guard.verifyInbound(t, body)).iat) ok++
      if (ok !== N) throw new Error('verifyInbound refused a token')
    }
    const seconds = async (fn) => {
      const t0 = process.hrtime.bigint()
      await fn()
      return Number(process.hrtime.bigint() - t0) / 1e9
    }
    await bare()
    await ours()
    const b = []
    const o = []
    for (let r = 0; r < ROUNDS; r++) {
      b.push(N / (await seconds(bare)))
      o.push(N / (await seconds(ours)))
    }
    const base = median(b)
    const mine = median(o)
    const ratio = mine / base
    return [
      '## SimpleGuard verification throughput',
      '',
      `${N} distinct tokens over a 1 KiB body, median of ${ROUNDS} interleaved rounds. Target: ≥ ${TARGET}× the bare loop ` +
        '(node:crypto Ed25519 verify + SHA-256 of the body, no parsing or checks).',
      '',
      '| verifier | verifications/s | ratio |',
      '|---|---|---|',
      `| bare Ed25519 verify + SHA-256 of the body | ${base.toFixed(0)} | 1.00× |`,
      `| \`SimpleGuard.verifyInbound\` (trust store lookup, time, bh) | ${mine.toFixed(0)} | ${ratio.toFixed(2)}× ${ratio >= TARGET ? '(met)' : '(NOT met)'} |`,
      '',
    ].join('\n')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
