// The floor of the gateway's own overhead (bench/gateway.js): a bare Node proxy doing the job and
// nothing else. node:http server; the same undici Pool and dispatch call as the gateway
// (src/lib/gateway/proxy.ts) streaming the answer into the response; libsodium (sodium-native)
// Ed25519 verify of the bearer badge, alg and exp checks; a plain Map cache keyed by the token
// (bounded, cleared when full). No logging, no metrics, no limits, no drain.
//
//   node bench/bare-proxy.js --port PORT --target http://127.0.0.1:UP --key public.jwk [--workers N]
//
// --workers N: N processes on one port through node:cluster, as the gateway's --workers (the ceiling
// of a Node proxy on W2). Each process says "bare proxy up" on stderr when it has started.
//
// GET /health answers 200; GET /__bare/stats answers the cache's hit and miss counts (two integer
// increments on the hot path, so that the bench can check a distinct-badge run never hit).
import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'

import { Pool } from 'undici'

const sodium = createRequire(import.meta.url)('sodium-native')
const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    target: { type: 'string' },
    key: { type: 'string' },
    workers: { type: 'string', default: '1' },
  },
})
const workers = Number(values.workers)
if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork()
  process.stderr.write('bare proxy up (primary)\n')
  // The workers get SIGTERM too (the bench signals the process group) and leave; the primary ends
  // with the last of them. A worker's channel breaking as it goes is no error here.
  process.on('SIGTERM', () => undefined)
  cluster.on('fork', (worker) => worker.on('error', () => undefined))
} else serve()

function serve() {
  const publicKey = Buffer.from(JSON.parse(readFileSync(values.key, 'utf8')).x, 'base64url')
  const target = new URL(values.target)
  // The gateway's Pool options (src/lib/gateway/server.ts).
  const pool = new Pool(target.origin, {
    connect: { timeout: 5000 },
    headersTimeout: 30_000,
    bodyTimeout: 0,
    keepAliveTimeout: 4000,
    pipelining: 1,
  })

  const SKEW_SECONDS = 60
  const CACHE_MAX = 10_000
  /** token → { sub, exp } */
  const cache = new Map()
  let hits = 0
  let misses = 0

  /** The badge's subject, or undefined when the badge is not valid. */
  function verify(token) {
    const cached = cache.get(token)
    if (cached !== undefined) {
      hits++
      return cached.exp + SKEW_SECONDS > Date.now() / 1000 ? cached.sub : undefined
    }
    misses++
    const d1 = token.indexOf('.')
    const d2 = token.indexOf('.', d1 + 1)
    if (d1 < 0 || d2 < 0 || token.indexOf('.', d2 + 1) >= 0) return undefined
    let header
    let claims
    try {
      header = JSON.parse(Buffer.from(token.slice(0, d1), 'base64url').toString())
      claims = JSON.parse(Buffer.from(token.slice(d1 + 1, d2), 'base64url').toString())
    } catch {
      return undefined
    }
    if (header?.alg !== 'EdDSA' || typeof claims?.exp !== 'number') return undefined
    const signature = Buffer.from(token.slice(d2 + 1), 'base64url')
    if (signature.length !== 64) return undefined
    if (!sodium.crypto_sign_verify_detached(signature, Buffer.from(token.slice(0, d2), 'latin1'), publicKey))
      return undefined
    if (claims.exp + SKEW_SECONDS <= Date.now() / 1000) return undefined
    if (cache.size >= CACHE_MAX) cache.clear()
    cache.set(token, { sub: String(claims.sub), exp: claims.exp })
    return String(claims.sub)
  }

  const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer'])

  function answer(res, status, body) {
    const text = JSON.stringify(body)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    res.end(text)
  }

  const server = createServer((req, res) => {
    if (req.url === '/health') return answer(res, 200, { status: 'ok' })
    if (req.url === '/__bare/stats') return answer(res, 200, { hits, misses })
    const auth = req.headers.authorization
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : req.headers['x-capiscio-badge']
    if (!token) return answer(res, 401, { error: 'missing authorization header' })
    const sub = verify(token)
    if (sub === undefined) return answer(res, 403, { error: 'invalid badge' })
    const headers = {}
    for (const name in req.headers)
      if (name !== 'authorization' && name !== 'host' && !HOP_BY_HOP.has(name))
        headers[name] = req.headers[name]
    headers['x-capiscio-subject'] = sub
    // The gateway's dispatch (src/lib/gateway/proxy.ts), less its error reporting.
    let controller
    res.once('close', () => {
      if (!res.writableFinished) controller?.abort(new Error('client closed the connection'))
    })
    pool.dispatch(
      { path: req.url, method: req.method, headers, body: null },
      {
        onRequestStart(c) {
          controller = c
        },
        onResponseStart(_c, statusCode, upHeaders) {
          if (statusCode < 200) return
          const out = {}
          for (const name in upHeaders) if (!HOP_BY_HOP.has(name)) out[name] = upHeaders[name]
          res.writeHead(statusCode, out)
        },
        onResponseData(c, chunk) {
          if (!res.write(chunk)) {
            c.pause()
            res.once('drain', () => c.resume())
          }
        },
        onResponseEnd() {
          res.end()
        },
        onResponseError() {
          if (res.headersSent) res.destroy()
          else answer(res, 502, { error: 'upstream unavailable' })
        },
      },
    )
  })
  server.on('connection', (socket) => socket.setNoDelay(true))
  server.listen(Number(values.port), '127.0.0.1', () => process.stderr.write('bare proxy up\n'))
  process.on('SIGTERM', () => {
    server.close()
    server.closeAllConnections()
    void pool.close()
    cluster.worker?.disconnect()
  })
}
