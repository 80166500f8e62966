// CLI cold start against `node -e 0`: each command is spawned N times, interleaved with the baseline
// so that machine noise hits both alike; the ratio of medians is the result (target ≤ 2.5×).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'run.js')
const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 30)
const TARGET = 2.5

function time(args, cwd) {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(process.execPath, args, {
    cwd,
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: 'ignore',
  })
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`)
  return ms
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

export async function startupBench() {
  const cwd = mkdtempSync(join(tmpdir(), 'capiscio-bench-'))
  try {
    time([BIN, 'key', 'gen', '--out', 'k', '--quiet'], cwd)
    const cases = [
      ['capiscio --version', [BIN, '--version']],
      ['capiscio key show k', [BIN, 'key', 'show', 'k']],
      [
        'capiscio badge issue --key k/private.jwk --sub did:web:agent.example.com',
        [BIN, 'badge', 'issue', '--key', 'k/private.jwk', '--sub', 'did:web:agent.example.com'],
      ],
    ]
    const base = []
    const samples = cases.map(() => [])
    for (let i = 0; i < 3; i++) time(['-e', '0'], cwd) // warm the file cache
    for (let i = 0; i < RUNS; i++) {
      base.push(time(['-e', '0'], cwd))
      cases.forEach(([, args], j) => samples[j].push(time(args, cwd)))
    }
    const b = median(base)
    const rows = cases.map(([name], j) => {
      const m = median(samples[j])
      const ratio = m / b
      return `| \`${name}\` | ${m.toFixed(1)} ms | ${ratio.toFixed(2)}× | ${ratio <= TARGET ? 'met' : 'NOT met'} |`
    })
    return [
      '## CLI cold start',
      '',
      `Median of ${RUNS} interleaved runs each; baseline \`node -e 0\` = ${b.toFixed(1)} ms. Target: ≤ ${TARGET}× the baseline.`,
      '',
      '| command | median | ratio to `node -e 0` | target |',
      '|---|---|---|---|',
      ...rows,
      '',
    ].join('\n')
  } finally {
    rmSync(cwd, { recursive: true, force: true })
  }
}
