// SimpleGuard verifyInbound on distinct tokens with a 1 KiB body, against a bare node:crypto
// Ed25519 verify plus a SHA-256 of the body over the same tokens, in the same run (goal ≥ 0.9×).
import { createHash, createPublicKey, verify } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { SimpleGuard } from '../dist/index.js'
import { loop, race } from './measure.js'

const N = Number(process.env.BENCH_GUARD_TOKENS ?? 4000)
const ROUNDS = Number(process.env.BENCH_GUARD_ROUNDS ?? 7)
const TARGET = 0.9

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

    const bare = loop('the bare loop', tokens, (t) => {
      const dot = t.lastIndexOf('.')
      createHash('sha256').update(body).digest()
      return verify(
        null,
        Buffer.from(t.slice(0, dot), 'latin1'),
        publicKey,
        Buffer.from(t.slice(dot + 1), 'base64url'),
      )
    })
    const ours = loop('verifyInbound', tokens, async (t) => (await guard.verifyInbound(t, body)).iat > 0)
    const [base, mine] = await race(ROUNDS, N, [{ run: bare }, { run: ours }])
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
