// The gateway's cost per request, side by side in one run, on the same upstream and the same load:
// `capiscio gateway start` against a Go standard-library gateway doing the same job (bench/go-gateway:
// net/http + httputil.ReverseProxy, crypto/ed25519 verify and exp check on every request,
// GOMAXPROCS=1), a bare Node proxy with the same undici dispatch, libsodium verify and a plain cache
// (bench/bare-proxy.js), and nginx proxying without any verification (the reference).
//
// The machine's two cores are shared (wrk, the upstream nginx and the proxy under test run together,
// and other work may run beside them), so requests/s drifts from minute to minute; the main measure is
// CPU per request: utime+stime of the proxy's whole process tree from /proc/<pid>/stat, read just
// before and just after the measured wrk run, ÷ the requests wrk completed. Every contestant is a
// fresh process per round; rounds are interleaved (the order rotates each round) and the tables show
// medians.
//
// W1: every request carries a distinct badge, never reused within a proxy process (checked on the
// gateway's /metrics and the bare proxy's counters: no cache hit). W2: 500 badges reused round-robin,
// as clients keep a badge for its lifetime.
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
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

import { createPublicKey, sign, verify } from 'node:crypto'
import { createRequire } from 'node:module'

import { generateKey, issueBadge, publicJwkOf, readSigningKey } from '../dist/index.js'
import { median } from './measure.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..')
const BIN = join(ROOT, 'bin', 'run.js')
const NGINX = process.env.BENCH_NGINX ?? 'nginx'
const WRK = process.env.BENCH_WRK ?? 'wrk'
const GO = process.env.BENCH_GO ?? 'go'
const SECONDS = Number(process.env.BENCH_GATEWAY_SECONDS ?? 10)
const WARMUP = Number(process.env.BENCH_GATEWAY_WARMUP ?? 2)
const ROUNDS = Number(process.env.BENCH_GATEWAY_ROUNDS ?? 3)
const JUNK_ROUNDS = Number(process.env.BENCH_GATEWAY_JUNK_ROUNDS ?? 2)
const CONNECTIONS = Number(process.env.BENCH_GATEWAY_CONNECTIONS ?? 32)
const REUSED_BADGES = 500
const THREADS = 1
const JUNK = process.env.BENCH_GATEWAY_JUNK !== '0'
const JUNK_TARGET = 0.8
const PATH = '/api/task'
/**
 * Extra node options for the Node contestants (gateway and bare proxy), e.g. `--cpu-prof
 * --cpu-prof-dir=/tmp/prof` to see where their CPU goes (NODE_OPTIONS refuses --cpu-prof). The
 * numbers of such a run include the profiler's cost.
 */
const NODE_ARGS = (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)
/** The bar: each ratio and its limit. */
const BAR = { cpuVsGo: 1.1, rpsVsGo: 0.9, cpuVsBare: 1.05, w2VsNginx: 0.5, w2VsGo: 1.5 }
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

/** Every process of the tree rooted at pid (a gateway's primary and workers; nginx's master and worker). */
function treePids(pid) {
  const pids = [pid]
  for (let i = 0; i < pids.length; i++) pids.push(...childrenOf(pids[i]))
  return pids
}

/** utime and stime of one process, all its threads (fields 14 and 15 of /proc/<pid>/stat), in clock ticks. */
function procTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return { user: Number(fields[11]), sys: Number(fields[12]) }
  } catch {
    return undefined
  }
}

/** CPU ticks of each process in the tree now. */
const cpuSample = (pid) => new Map(treePids(pid).map((p) => [p, procTicks(p)]))

/** Ticks used between two samples (user, kernel), and whether the tree changed (a process came or went). */
function cpuBetween(before, after) {
  let user = 0
  let sys = 0
  let changed = before.size !== after.size
  for (const [p, t] of after) {
    const b = before.get(p)
    if (b === undefined || t === undefined) changed = true
    else {
      user += t.user - b.user
      sys += t.sys - b.sys
    }
  }
  return { ticks: user + sys, sys, changed }
}

function clockTicks() {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 })
  const n = Number(r.stdout?.trim())
  return Number.isInteger(n) && n > 0 ? n : 100
}

/**
 * CPU µs per Ed25519 verify of the bench badges, bare (split, decode the signature, verify), with
 * node:crypto and with libsodium (what the gateway uses): the floor of any verifying proxy's cost.
 * Measured as this process's CPU time (not wall time, which other work on the machine would inflate),
 * the best of three passes.
 */
function bareVerify(tokens, publicKey) {
  const sodium = createRequire(import.meta.url)('sodium-native')
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url')
  let wall = Infinity // of the libsodium passes: the figure earlier versions of this bench reported
  const run = (check) => {
    const w0 = process.hrtime.bigint()
    const t0 = process.cpuUsage()
    for (const t of tokens) {
      const dot = t.lastIndexOf('.')
      if (!check(Buffer.from(t.slice(0, dot), 'latin1'), Buffer.from(t.slice(dot + 1), 'base64url'))) {
        throw new Error('a bench badge did not verify')
      }
    }
    const used = process.cpuUsage(t0)
    if (check === lib) wall = Math.min(wall, Number(process.hrtime.bigint() - w0) / 1000 / tokens.length)
    return (used.user + used.system) / tokens.length
  }
  const node = (data, sig) => verify(null, data, publicKey, sig)
  const lib = (data, sig) => sodium.crypto_sign_verify_detached(sig, data, raw)
  run(node)
  run(lib)
  const best = (check) => Math.min(run(check), run(check), run(check))
  return { node: best(node), sodium: best(lib), sodiumWall: wall }
}

const procs = (n) => `${n} process${n === 1 ? '' : 'es'}`
const mb = (x) => `${x.toFixed(0)} MB`
const ms = (us) => `${(us / 1000).toFixed(2)} ms`
const x2 = (r) => `${r.toFixed(2)}×`

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
  /** Starts a process with stderr to a log file (stdout discarded). */
  function startLogged(cmd, args, logFile, env) {
    const log = openSync(logFile, 'w')
    const p = start(cmd, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', log],
    })
    closeSync(log)
    return p
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

  // Badges: a pool that grows as needed; a verifying proxy reads it from 0 on and must never wrap.
  const tokensFile = join(dir, 'badges.txt')
  const reusedFile = join(dir, `badges-${REUSED_BADGES}.txt`)
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

  /** Builds the Go baseline (stdlib only: no module is fetched) into the temp directory. */
  function buildGo() {
    const bin = join(dir, 'gogateway')
    const env = {
      ...process.env,
      GOFLAGS: '-mod=mod',
      GOPROXY: 'off',
      GOWORK: 'off',
      GOTOOLCHAIN: 'local',
      GOCACHE: join(dir, 'go-cache'),
      GOPATH: join(dir, 'go-path'),
      CGO_ENABLED: '0',
    }
    const opts = { cwd: join(HERE, 'go-gateway'), env, encoding: 'utf8', timeout: 300000 }
    const build = spawnSync(GO, ['build', '-o', bin, '.'], opts)
    if (build.error)
      throw new Error(
        `cannot run ${GO}: ${build.error.message}. The Go baseline (bench/go-gateway) needs a Go toolchain: apt-get install -y golang-go`,
      )
    if (build.status !== 0) throw new Error(`go build of bench/go-gateway failed:\n${build.stderr}`)
    const version = /go\d+(\.\d+)*/.exec(spawnSync(GO, ['version'], opts).stdout ?? '')?.[0] ?? 'go'
    return { bin, version }
  }

  /** Sums a counter sample over every worker: scrapes /metrics on fresh connections until each worker was seen. */
  async function scrapeWorkers(port, workers) {
    // One scrape: with --workers N the gateway answers with the sum over all workers, and says how
    // many did not answer in time (capiscio_gateway_metrics_workers_missing).
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
      workersSeen: workers - num(/^capiscio_gateway_metrics_workers_missing (\S+)/m),
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
      // JUNK_ROUNDS interleaved rounds over the tokens; each token's better round counts.
      const files = tokens.map(([, token], i) => {
        const file = join(dir, `junk-${i}.txt`)
        writeFileSync(file, token + '\n')
        return file
      })
      for (let round = 1; round <= JUNK_ROUNDS; round++) {
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

  const CLK_TCK = clockTicks()
  const machine = { cores: cpus().length, model: cpus()[0]?.model?.trim() ?? '?', loadStart: loadavg()[0] }
  let nginxVersion = ''
  let go
  let bareVerifyUs = { node: 0, sodium: 0 }
  const runs = []
  let upstream
  let junk
  try {
    writeFileSync(join(dir, 'badges.lua'), LUA)
    const v = spawnSync(NGINX, ['-v'], { encoding: 'utf8', timeout: 10000 })
    if (v.error) throw new Error(`cannot run ${NGINX}: ${v.error.message} (apt-get install -y nginx-light)`)
    nginxVersion = /nginx\/(\S+)/.exec(v.stderr)?.[1] ?? '?'
    go = buildGo()
    const keygen = spawnSync(process.execPath, [BIN, 'key', 'gen', '--out', join(dir, 'k'), '-q'], {
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: 'production' },
      encoding: 'utf8',
      timeout: 30000,
    })
    if (keygen.status !== 0) throw new Error(`key gen failed: ${keygen.stderr}`)
    const publicJwk = join(dir, 'k', 'public.jwk')
    key = await readSigningKey(join(dir, 'k'))
    writeFileSync(tokensFile, '')
    await ensureTokens(Number(process.env.BENCH_GATEWAY_TOKENS ?? 40000))
    const firstTokens = readFileSync(tokensFile, 'latin1').split('\n', 2000)
    writeFileSync(reusedFile, firstTokens.slice(0, REUSED_BADGES).join('\n') + '\n')
    bareVerifyUs = bareVerify(firstTokens, createPublicKey(key.privateKey))

    const upPort = await freePort()
    upstream = await nginx(
      'upstream',
      `  keepalive_requests 1000000;\n  server {\n    listen 127.0.0.1:${upPort};\n` +
        `    location / { default_type text/plain; return 200 "ok\\n"; }\n  }`,
    )
    await waitFor(upPort, '/', upstream, 'upstream nginx')
    const upUrl = `http://127.0.0.1:${upPort}`

    /** `logFormat` off: the gateway without its request log (the start and stop lines still go to the file). */
    const gateway = (workers, logFormat = 'json') => ({
      id: `gw${workers}${logFormat === 'off' ? 'q' : ''}`,
      name: `\`capiscio gateway start --workers ${workers}${logFormat === 'off' ? ' --log-format off' : ''}\``,
      workers,
      verifies: true,
      launch(port, logFile) {
        const args = [...NODE_ARGS, BIN, 'gateway', 'start', '--host', '127.0.0.1', '--port', String(port)]
        args.push('--target', upUrl, '--local-key', publicJwk, '--log-format', logFormat)
        args.push('--workers', String(workers))
        return startLogged(process.execPath, args, logFile, { NODE_ENV: 'production' })
      },
      stats: (port) => scrapeWorkers(port, workers),
    })
    const bare = (workers) => ({
      id: workers === 1 ? 'bare' : `bare${workers}`,
      name:
        workers === 1
          ? 'bare Node proxy (undici dispatch + libsodium + Map cache)'
          : `bare Node proxy, ${workers} workers (node:cluster)`,
      workers,
      verifies: true,
      ready: /bare proxy up/g,
      launch: (port, logFile) =>
        startLogged(
          process.execPath,
          [
            ...NODE_ARGS,
            join(HERE, 'bare-proxy.js'),
            '--port',
            String(port),
            '--target',
            upUrl,
            '--key',
            publicJwk,
            '--workers',
            String(workers),
          ],
          logFile,
          { NODE_ENV: 'production' },
        ),
      // One process's counters, so only for one process (W1, where hits are checked).
      stats:
        workers === 1 ? async (port) => JSON.parse((await get(port, '/__bare/stats', 5000)).body) : undefined,
    })
    let nginxCount = 0
    const contestants = {
      go: {
        id: 'go',
        name: `Go baseline (${go.version} net/http + httputil.ReverseProxy, crypto/ed25519), GOMAXPROCS=1`,
        workers: 1,
        verifies: true,
        launch: (port, logFile) =>
          startLogged(
            go.bin,
            ['-listen', `127.0.0.1:${port}`, '-target', upUrl, '-key', publicJwk],
            logFile,
            { GOMAXPROCS: '1' },
          ),
      },
      gw1: gateway(1),
      gw1q: gateway(1, 'off'),
      gw2: gateway(2),
      bare: bare(1),
      bare2: bare(2),
      nginx: {
        id: 'nginx',
        name: `nginx ${nginxVersion}, 1 worker, upstream keepalive (verifies nothing)`,
        workers: 1,
        verifies: false,
        launch: (port) =>
          nginx(
            `reference-${++nginxCount}`,
            `  upstream u { server 127.0.0.1:${upPort}; keepalive 64; }\n  keepalive_requests 1000000;\n` +
              `  server {\n    listen 127.0.0.1:${port};\n    location / {\n      proxy_pass http://u;\n` +
              `      proxy_http_version 1.1;\n      proxy_set_header Connection "";\n    }\n  }`,
          ),
      },
    }

    let rateSeen = 0 // highest requests/s of a verifying proxy so far, to size the badge pool
    /** One contestant, fresh process: start, warm up, measured run with CPU read around it, stop. */
    async function measure(c, workload, round) {
      const port = await freePort()
      const logFile = join(dir, `${c.id}-${workload}-r${round}.log`)
      const p = await c.launch(port, logFile)
      try {
        await waitFor(port, '/health', p, c.id)
        const deadline = Date.now() + 20000
        const started = () =>
          (readFileSync(logFile, 'utf8').match(c.ready ?? /capiscio gateway /g) ?? []).length
        while (c.workers > 1 && started() < c.workers + 1 && Date.now() < deadline) await sleep(50)
        const distinct = workload === 'W1'
        const file = distinct ? tokensFile : reusedFile
        // The warm-up too must not run out of distinct badges (it fills the caches the measured run checks).
        if (distinct && c.verifies) await ensureTokens(Math.ceil(rateSeen * WARMUP * 1.6) + 1000)
        const w = await wrk(port, WARMUP, file, 0)
        let offset = 0
        if (distinct && c.verifies) {
          // The measured run starts after the warm-up's badges, with a pool sized from the fastest
          // rate seen (with room to spare): no badge comes twice to one process.
          rateSeen = Math.max(rateSeen, w.rps)
          offset = w.used_per_thread * THREADS
          await ensureTokens(Math.ceil(offset + rateSeen * SECONDS * 1.6) + 1000)
        }
        const before = cpuSample(p.child.pid)
        const g = await wrk(port, SECONDS, file, offset)
        const after = cpuSample(p.child.pid)
        if (distinct && c.verifies) rateSeen = Math.max(rateSeen, g.rps)
        const cpu = cpuBetween(before, after)
        const cpuSeconds = cpu.ticks / CLK_TCK
        return {
          ...g,
          id: c.id,
          workload,
          round,
          ticks: cpu.ticks,
          cpuUs: (cpuSeconds * 1e6) / g.requests,
          sysUs: ((cpu.sys / CLK_TCK) * 1e6) / g.requests,
          cores: cpuSeconds / (g.duration_us / 1e6),
          treeChanged: cpu.changed,
          processes: after.size,
          rss: treeRss(p.child.pid),
          stats: c.stats ? await c.stats(port) : undefined,
          warmErrors: w.errors,
          wrkRequests: w.requests + g.requests,
          badgesUsed: offset + g.used_per_thread * THREADS,
          reused: distinct && c.verifies && (w.wrapped === 1 || g.wrapped === 1),
        }
      } finally {
        await stop(p, 10000)
      }
    }

    const rotate = (xs, r) => xs.map((_, i) => xs[(i + r) % xs.length])
    for (let round = 1; round <= ROUNDS; round++) {
      for (const id of rotate(W1_CONTESTANTS, round - 1))
        runs.push(await measure(contestants[id], 'W1', round))
      for (const id of rotate(W2_CONTESTANTS, round - 1))
        runs.push(await measure(contestants[id], 'W2', round))
    }
    for (const r of runs) r.name = contestants[r.id].name
    if (JUNK) junk = await junkPhase(upPort)
  } finally {
    if (upstream) await stop(upstream)
    killAll()
    process.removeListener('exit', killAll)
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
    rmSync(dir, { recursive: true, force: true })
  }
  machine.loadEnd = loadavg()[0]
  return [
    ...report({ runs, pool, go, nginxVersion, bareVerifyUs, machine, clkTck: CLK_TCK }),
    ...(junk ? junkSection(junk) : []),
  ].join('\n')
}

const W1_CONTESTANTS = ['go', 'gw1', 'gw1q', 'bare', 'nginx']
const W2_CONTESTANTS = ['gw2', 'bare2', 'go', 'nginx']

const errorsOf = (r) => r.errors + r.warmErrors + (r.stats?.non200 ?? 0)
function errText(r) {
  const parts = ['connect', 'read', 'write', 'status', 'timeout']
    .filter((k) => r[k] > 0)
    .map((k) => `${k} ${r[k]}`)
  if (r.warmErrors) parts.push(`warm-up ${r.warmErrors}`)
  if (r.stats?.non200) parts.push(`non-200 ${r.stats.non200}`)
  return parts.length ? parts.join(', ') : '0'
}

/** The markdown of the main section: method, per-workload tables of medians, the bar, notes, every run. */
function report({ runs, pool, go, nginxVersion, bareVerifyUs, machine, clkTck }) {
  const of = (workload, id) => runs.filter((r) => r.workload === workload && r.id === id)
  const med = (workload, id, f) => median(of(workload, id).map(f))
  const floorUs = bareVerifyUs.sodium + med('W1', 'nginx', (r) => r.cpuUs)
  const table = (workload, ids) => [
    '| proxy | requests/s | CPU µs/request | of which kernel | × floor | cores busy | p50 | p99 | errors (all rounds) | RSS after |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...ids.map((id) => {
      const rs = of(workload, id)
      const m = (f) => median(rs.map(f))
      const errors = rs.reduce((s, r) => s + errorsOf(r), 0)
      return (
        `| ${rs[0].name} | ${m((r) => r.rps).toFixed(0)} | ${m((r) => r.cpuUs).toFixed(1)} | ` +
        `${m((r) => r.sysUs).toFixed(1)} | ` +
        `${x2(m((r) => r.cpuUs) / floorUs)} | ${m((r) => r.cores).toFixed(2)} | ${ms(m((r) => r.p50_us))} | ` +
        `${ms(m((r) => r.p99_us))} | ${errors} | ${mb(m((r) => r.rss.mb))} (${procs(rs[0].processes)}) |`
      )
    }),
  ]

  // A ratio counts only over clean runs: no errors, the process tree unchanged, and for W1 no badge
  // reused and no cache hit (every request verified).
  const clean = (r) =>
    errorsOf(r) === 0 && !r.treeChanged && (r.workload !== 'W1' || (!r.reused && !(r.stats?.hits > 0)))
  const bar = [
    ['W1', 'CPU/request', 'gw1', 'go', (r) => r.cpuUs, 'le', BAR.cpuVsGo],
    ['W1', 'requests/s', 'gw1', 'go', (r) => r.rps, 'ge', BAR.rpsVsGo],
    ['W1', 'CPU/request', 'gw1', 'bare', (r) => r.cpuUs, 'le', BAR.cpuVsBare],
    ['W2', 'requests/s', 'gw2', 'nginx', (r) => r.rps, 'ge', BAR.w2VsNginx],
    ['W2', 'requests/s', 'gw2', 'go', (r) => r.rps, 'ge', BAR.w2VsGo],
    // No bar: the gateway without its request log (--log-format off), against the same floor.
    ['W1', 'CPU/request', 'gw1q', 'bare', (r) => r.cpuUs],
    // No bar: what a Node proxy doing nothing else reaches here, and how near the gateway comes to it.
    ['W2', 'requests/s', 'bare2', 'nginx', (r) => r.rps],
    ['W2', 'requests/s', 'gw2', 'bare2', (r) => r.rps],
  ].map(([workload, what, a, b, f, dir, limit]) => {
    const value = med(workload, a, f) / med(workload, b, f)
    const perRound = of(workload, a).map((ra) => {
      const rb = of(workload, b).find((r) => r.round === ra.round)
      return rb ? x2(f(ra) / f(rb)) : '–'
    })
    const valid = [...of(workload, a), ...of(workload, b)].every(clean)
    const ok = dir === 'le' ? value <= limit : value >= limit
    const label = (id) =>
      ({
        gw1: 'gateway --workers 1',
        gw1q: 'gateway --workers 1 --log-format off',
        gw2: 'gateway --workers 2',
        go: 'Go',
        bare: 'bare Node proxy',
        bare2: 'bare Node proxy, 2 workers',
      })[id] ?? id
    const verdict = !valid ? '**not valid** (see notes)' : !dir ? 'reference' : ok ? 'met' : '**NOT met**'
    return (
      `| ${workload} | ${what}: ${label(a)} ÷ ${label(b)} | ${x2(value)} | ` +
      `${perRound.join(', ')} | ${dir ? `${dir === 'le' ? '≤' : '≥'} ${limit}×` : '–'} | ${verdict} |`
    )
  })

  const all = runs
  const gatewayRuns = all.filter((r) => r.id === 'gw1' || r.id === 'gw1q' || r.id === 'gw2')
  const totalErrors = all.reduce((s, r) => s + errorsOf(r), 0)
  const w1Verifying = all.filter((r) => r.workload === 'W1' && r.stats)
  const w1Hits = w1Verifying.reduce((s, r) => s + r.stats.hits, 0)
  const reused = all.some((r) => r.reused)
  const w2 = of('W2', 'gw2')
  const w2Hits = w2.reduce((s, r) => s + r.stats.hits, 0)
  const w2Misses = w2.reduce((s, r) => s + r.stats.misses, 0)
  const minTicks = Math.min(...all.map((r) => r.ticks))
  const unseen = gatewayRuns.filter((r) => r.stats.workersSeen < r.workers)
  const changed = all.filter((r) => r.treeChanged)
  const nginxUs = med('W1', 'nginx', (r) => r.cpuUs)
  const notes = [
    totalErrors === 0
      ? 'No errors: every wrk error counter (connect, read, write, status, timeout) was zero in every run, ' +
        "warm-ups included, and the gateway's /metrics counted no answer other than 200 (and the 499s below)."
      : `**Errors: ${totalErrors}** across all runs (see the runs table).`,
    `Requests cut by wrk itself when each run ended (its connections closed with a request in flight; ` +
      `counted as 499 by the gateway and logged where its log is on, not errors): ` +
      `${gatewayRuns.reduce((n, r) => n + r.stats.clientClosed, 0)} over all gateway runs.`,
    (reused
      ? '**W1: some badges were reused within one process** (the pool ran out), so a cache could hit. '
      : `W1: no badge came twice to one verifying process (pool of ${pool} distinct badges). `) +
      `Cache hits in W1 (the gateway's \`capiscio_gateway_verify_cache_total{result="hit"}\`, the bare ` +
      `proxy's counter): ${w1Hits}${w1Hits === 0 ? ' — every request was verified.' : ' — NOT every request was verified.'}`,
    `W2: the gateway's cache answered ${w2Hits} of ${w2Hits + w2Misses} lookups ` +
      `(${((100 * w2Hits) / Math.max(1, w2Hits + w2Misses)).toFixed(2)} %; the misses are each worker's first ` +
      `two sightings of each badge, before its cache keeps it, mostly in the warm-up); the Go baseline verifies every request.`,
    `CPU resolution: /proc counts in ticks of ${(1000 / clkTck).toFixed(0)} ms; the smallest CPU total of a ` +
      `measured run was ${minTicks} ticks, so a tick is ≤ ${(100 / minTicks).toFixed(2)} % of any figure.`,
    `Physical floor: a bare libsodium Ed25519 verify of these badges, ${bareVerifyUs.sodium.toFixed(1)} µs CPU ` +
      `(in-process, best of 3 passes over 2000 badges; wall time ${bareVerifyUs.sodiumWall.toFixed(1)} µs; ` +
      `\`node:crypto\`: ${bareVerifyUs.node.toFixed(1)} µs CPU), ` +
      `+ nginx's CPU per proxied request, ${nginxUs.toFixed(1)} µs (W1 median) = **${floorUs.toFixed(1)} µs** ` +
      `per request: what any verifying proxy must spend at least. The "× floor" columns divide by it.`,
    ...(changed.length
      ? [
          `**The process tree changed during ${changed.length} measured run(s)** (a process came or went): those runs' CPU is partial.`,
        ]
      : []),
    ...(unseen.length
      ? [
          '**/metrics did not reach every worker in some runs**, so the hit and error counts there are partial.',
        ]
      : []),
    `Load average (1 min) before the section: ${machine.loadStart.toFixed(2)}; after: ${machine.loadEnd.toFixed(2)}.`,
  ]
  const detail = [...all]
    .sort((a, b) => a.round - b.round || a.workload.localeCompare(b.workload))
    .map(
      (r) =>
        `| ${r.round} | ${r.workload} | ${r.id} | ${r.requests} | ${r.rps.toFixed(0)} | ` +
        `${r.cpuUs.toFixed(1)} (${r.sysUs.toFixed(1)}) | ` +
        `${r.cores.toFixed(2)} | ${ms(r.p50_us)} | ${ms(r.p99_us)} | ${ms(r.max_us)} | ${errText(r)} | ` +
        `${mb(r.rss.mb)} | ` +
        (r.workload === 'W1' && r.id !== 'nginx'
          ? `${r.badgesUsed}${r.reused ? ' (REUSED)' : ''} | `
          : r.workload === 'W2'
            ? `${REUSED_BADGES}, reused | `
            : '– | ') +
        (r.stats ? `${r.stats.hits} / ${r.stats.misses} |` : '– |'),
    )
  return [
    '## Gateway: CPU per request against a Go gateway, a bare Node proxy and nginx',
    '',
    `\`node bench/run.js gateway\`. Loopback only, on a machine with ${machine.cores} cores (${machine.model}) ` +
      `shared by wrk, the upstream nginx, the proxy under test and whatever else runs there, so requests/s ` +
      `drifts from minute to minute: the main measure is **CPU per request**, the utime+stime of the proxy's ` +
      `whole process tree (\`/proc/<pid>/stat\`) over the measured run ÷ the requests wrk completed.`,
    '',
    `Upstream: nginx (1 worker) answering \`200 ok\`; every contestant proxies to it. Load: \`wrk -t${THREADS} ` +
      `-c${CONNECTIONS} -d${SECONDS}s --latency\` on \`GET ${PATH}\` after a ${WARMUP} s warm-up, with a Lua ` +
      `script setting \`Authorization: Bearer <badge>\` on each request (Ed25519 badges from \`capiscio badge ` +
      `issue\`'s library, 1 h lifetime); the same script and bytes for every contestant. ${ROUNDS} interleaved ` +
      `rounds, each contestant a fresh process in each, the order rotating from round to round; the tables ` +
      `show medians over the rounds.`,
    '',
    'Contestants:',
    '',
    `- \`capiscio gateway start --target <upstream> --local-key public.jwk --log-format json\` ` +
      `(NODE_ENV=production, request log on, to a file), \`--workers 1\` (one process) and \`--workers 2\` ` +
      `(a primary and two workers); in W1 also \`--workers 1 --log-format off\` (no request log: what the log ` +
      `costs; no bar).`,
    `- Go baseline (\`bench/go-gateway\`, standard library only, built by the bench with ${go?.version ?? 'go'}): ` +
      `net/http + \`httputil.ReverseProxy\`; per request it splits the JWS, checks \`alg\`, ` +
      `\`crypto/ed25519\`-verifies the signature and checks \`exp\`, no cache; \`GOMAXPROCS=1\`. The design ` +
      `of the Go CapiscIO core's gateway.`,
    `- Bare Node proxy (\`bench/bare-proxy.js\`): \`node:http\` + the gateway's undici \`Pool\` dispatch, ` +
      `libsodium verify, \`alg\` and \`exp\` checks, a plain \`Map\` cache; no logging, metrics or limits. ` +
      `The floor of the gateway's own overhead. In W2 also with 2 workers (\`--workers 2\`, node:cluster, ` +
      `as the gateway's): the ceiling of a Node proxy on this machine.`,
    `- nginx ${nginxVersion}, 1 worker, upstream keepalive 64: the reference; it ignores the badge.`,
    '',
    `**W1, every request a distinct badge** (the worst case: no cache can help). ${THREADS} wrk thread reads ` +
      `the badges in order; a measured run starts after the warm-up's, so no badge comes twice to one process.`,
    '',
    ...table('W1', W1_CONTESTANTS),
    '',
    `**W2, ${REUSED_BADGES} badges reused round-robin** (clients keep a badge for its lifetime: the realistic case).`,
    '',
    ...table('W2', W2_CONTESTANTS),
    '',
    'The bar (ratios of the medians; "per round" pairs the two contestants\' runs of the same round; a ' +
      'ratio counts only if every run of both had no errors and, in W1, no cache hit):',
    '',
    '| workload | ratio | median | per round | bar | verdict |',
    '|---|---|---|---|---|---|',
    ...bar,
    '',
    ...notes.map((n) => `- ${n}`),
    '',
    'Every run (badges: distinct badges a W1 process received; hits / misses: its verify cache):',
    '',
    '| round | workload | proxy | requests | requests/s | CPU µs/request (kernel) | cores busy | p50 | p99 | max | errors | RSS after | badges | hits / misses |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...detail,
    '',
  ]
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
      `sending the same refused token on every request (every answer is a 403), ${JUNK_ROUNDS} interleaved rounds, each token's better round. The baseline is a token that ` +
      'fails the first check (shape); the others pass decoding and claims and must be refused without trying ' +
      `the 100 keys. Target: ≥ ${JUNK_TARGET}× the baseline's requests/s.`,
    '',
    '| token | requests/s | p50 | p99 | socket errors | ratio to baseline |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ]
}
