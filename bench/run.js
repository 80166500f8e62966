// npm run bench: every speed target is a ratio against a baseline measured in the same run.
// Results are printed and written to bench/RESULTS.md. `node bench/run.js verify|jwt|guard|startup|cache|gateway`
// runs one section and only prints it.
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { cacheBench } from './cache.js'
import { gatewayBench } from './gateway.js'
import { guardBench } from './guard.js'
import { jwtBench } from './jwt.js'
import { startupBench } from './startup.js'
import { verifyBench } from './verify.js'

const here = dirname(fileURLToPath(import.meta.url))
const sections = []
const only = process.argv[2]
if (!only || only === 'verify') sections.push(await verifyBench())
if (!only || only === 'startup') sections.push(await startupBench())
if (!only || only === 'cache') sections.push(await cacheBench())
// After the cache section: its 15,000 tokens and keys would otherwise weigh on the cache's timings.
if (!only || only === 'jwt') sections.push(await jwtBench())
if (!only || only === 'guard') sections.push(await guardBench())
if (!only || only === 'gateway') sections.push(await gatewayBench())

const md = [
  '# Benchmark results',
  '',
  `Produced by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ` +
    `${process.platform}-${process.arch}. Each target is a ratio against a baseline measured in the same run.`,
  '',
  ...sections,
].join('\n')
// A partial run (`node bench/run.js verify`) only prints: RESULTS.md always holds a whole run.
if (!only) writeFileSync(join(here, 'RESULTS.md'), md + '\n')
process.stdout.write(md + '\n')
