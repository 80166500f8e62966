// `capiscio gateway start` against nginx proxying the same fast upstream, in the same run (target: the
// gateway, verifying a distinct valid badge on every request, reaches ≥ 0.5× nginx's requests/s with no
// errors). The upstream is an nginx answering "ok" on loopback; the reference is a second nginx with one
// worker and upstream keepalive; wrk drives both with the same Lua script, so the request bytes match.
// Every gateway round is a fresh process, and no badge repeats within a process's life, so its verify
// cache never hits (checked on /metrics afterwards).
import { spawn, spawnSync } from 'node:child_process'
import {
  appendFileSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
} from 'node:fs'
import { rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { createServer } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

import { createPublicKey, sign, verify } from 'node:crypto'
import { createRequire } from 'node:module'

import { generateKey, issueBadge, publicJwkOf, readSigningKey } from '../dist/index.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const BIN = join(ROOT, 'bin', 'run.js')
const NGINX = process.env.BENCH_NGINX ?? 'nginx'
const WRK = process.env.BENCH_WRK ?? 'wrk'
const SECONDS = Number(process.env.BENCH_GATEWAY_SECONDS ?? 10)
const WARMUP = Number(process.env.BENCH_GATEWAY_WARMUP ?? 2)
const ROUNDS = Number(process.env.BENCH_GATEWAY_ROUNDS ?? 2)
const CONNECTIONS = Number(process.env.BENCH_GATEWAY_CONNECTIONS ?? 32)
const THREADS = 1
const WORKER_COUNTS = [1, 2]
const TARGET = 0.5
const JUNK = process.env.BENCH_GATEWAY_JUNK !== '0'
const JUNK_TARGET = 0.8
const PATH = '/api/task'

// The wrk script: each thread takes every THREADS-th badge from `offset` on, one per request, and
// `done` prints one JSON line with the counters, the latency percentiles and how many badges a
// thread used (and whether it ran out and had to reuse them).
const LUA = `
local threads = {}
local count = 0
function setup(thread)
  thread:set("id", count)
  table.insert(threads, thread)
  count = count + 1
end
function init(args)
  local file, offset, step = args[1], tonumber(args[2]), tonumber(args[3])
  tokens = {}
  local i = 0
  for line in io.lines(file) do
    if i >= offset and (i - offset) % step == id then tokens[#tokens + 1] = line end
    i = i + 1
  end
  used = 0
  wrapped = 0
end
function request()
  used = used + 1
  if used > #tokens then wrapped = 1 end
  wrk.headers["Authorization"] = "Bearer " .. tokens[((used - 1) % #tokens) + 1]
  return wrk.format()
end
function done(summary, latency, requests)
  local most, wrap = 0, 0
  for _, t in ipairs(threads) do
    most = math.max(most, t:get("used"))
    wrap = math.max(wrap, t:get("wrapped"))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%.0f,"p99_us":%.0f,"max_us":%.0f,"used_per_thread":%d,"wrapped":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, most, wrap))
end
`

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

/** GET on loopback with a fresh connection; resolves { status, body }, rejects on error or timeout. */
function get(port, path, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode, body }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

const rssKb = (pid) => {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) : 0
  } catch {
    return 0
  }
}

function childrenOf(pid) {
  const kids = []
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim()
      if (text) kids.push(...text.split(/\s+/).map(Number))
    }
  } catch {
    // gone
  }
  return kids
}

/** RSS of a process and all its descendants, in MB, and how many processes that was. */
function treeRss(pid) {
  const pids = [pid]
  for (let i = 0; i < pids.length; i++) pids.push(...childrenOf(pids[i]))
  return { mb: pids.reduce((s, p) => s + rssKb(p), 0) / 1024, processes: pids.length }
}

/** Microseconds per bare node:crypto Ed25519 verify of these badges: the floor of the gateway's per-request cost. */
/** µs per Ed25519 verify of the bench badges, bare: with node:crypto, and with libsodium (what the gateway uses). */
function bareVerify(tokens, publicKey) {
  const sodium = createRequire(import.meta.url)('sodium-native')
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url')
  const run = (check) => {
    const t0 = process.hrtime.bigint()
    for (const t of tokens) {
      const dot = t.lastIndexOf('.')
      if (!check(Buffer.from(t.slice(0, dot), 'latin1'), Buffer.from(t.slice(dot + 1), 'base64url'))) {
        throw new Error('a bench badge did not verify')
      }
    }
    return Number(process.hrtime.bigint() - t0) / 1000 / tokens.length
  }
  const node = (data, sig) => verify(null, data, publicKey, sig)
  const lib = (data, sig) => sodium.crypto_sign_verify_detached(sig, data, raw)
  run(node)
  run(lib)
  return { node: Math.min(run(node), run(node)), sodium: Math.min(run(lib), run(lib)) }
}

const procs = (n) => `${n} process${n === 1 ? '' : 'es'}`
const mb = (x) => `${x.toFixed(0)} MB`
const ms = (us) => `${(us / 1000).toFixed(2)} ms`

export async function gatewayBench() {
  const dir = mkdtempSync(join(tmpdir(), 'capiscio-bench-gw-'))
  const groups = new Set() // process-group ids of everything long-lived we start (detached)
  const children = new Set() // short-lived children (wrk)
  const killAll = () => {
    for (const g of groups) {
      try {
        process.kill(-g, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    for (const c of children) c.kill('SIGKILL')
  }
  const onSignal = () => {
    killAll()
    rmSync(dir, { recursive: true, force: true })
    process.exit(130)
  }
  process.on('exit', killAll)
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  /** Starts a long-lived process in its own process group; returns { child, exited }. */
  function start(cmd, args, opts) {
    const child = spawn(cmd, args, { ...opts, detached: true })
    groups.add(child.pid)
    const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve({ code, sig })))
    child.once('error', () => undefined)
    return { child, exited }
  }
  /** SIGTERM to the group, then SIGKILL if it is still there after `graceMs`. */
  async function stop(p, graceMs = 5000) {
    if (!groups.has(p.child.pid)) return
    try {
      process.kill(-p.child.pid, 'SIGTERM')
    } catch {
      // gone
    }
    const done = await Promise.race([p.exited.then(() => true), sleep(graceMs).then(() => false)])
    try {
      process.kill(-p.child.pid, 'SIGKILL') // also reaps any straggler in the group
    } catch {
      // gone
    }
    if (!done) await Promise.race([p.exited, sleep(2000)])
    groups.delete(p.child.pid)
  }

  async function waitFor(port, path, p, what, timeoutMs = 20000) {
    const deadline = Date.now() + timeoutMs
    let exit
    p.exited.then((e) => (exit = e))
    while (Date.now() < deadline) {
      if (exit) throw new Error(`${what} exited (${exit.code ?? exit.sig}) before answering`)
      try {
        if ((await get(port, path, 1000)).status < 500) return
      } catch {
        // not yet
      }
      await sleep(50)
    }
    throw new Error(`${what} did not answer ${path} within ${timeoutMs / 1000}s`)
  }

  async function nginx(name, httpBlock) {
    const prefix = join(dir, name)
    mkdirSync(prefix)
    const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
      .map((t) => `  ${t}_temp_path ${join(prefix, t)};`)
      .join('\n')
    const conf = join(prefix, 'nginx.conf')
    writeFileSync(
      conf,
      [
        process.getuid?.() === 0 ? 'user root;' : '',
        'worker_processes 1;',
        'daemon off;',
        'master_process on;',
        `pid ${join(prefix, 'nginx.pid')};`,
        `error_log ${join(prefix, 'error.log')} warn;`,
        'events { worker_connections 1024; }',
        'http {',
        '  access_log off;',
        temps,
        httpBlock,
        '}',
        '',
      ].join('\n'),
    )
    const check = spawnSync(NGINX, ['-t', '-q', '-p', prefix, '-e', join(prefix, 'error.log'), '-c', conf], {
      encoding: 'utf8',
      timeout: 10000,
    })
    if (check.error)
      throw new Error(`cannot run ${NGINX}: ${check.error.message} (apt-get install -y nginx-light)`)
    if (check.status !== 0) throw new Error(`nginx config ${name}: ${check.stderr}`)
    const err = openSync(join(prefix, 'stderr.log'), 'w')
    const p = start(NGINX, ['-p', prefix, '-e', join(prefix, 'error.log'), '-c', conf], {
      stdio: ['ignore', 'ignore', err],
    })
    closeSync(err)
    return p
  }

  /** One wrk run; returns the parsed JSON line from the script's `done`. */
  async function wrk(port, seconds, tokensFile, offset) {
    const args = [
      `-t${THREADS}`,
      `-c${CONNECTIONS}`,
      `-d${seconds}s`,
      '--timeout',
      '5s',
      '--latency',
      '-s',
      join(dir, 'badges.lua'),
      `http://127.0.0.1:${port}${PATH}`,
      '--',
      tokensFile,
      String(offset),
      String(THREADS),
    ]
    const child = spawn(WRK, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(child)
    let out = ''
    let errText = ''
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => (errText += c))
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000)
    const { code, error } = await new Promise((resolve) => {
      child.once('error', (e) => resolve({ error: e }))
      child.once('close', (c) => resolve({ code: c }))
    })
    clearTimeout(timer)
    children.delete(child)
    if (error) throw new Error(`cannot run ${WRK}: ${error.message} (apt-get install -y wrk)`)
    const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '))
    if (code !== 0 || !line) throw new Error(`wrk exited ${code}: ${errText || out}`)
    const r = JSON.parse(line.slice('BENCH_JSON '.length))
    r.rps = r.requests / (r.duration_us / 1e6)
    r.errors = r.connect + r.read + r.write + r.status + r.timeout
    return r
  }

  // Badges: a pool that grows as needed; a gateway process reads it from 0 on and must never wrap.
  const tokensFile = join(dir, 'badges.txt')
  let pool = 0
  let key
  async function ensureTokens(n) {
    if (n <= pool) return
    const lines = []
    for (let i = pool; i < n; i++) {
      const b = await issueBadge({ ...key, sub: `did:web:agent-${i}.example.com`, ttlSeconds: 3600 })
      lines.push(b.token)
    }
    appendFileSync(tokensFile, lines.join('\n') + '\n')
    pool = n
  }

  /** Counter samples from one scrape of /metrics (with --workers N, the sum over all workers). */
  async function scrapeMetrics(port) {
    const { body } = await get(port, '/metrics', 5000)
    const num = (re) => {
      const m = re.exec(body)
      return m ? Number(m[1]) : 0
    }
    const total = {
      allowed: num(
        /^capiscio_gateway_auth_total\{result="allowed",reason="valid",credential="badge"\} (\S+)/m,
      ),
      hits: num(/^capiscio_gateway_verify_cache_total\{result="hit"\} (\S+)/m),
      misses: num(/^capiscio_gateway_verify_cache_total\{result="miss"\} (\S+)/m),
      non200: 0,
      clientClosed: 0,
      // Workers that did not answer the primary in time (their last numbers were used instead).
      workersMissing: num(/^capiscio_gateway_metrics_workers_missing (\S+)/m),
    }
    for (const m of body.matchAll(/^capiscio_gateway_requests_total\{code="(\d+)",method="GET"\} (\S+)/gm)) {
      // 499: requests wrk still had in flight when its run ended and it closed the connections.
      if (m[1] === '499') total.clientClosed += Number(m[2])
      else if (m[1] !== '200') total.non200 += Number(m[2])
    }
    return total
  }

  /**
   * Refusing junk: a flood of tokens that name an unknown kid (or carry none) with a bad signature must
   * not make the gateway try every trusted key. One gateway trusting a 100-key JWKS (`--local-key`); wrk
   * sends the same token on every request: one that fails the shape check (the cheapest refusal, the
   * baseline), one naming a kid the set lacks, and one without a kid claiming an issuer no key is bound
   * to. Target: each costs at least JUNK_TARGET of the baseline's requests/s (no signature work).
   */
  async function junkPhase(upPort) {
    const keys = []
    for (let i = 0; i < 100; i++) keys.push(publicJwkOf((await generateKey('EdDSA')).publicKey, `bench-${i}`))
    const jwksFile = join(dir, 'jwks-100.json')
    writeFileSync(jwksFile, JSON.stringify({ keys }))
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const now = Math.floor(Date.now() / 1000)
    const vc = { type: ['VerifiableCredential', 'AgentIdentity'], credentialSubject: { level: '1' } }
    const claims = b64({
      jti: 'junk',
      iss: 'https://issuer.example.com',
      sub: 'did:web:a.example.com',
      iat: now,
      exp: now + 3600,
      vc,
    })
    // A real Ed25519 signature by a key outside the set: well-formed, so no verifier can reject it
    // cheaply (random bytes would fail libsodium's S < L check before any curve arithmetic).
    const outsider = (await generateKey('EdDSA')).privateKey
    const signed = (header) => {
      const input = `${b64(header)}.${claims}`
      return `${input}.${sign(null, Buffer.from(input), outsider).toString('base64url')}`
    }
    const tokens = [
      ['malformed (fails the shape check)', 'not-a-badge'],
      ['unknown kid, bad signature', signed({ alg: 'EdDSA', typ: 'JWT', kid: 'no-such-kid' })],
      ['no kid, unbound issuer, bad signature', signed({ alg: 'EdDSA', typ: 'JWT' })],
    ]
    const port = await freePort()
    const log = openSync(join(dir, 'gateway-junk.log'), 'w')
    const args = [
      BIN,
      'gateway',
      'start',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--log-format',
      'json',
    ]
    args.push('--target', `http://127.0.0.1:${upPort}`, '--local-key', jwksFile)
    const gw = start(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: 'production' },
      stdio: ['ignore', 'ignore', log],
    })
    closeSync(log)
    const out = []
    try {
      await waitFor(port, '/health', gw, 'gateway (junk)')
      // ROUNDS interleaved rounds over the tokens; each token's better round counts, as above.
      const files = tokens.map(([, token], i) => {
        const file = join(dir, `junk-${i}.txt`)
        writeFileSync(file, token + '\n')
        return file
      })
      for (let round = 1; round <= ROUNDS; round++) {
        for (const [i, [name]] of tokens.entries()) {
          await wrk(port, WARMUP, files[i], 0)
          const r = { name, ...(await wrk(port, SECONDS, files[i], 0)) }
          if (!out[i] || r.rps > out[i].rps) out[i] = r
        }
      }
    } finally {
      await stop(gw, 10000)
    }
    return out
  }

  let nginxVersion = ''
  let bareVerifyUs = { node: 0, sodium: 0 }
  const results = { nginx: [], ...Object.fromEntries(WORKER_COUNTS.map((w) => [`gw${w}`, []])) }
  let upstream
  let reference
  let junk
  try {
    writeFileSync(join(dir, 'badges.lua'), LUA)
    const v = spawnSync(NGINX, ['-v'], { encoding: 'utf8', timeout: 10000 })
    if (v.error) throw new Error(`cannot run ${NGINX}: ${v.error.message} (apt-get install -y nginx-light)`)
    nginxVersion = /nginx\/(\S+)/.exec(v.stderr)?.[1] ?? '?'
    const keygen = spawnSync(process.execPath, [BIN, 'key', 'gen', '--out', join(dir, 'k'), '-q'], {
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: 'production' },
      encoding: 'utf8',
      timeout: 30000,
    })
    if (keygen.status !== 0) throw new Error(`key gen failed: ${keygen.stderr}`)
    key = await readSigningKey(join(dir, 'k'))
    writeFileSync(tokensFile, '')
    await ensureTokens(Number(process.env.BENCH_GATEWAY_TOKENS ?? 20000))
    bareVerifyUs = bareVerify(
      readFileSync(tokensFile, 'latin1').split('\n', 2000),
      createPublicKey(key.privateKey),
    )

    const upPort = await freePort()
    upstream = await nginx(
      'upstream',
      `  keepalive_requests 1000000;\n  server {\n    listen 127.0.0.1:${upPort};\n` +
        `    location / { default_type text/plain; return 200 "ok\\n"; }\n  }`,
    )
    await waitFor(upPort, '/', upstream, 'upstream nginx')
    const refPort = await freePort()
    reference = await nginx(
      'reference',
      `  upstream u { server 127.0.0.1:${upPort}; keepalive 64; }\n  keepalive_requests 1000000;\n` +
        `  server {\n    listen 127.0.0.1:${refPort};\n    location / {\n      proxy_pass http://u;\n` +
        `      proxy_http_version 1.1;\n      proxy_set_header Connection "";\n    }\n  }`,
    )
    await waitFor(refPort, '/', reference, 'reference nginx')

    let rateSeen = 0 // highest gateway requests/s so far, to size the badge pool
    for (let round = 1; round <= ROUNDS; round++) {
      await wrk(refPort, WARMUP, tokensFile, 0)
      const n = await wrk(refPort, SECONDS, tokensFile, 0)
      results.nginx.push({ ...n, round, rss: treeRss(reference.child.pid) })

      for (const workers of WORKER_COUNTS) {
        const port = await freePort()
        const logFile = join(dir, `gateway-w${workers}-r${round}.log`)
        const log = openSync(logFile, 'w')
        const args = [BIN, 'gateway', 'start', '--host', '127.0.0.1', '--port', String(port)]
        args.push('--target', `http://127.0.0.1:${upPort}`, '--local-key', join(dir, 'k', 'public.jwk'))
        args.push('--log-format', 'json', '--workers', String(workers))
        const gw = start(process.execPath, args, {
          cwd: ROOT,
          env: { ...process.env, NODE_ENV: 'production' },
          stdio: ['ignore', 'ignore', log],
        })
        closeSync(log)
        try {
          await waitFor(port, '/health', gw, `gateway --workers ${workers}`)
          const deadline = Date.now() + 20000
          const started = () => (readFileSync(logFile, 'utf8').match(/capiscio gateway /g) ?? []).length
          while (workers > 1 && started() < workers + 1 && Date.now() < deadline) await sleep(50)
          // Warm-up, then size the pool from its rate (with room to spare) before the measured run.
          const w = await wrk(port, WARMUP, tokensFile, 0)
          rateSeen = Math.max(rateSeen, w.rps)
          const offset = w.used_per_thread * THREADS
          await ensureTokens(Math.ceil(offset + rateSeen * SECONDS * 1.6) + 1000)
          const g = await wrk(port, SECONDS, tokensFile, offset)
          rateSeen = Math.max(rateSeen, g.rps)
          const rss = treeRss(gw.child.pid)
          const metrics = await scrapeMetrics(port)
          results[`gw${workers}`].push({
            ...g,
            round,
            workers,
            rss,
            metrics,
            warmErrors: w.errors,
            wrapped: w.wrapped || g.wrapped,
            badgesUsed: offset + g.used_per_thread * THREADS,
            wrkRequests: w.requests + g.requests,
          })
        } finally {
          await stop(gw, 10000)
        }
      }
    }
    if (JUNK) junk = await junkPhase(upPort)
  } finally {
    if (reference) await stop(reference)
    if (upstream) await stop(upstream)
    killAll()
    process.removeListener('exit', killAll)
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
    rmSync(dir, { recursive: true, force: true })
  }

  // Better of the rounds per target (highest requests/s); every round is listed below the table.
  const best = (runs) => runs.reduce((a, b) => (b.rps > a.rps ? b : a))
  const ref = best(results.nginx)
  const errorsOf = (r) => r.errors + (r.warmErrors ?? 0) + (r.metrics?.non200 ?? 0)
  const errText = (r) => {
    const parts = ['connect', 'read', 'write', 'status', 'timeout']
      .filter((k) => r[k] > 0)
      .map((k) => `${k} ${r[k]}`)
    if (r.warmErrors) parts.push(`warm-up ${r.warmErrors}`)
    if (r.metrics?.non200) parts.push(`non-200 ${r.metrics.non200}`)
    return parts.length ? parts.join(', ') : '0'
  }
  const rows = [
    `| nginx ${nginxVersion}, 1 worker, upstream keepalive | ${ref.rps.toFixed(0)} | ${ms(ref.p50_us)} | ${ms(ref.p99_us)} | ` +
      `${errText(ref)} | ${mb(ref.rss.mb)} (${procs(ref.rss.processes)}) | 1.00× |`,
  ]
  const gatewayRuns = WORKER_COUNTS.flatMap((w) => results[`gw${w}`])
  for (const workers of WORKER_COUNTS) {
    const g = best(results[`gw${workers}`])
    const ratio = g.rps / ref.rps
    const met = ratio >= TARGET && gatewayRuns.every((r) => errorsOf(r) === 0)
    rows.push(
      `| \`capiscio gateway start --workers ${workers}\` | ${g.rps.toFixed(0)} | ${ms(g.p50_us)} | ${ms(g.p99_us)} | ` +
        `${errText(g)} | ${mb(g.rss.mb)} (${procs(g.rss.processes)}) | ${ratio.toFixed(2)}× ` +
        `${met ? '(met)' : '(NOT met)'} |`,
    )
  }
  const allRuns = [
    ...results.nginx.map((r) => ['nginx', r]),
    ...WORKER_COUNTS.flatMap((w) => results[`gw${w}`].map((r) => [`gateway --workers ${w}`, r])),
  ].sort((a, b) => a[1].round - b[1].round)
  const detail = allRuns.map(
    ([name, r]) =>
      `| ${r.round} | ${name} | ${r.requests} | ${r.rps.toFixed(0)} | ${ms(r.p50_us)} | ${ms(r.p99_us)} | ` +
      `${ms(r.max_us)} | ${errText(r)} | ${mb(r.rss.mb)} | ` +
      (r.metrics
        ? `${r.badgesUsed} of ${pool}${r.wrapped ? ' (REUSED)' : ''} | ${r.metrics.hits} | ` +
          `${r.metrics.allowed} of ${r.wrkRequests} |`
        : '– | – | – |'),
  )
  const totalErrors = [...results.nginx, ...gatewayRuns].reduce((s, r) => s + errorsOf(r), 0)
  const hits = gatewayRuns.reduce((s, r) => s + r.metrics.hits, 0)
  const reused = gatewayRuns.some((r) => r.wrapped)
  const unseen = gatewayRuns.filter((r) => r.metrics.workersMissing > 0)
  const notes = [
    totalErrors === 0
      ? 'No errors: every wrk error counter (connect, read, write, status, timeout) was zero in every run, ' +
        "warm-ups included, and the gateway's /metrics counted no answer other than 200 (and the 499s below)."
      : `**Errors: ${totalErrors}** across all runs (see the rounds table).`,
    `Requests cut by wrk itself when each run ended (its connections closed with a request in flight; ` +
      `logged and counted as 499, not errors): ${gatewayRuns.reduce((n, r) => n + r.metrics.clientClosed, 0)} over all gateway runs.`,
    reused
      ? '**Some badges were reused within one gateway process** (the pool ran out), so the verify cache could hit.'
      : `No badge repeated within a gateway process (pool ${pool} badges).`,
    ...(unseen.length
      ? [
          '**Some workers did not answer the /metrics scrape in time in some rounds**, so the hit and error counts there may be stale.',
        ]
      : []),
    `For scale: a bare Ed25519 verify of one of these badges costs ${bareVerifyUs.node.toFixed(0)} µs with \`node:crypto\` ` +
      `and ${bareVerifyUs.sodium.toFixed(0)} µs with libsodium (the gateway's backend) on this machine (idle), i.e. at most ` +
      `${(1e6 / bareVerifyUs.sodium).toFixed(0)} verifications/s per fully used core before any HTTP, proxying or logging; ` +
      `the target asks for ${(TARGET * ref.rps).toFixed(0)} requests/s.`,
    `Verify-cache hits on the gateway's /metrics (summed over workers, all rounds): ${hits}` +
      (hits === 0 ? ' — every request was verified.' : ' — NOT every request was verified.'),
  ]
  return [
    '## Gateway vs nginx',
    '',
    `\`node bench/run.js gateway\`. Loopback only. Upstream: nginx (1 worker) answering \`200 ok\` to every ` +
      `request. Reference: nginx with 1 worker proxying to it with upstream keepalive (64). Gateway: ` +
      `\`capiscio gateway start --target <upstream> --local-key public.jwk --log-format json\` (NODE_ENV=production, ` +
      `request log on, to a file), a fresh process per round, with \`--workers 1\` and \`--workers 2\`. ` +
      `Load: \`wrk -t${THREADS} -c${CONNECTIONS} -d${SECONDS}s --latency\` on \`GET ${PATH}\` after a ${WARMUP} s ` +
      `warm-up, every request carrying a distinct valid Ed25519 badge (the same script and bytes for nginx, ` +
      `which ignores the header). ${ROUNDS} interleaved rounds (nginx, gateway ×1, gateway ×2); the table ` +
      `shows each target's better round. The machine has ${cpus().length} cores, shared by wrk, the upstream ` +
      `nginx and the proxy under test. RSS is measured after the run (the gateway's: primary plus workers). ` +
      `Target: the gateway reaches ≥ ${TARGET}× nginx's requests/s with no errors.`,
    '',
    '| proxy | requests/s | p50 | p99 | errors | RSS after | ratio to nginx |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...notes.map((n) => `- ${n}`),
    '',
    'Every round:',
    '',
    '| round | target | requests | requests/s | p50 | p99 | max | errors | RSS after | badges used (no reuse) | cache hits | allowed / completed by wrk |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...detail,
    '',
    ...(junk ? junkSection(junk) : []),
  ].join('\n')
}

/** The "refusing junk" table: each junk token's requests/s against the malformed-token baseline. */
function junkSection(runs) {
  const base = runs[0].rps
  const rows = runs.map((r, i) => {
    const ratio = r.rps / base
    const verdict =
      i === 0 ? '1.00× (baseline)' : `${ratio.toFixed(2)}× ${ratio >= JUNK_TARGET ? '(met)' : '(NOT met)'}`
    return `| ${r.name} | ${r.rps.toFixed(0)} | ${ms(r.p50_us)} | ${ms(r.p99_us)} | ${r.connect + r.read + r.write + r.timeout} | ${verdict} |`
  })
  return [
    '## Refusing junk',
    '',
    `One gateway trusting a 100-key JWKS (\`--local-key jwks-100.json\`), \`wrk -t${THREADS} -c${CONNECTIONS} -d${SECONDS}s\` ` +
      `sending the same refused token on every request (every answer is a 403), ${ROUNDS} interleaved rounds, each token's better round. The baseline is a token that ` +
      'fails the first check (shape); the others pass decoding and claims and must be refused without trying ' +
      `the 100 keys. Target: ≥ ${JUNK_TARGET}× the baseline's requests/s.`,
    '',
    '| token | requests/s | p50 | p99 | socket errors | ratio to baseline |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ]
}
