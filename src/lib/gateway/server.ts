import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { Transform, pipeline } from 'node:stream'

import { Pool } from 'undici'

import { CapiscioError } from '../errors.js'
import { CARD_PATHS, type ServedCard } from './card.js'
import { extractCredential, upstreamHeaders } from './headers.js'
import { GatewayMetrics } from './metrics.js'
import { BodyTooLarge, forward } from './proxy.js'
import { publicReason } from './reasons.js'
import type { GatewayIdentity, GatewayVerifier, ReplayStore, RequestLogEntry } from './types.js'

export interface GatewayOptions {
  /** The agent to protect, e.g. http://localhost:3000 (a path prefix is kept). */
  target: string
  verifier: GatewayVerifier
  port?: number
  host?: string
  replay?: ReplayStore
  card?: ServedCard
  forwardCredential?: boolean
  /** Keep X-Forwarded-Proto/Host from a trusted proxy in front (see UpstreamHeaderOptions). */
  trustForwarded?: boolean
  /** Largest request body forwarded (default 10 MiB); larger ones get 413. */
  maxBodyBytes?: number
  /** How long the target may take to send response headers (default 30 s), else 504. */
  upstreamTimeoutMs?: number
  connectTimeoutMs?: number
  /** How long close() waits for in-flight requests (default 30 s). */
  drainTimeoutMs?: number
  tls?: { cert: string | Buffer; key: string | Buffer }
  metrics?: GatewayMetrics
  onLog?: (entry: RequestLogEntry) => void
}

export interface Gateway {
  url: string
  server: Server
  metrics: GatewayMetrics
  /** Stops accepting, lets in-flight requests finish (up to the drain timeout), then closes. */
  close(): Promise<void>
}

interface Ctx {
  start: bigint
  upstreamMs?: number
  subject?: string
  reason?: string
  code?: string
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  })
  res.end(text)
}

export function validateTarget(target: string): URL {
  let url: URL
  try {
    url = new URL(target)
  } catch {
    throw new CapiscioError('USAGE', `invalid target URL: ${target}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new CapiscioError('USAGE', `invalid target URL: ${target} (use http or https)`)
  if (url.search || url.hash)
    throw new CapiscioError('USAGE', `invalid target URL: ${target} (no query or fragment)`)
  return url
}

/** The gateway (DESIGN §9): the same server for the CLI, tests and embedding. */
export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const target = validateTarget(options.target)
  const basePath = target.pathname.replace(/\/+$/, '')
  const metrics = options.metrics ?? new GatewayMetrics()
  const maxBody = options.maxBodyBytes ?? 10 * 1024 * 1024
  const pool = new Pool(target.origin, {
    connect: { timeout: options.connectTimeoutMs ?? 5000 },
    headersTimeout: options.upstreamTimeoutMs ?? 30_000,
    bodyTimeout: 0, // streams such as SSE may idle; a dead upstream still ends the stream
    keepAliveTimeout: 4000,
    pipelining: 1,
  })
  const proto = options.tls ? 'https' : 'http'
  let inFlight = 0
  let idle: (() => void) | undefined

  function finish(req: IncomingMessage, res: ServerResponse, ctx: Ctx, path: string): void {
    const durationMs = Number(process.hrtime.bigint() - ctx.start) / 1e6
    const method = req.method ?? 'GET'
    metrics.requests.inc({ code: String(res.statusCode), method })
    metrics.duration.observe({ method }, durationMs / 1000)
    metrics.inFlight.dec()
    inFlight--
    if (inFlight === 0) idle?.()
    const entry: RequestLogEntry = { time: new Date(), status: res.statusCode, method, path, durationMs }
    if (ctx.upstreamMs !== undefined) entry.upstreamMs = ctx.upstreamMs
    if (ctx.subject) entry.subject = ctx.subject
    if (ctx.reason) entry.reason = ctx.reason
    if (ctx.code) entry.code = ctx.code
    options.onLog?.(entry)
  }

  function deny(
    res: ServerResponse,
    ctx: Ctx,
    status: number,
    reason: string,
    code?: string,
    headers?: Record<string, string>,
  ) {
    ctx.reason = reason
    if (code) ctx.code = code
    metrics.auth.inc({ result: 'denied', reason: code ?? reason.replace(/ /g, '_') })
    json(res, status, code ? { error: reason, code } : { error: reason }, headers)
  }

  function readiness(): string | undefined {
    return (
      options.verifier.notReadyReason?.() ??
      (options.verifier.ready?.() === false ? 'key source not loaded' : undefined) ??
      options.replay?.notReadyReason?.()
    )
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ctx: Ctx = { start: process.hrtime.bigint() }
    const rawUrl = req.url ?? '/'
    const q = rawUrl.indexOf('?')
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q)
    inFlight++
    metrics.inFlight.inc()
    res.once('close', () => finish(req, res, ctx, path))
    const method = req.method ?? 'GET'
    const isRead = method === 'GET' || method === 'HEAD'

    if (isRead && path === '/health') return json(res, 200, { status: 'ok' })
    if (isRead && path === '/ready') {
      const reason = readiness()
      if (reason) ctx.reason = `not ready: ${reason}`
      return reason ? json(res, 503, { status: 'not ready', reason }) : json(res, 200, { status: 'ready' })
    }
    if (isRead && path === '/metrics') {
      const text = await metrics.text()
      res.writeHead(200, { 'content-type': metrics.contentType })
      res.end(text)
      return
    }
    if (isRead && CARD_PATHS.has(path)) {
      if (options.card) {
        const { body, etag } = options.card
        const headers = { etag, 'cache-control': 'public, max-age=300', 'content-type': 'application/json' }
        if (req.headers['if-none-match'] === etag) {
          res.writeHead(304, headers)
          res.end()
        } else {
          res.writeHead(200, { ...headers, 'content-length': body.length })
          res.end(method === 'HEAD' ? undefined : body)
        }
        return
      }
      return proxy(req, res, ctx, undefined)
    }

    const { credential, conflict } = extractCredential(req.headers)
    if (conflict) return deny(res, ctx, 400, 'conflicting credentials', undefined)
    if (!credential)
      return deny(res, ctx, 401, 'missing authorization header', undefined, { 'www-authenticate': 'Bearer' })
    let identity: GatewayIdentity
    try {
      identity = await options.verifier.verify(credential)
    } catch (err) {
      if (
        err instanceof CapiscioError &&
        err.code === 'BADGE_ISSUER_UNTRUSTED' &&
        options.verifier.ready?.() === false
      ) {
        // No keys at all (the registry has never answered): fail closed, but say it is us, not the badge.
        ctx.reason = `not ready: ${readiness() ?? 'key source not loaded'}`
        return json(res, 503, { error: 'credential verification unavailable' })
      }
      if (err instanceof CapiscioError && err.exitCode === 3)
        return deny(res, ctx, 403, publicReason(err.code), err.code)
      ctx.reason = err instanceof CapiscioError ? err.message : 'verifier failed'
      return json(res, 503, { error: 'credential verification unavailable' })
    }
    ctx.subject = identity.subject
    if (options.replay) {
      let first: boolean
      try {
        first = await options.replay.claim(identity.jti, identity.exp)
      } catch (err) {
        ctx.reason = `replay protection unavailable: ${(err as Error).message}`
        return json(res, 503, { error: 'replay protection unavailable' })
      }
      if (!first) return deny(res, ctx, 403, publicReason('BADGE_REPLAYED'), 'BADGE_REPLAYED')
    }
    metrics.auth.inc({ result: 'allowed', reason: 'valid' })
    return proxy(req, res, ctx, identity)
  }

  async function proxy(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: Ctx,
    identity: GatewayIdentity | undefined,
  ) {
    const length = req.headers['content-length']
    if (length !== undefined && Number(length) > maxBody) {
      ctx.reason = 'request body too large'
      return json(res, 413, { error: 'request body too large' }, { connection: 'close' })
    }
    const hasBody = (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined
    let body: Transform | undefined
    if (hasBody) {
      let seen = 0
      body = new Transform({
        transform(chunk: Buffer, _enc, done) {
          seen += chunk.length
          done(seen > maxBody ? new BodyTooLarge() : null, chunk)
        },
      })
      pipeline(req, body, () => undefined)
    }
    const headers = upstreamHeaders(req.headers, {
      identity,
      forwardCredential: identity !== undefined && (options.forwardCredential ?? false),
      clientIp: req.socket.remoteAddress ?? '',
      proto,
      trustForwarded: options.trustForwarded ?? false,
    })
    const outcome = await forward(pool, req, res, {
      path: basePath + (req.url ?? '/'),
      headers,
      body: body ?? null,
      onBrokenResponse: (detail) => (ctx.reason = detail),
    })
    if ('status' in outcome) {
      ctx.upstreamMs = outcome.upstreamMs
      metrics.upstreamDuration.observe(outcome.upstreamMs / 1000)
      return
    }
    ctx.reason = outcome.detail
    if (outcome.failure === 'client-gone' || res.headersSent) return
    if (outcome.failure === 'too-large')
      return json(res, 413, { error: 'request body too large' }, { connection: 'close' })
    if (outcome.failure === 'timeout') return json(res, 504, { error: 'upstream timeout' })
    return json(res, 502, { error: 'upstream unavailable' })
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) json(res, 500, { error: 'internal error' })
      else res.destroy()
    })
  }
  const server: Server = options.tls
    ? (createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) as unknown as Server)
    : createHttpServer(handler)
  server.on('connection', (socket) => socket.setNoDelay(true))
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) {
      socket.destroy()
      return
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400
    const text = JSON.stringify({ error: status === 431 ? 'request headers too large' : 'bad request' })
    socket.end(
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${text.length}\r\nconnection: close\r\n\r\n${text}`,
    )
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      void pool.close()
      reject(
        new CapiscioError(
          'NETWORK_ERROR',
          `cannot listen on ${options.host ?? '127.0.0.1'}:${options.port ?? 0} (${err.code ?? err.message})`,
          { cause: err },
        ),
      )
    })
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.removeAllListeners('error')
      resolve()
    })
  })
  const addr = server.address() as AddressInfo
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  const url = `${proto}://${host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host}:${addr.port}`

  let closing: Promise<void> | undefined
  async function close(): Promise<void> {
    closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      if (inFlight > 0) {
        await Promise.race([
          new Promise<void>((resolve) => (idle = resolve)),
          new Promise<void>((resolve) => setTimeout(resolve, options.drainTimeoutMs ?? 30_000).unref()),
        ])
      }
      server.closeAllConnections()
      await closed
      await pool.close().catch(() => undefined)
      await options.replay?.close?.()
    })()
    return closing
  }

  return { url, server, metrics, close }
}
