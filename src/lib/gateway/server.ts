import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { Server as NetServer, type Socket } from 'node:net'

import { Pool } from 'undici'

import { CapiscioError } from '../errors.js'
import { answerCard, CARD_PATHS } from '../card/serve.js'
import { checkRequestTarget, hostProblem, upstreamHeaders } from './headers.js'
import { GatewayMetrics } from './metrics.js'
import {
  DENIALS,
  FORWARD_FAILURES,
  OUTCOMES,
  sendJson as json,
  sendOutcome,
  type Outcome,
} from './outcomes.js'
import { admitForwardAuth, bodyNotPassedOn, checkAuthPath } from './forward-auth.js'
import { createPipeline, type AuthResult } from './pipeline.js'
import { Connections, type Conn } from './connections.js'
import { forward, limitedBody, type ForwardOutcome } from './proxy.js'
import { InFlight, type Linked } from './in-flight.js'
import { answerRaw, clientErrorOf, listen, MAX_HEADER_BYTES, serverTimeouts } from './limits.js'
import { publicReason } from './reasons.js'
import { validateTarget } from './target.js'
import type { GatewayOptions } from './options.js'
import type { CredentialKind, GatewayIdentity, RequestLogEntry } from './types.js'

export interface Gateway {
  url: string
  server: Server
  metrics: GatewayMetrics
  /** Stops accepting, lets in-flight requests finish (up to the drain timeout), then closes. */
  close(): Promise<void>
}

interface Ctx extends Linked<Ctx> {
  /** performance.now() at arrival. */
  start: number
  res: ServerResponse
  upstreamMs?: number
  subject?: string
  credential?: CredentialKind
  reason?: string
  code?: string
  /** Set when the gateway itself cut the response short: the status and reason to log. */
  cut?: { status: number; reason: string }
  /**
   * `Expect: 100-continue`, no 100 sent yet: the client waits for it before it sends the body, and
   * gets it only once the gateway reads the body (after the credential verified). Answered before
   * that, the response closes the connection (Node does so when no 100 went out): the body may
   * still come, unread.
   */
  awaitsContinue?: true
}

/** A request's `Expect`: `100-continue`, or anything else (which is refused). */
type Expectation = 'continue' | 'other'

/** A request that got no full answer because the client went away (nginx's convention). */
const CLIENT_CLOSED = 499

/** Client errors that mean the client left: a reset, a broken pipe, an end before the body's. */
const CLIENT_LEFT = new Set(['ECONNRESET', 'EPIPE', 'HPE_INVALID_EOF_STATE'])

export { validateTarget }
export type { GatewayOptions }

/** The gateway (DESIGN §9): the same server for the CLI, tests and embedding. */
export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const forwardAuthOnly = options.mode === 'auth'
  if (!forwardAuthOnly && options.target === undefined)
    throw new CapiscioError('USAGE', 'a target is required in proxy mode', { options: ['target'] })
  const target = forwardAuthOnly ? undefined : validateTarget(options.target!)
  const basePath = target ? target.pathname.replace(/\/+$/, '') : ''
  const verifiers = options.verifiers ?? (options.verifier ? [options.verifier] : [])
  if (verifiers.length === 0)
    throw new CapiscioError('USAGE', 'at least one credential verifier is required', { options: ['verify'] })
  const metrics = options.metrics ?? new GatewayMetrics()
  const maxBody = options.maxBodyBytes ?? 10 * 1024 * 1024
  const authPath = forwardAuthOnly ? undefined : (options.authPath ?? '/auth') || undefined
  checkAuthPath(authPath)
  const authenticate = createPipeline({ verifiers, replay: options.replay, maxBodyBytes: maxBody })
  const pool = target
    ? new Pool(target.origin, {
        connect: { timeout: options.connectTimeoutMs ?? 5000 },
        headersTimeout: options.upstreamTimeoutMs ?? 30_000,
        bodyTimeout: 0, // streams such as SSE may idle; a dead upstream still ends the stream
        keepAliveTimeout: 4000,
        pipelining: 1,
      })
    : undefined
  const proto = options.tls ? 'https' : 'http'
  const graceMs = options.drainGraceMs ?? 1000
  /** Requests whose response has not closed: drain turns keep-alive off and may cut them. */
  const live = new InFlight<Ctx>()
  const untrack = metrics.trackInFlight(() => live.size)

  function finish(req: IncomingMessage, res: ServerResponse, ctx: Ctx, path: string): void {
    const durationMs = performance.now() - ctx.start
    const method = req.method ?? 'GET'
    let status = res.statusCode
    let reason = ctx.reason
    if (!res.writableFinished) {
      // The client did not get the whole answer: log and count what happened, not the status
      // line it may have seen.
      status = ctx.cut?.status ?? CLIENT_CLOSED
      reason = ctx.cut?.reason ?? 'client closed the connection'
    }
    metrics.answered(status, method, durationMs / 1000)
    live.delete(ctx)
    connections.closed(req.socket)
    if (!options.onLog) return
    const entry: RequestLogEntry = { time: new Date(), status, method, path, durationMs }
    if (ctx.upstreamMs !== undefined) entry.upstreamMs = ctx.upstreamMs
    if (ctx.subject) entry.subject = ctx.subject
    if (ctx.credential) entry.credential = ctx.credential
    if (reason) entry.reason = reason
    if (ctx.code) entry.code = ctx.code
    options.onLog(entry)
  }

  /** Answers with an outcome of the table (outcomes.ts), noting it for the log line and the metrics. */
  function refuse(res: ServerResponse, ctx: Ctx, outcome: Outcome, reason?: string, code?: string): void {
    ctx.reason = code ? publicReason(code) : (reason ?? OUTCOMES[outcome].error)
    if (code) ctx.code = code
    if (DENIALS.has(outcome))
      metrics.decided('denied', code ?? OUTCOMES[outcome].error.replace(/ /g, '_'), ctx.credential ?? 'none')
    sendOutcome(res, outcome, code)
  }

  /** The body is about to be read: a client waiting on `Expect: 100-continue` may send it now. */
  function continueBody(res: ServerResponse, ctx: Ctx): void {
    if (!ctx.awaitsContinue) return
    ctx.awaitsContinue = undefined
    res.writeContinue()
  }

  type Admitted = Extract<AuthResult, { identity: GatewayIdentity }>

  /**
   * Runs the authentication stages and calls `admitted` with the verified caller; on a refusal
   * answers it instead. At once when the pipeline answers at once (the hot path), else when it does.
   */
  function admit(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: Ctx,
    forwardAuthAnswer: boolean,
    admitted: (result: Admitted) => void,
  ): void {
    const result = authenticate(
      req,
      forwardAuthAnswer && bodyNotPassedOn(req),
      // A closure only for the few requests that wait for a 100.
      ctx.awaitsContinue ? () => continueBody(res, ctx) : undefined,
    )
    if (result instanceof Promise)
      result.then((r) => decide(res, ctx, forwardAuthAnswer, r, admitted)).catch(failed(res, ctx))
    else decide(res, ctx, forwardAuthAnswer, result, admitted)
  }

  function decide(
    res: ServerResponse,
    ctx: Ctx,
    forwardAuthAnswer: boolean,
    result: AuthResult,
    admitted: (result: Admitted) => void,
  ): void {
    if ('outcome' in result) {
      if (result.credential) ctx.credential = result.credential
      if (result.subject) ctx.subject = result.subject
      // nginx auth_request turns any answer but 2xx, 401 and 403 into a 500: two credentials is a 401 there.
      const outcome = forwardAuthAnswer && result.outcome === 'conflict' ? 'conflict-401' : result.outcome
      return refuse(res, ctx, outcome, result.reason, result.code)
    }
    ctx.subject = result.identity.subject
    ctx.credential = result.identity.kind ?? 'badge'
    metrics.decided('allowed', 'valid', ctx.credential)
    admitted(result)
  }

  /** What a failure of our own becomes: the log says what failed (our error, never a credential); the client only that it was us. */
  function failed(res: ServerResponse, ctx: Ctx): (err: unknown) => void {
    return (err) => {
      ctx.reason = `internal error (${err instanceof Error ? err.message : String(err)})`
      if (!res.headersSent) sendOutcome(res, 'internal')
      else res.destroy()
    }
  }

  /** Why the gateway cannot admit anyone now: a short public reason, and the detail for the log. */
  function readiness(): { reason: string; detail: string } | undefined {
    // A probe on a connection kept alive across the signal: take this gateway out of rotation.
    if (connections.draining) return { reason: 'draining', detail: 'draining for shutdown' }
    for (const v of verifiers) {
      const keys = v.notReadyReason?.()
      if (keys !== undefined || v.ready?.() === false)
        return { reason: 'key source not loaded', detail: keys ?? 'key source not loaded' }
    }
    const replay = options.replay?.notReadyReason?.()
    if (replay !== undefined) return { reason: 'replay store unavailable', detail: replay }
    return undefined
  }

  function handle(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: Ctx,
    conn: Conn<Ctx> | undefined,
    expect: Expectation | undefined,
  ): void {
    const rawUrl = req.url ?? '/'
    const q = rawUrl.indexOf('?')
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q)
    res.once('close', () => finish(req, res, ctx, path))
    if (conn?.ended) {
      // Sent after the gateway closed the connection (a keep-alive race): the client sees a clean
      // close without an answer and may retry; it is not forwarded.
      ctx.cut = { status: 503, reason: 'arrived on a connection the gateway had closed; not forwarded' }
      req.resume()
      return
    }
    const method = req.method ?? 'GET'
    if (!checkRequestTarget(rawUrl)) return refuse(res, ctx, 'bad-target')
    if (req.headers.host === undefined && req.httpVersion === '1.1') return refuse(res, ctx, 'no-host')
    const badHost = hostProblem(req.headers.host, req.rawHeaders)
    if (badHost) return refuse(res, ctx, 'bad-host', badHost)
    if (expect === 'other') return refuse(res, ctx, 'expectation-failed', 'unsupported Expect header')
    const isRead = method === 'GET' || method === 'HEAD'

    // 1. Route: the gateway's own endpoints need no credential.
    if (isRead && path === '/health') return json(res, 200, { status: 'ok' })
    if (isRead && path === '/ready') {
      const notReady = readiness()
      if (!notReady) return json(res, 200, { status: 'ready' })
      ctx.reason = `not ready: ${notReady.detail}`
      return json(res, 503, { status: 'not ready', reason: notReady.reason })
    }
    if (isRead && path === '/metrics') {
      metrics.text().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.contentType })
          res.end(text)
        },
        failed(res, ctx),
      )
      return
    }
    if (forwardAuthOnly || path === authPath)
      return admit(req, res, ctx, true, (a) => admitForwardAuth(req, res, a.identity))
    if (isRead && CARD_PATHS.has(path)) {
      if (options.card) return answerCard(req, res, { v1: options.card })
      return proxy(req, res, ctx, undefined, undefined)
    }

    // 2-4. Extract, verify, replay; then 5. proxy.
    admit(req, res, ctx, false, (a) => proxy(req, res, ctx, a.identity, a.body))
  }

  function proxy(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: Ctx,
    identity: GatewayIdentity | undefined,
    /** The body, when authentication had to read it whole (SimpleGuard): forwarded as it is. */
    read: Buffer | undefined,
  ): void {
    const length = req.headers['content-length']
    if (length !== undefined && Number(length) > maxBody)
      return refuse(res, ctx, 'too-large', 'request body too large')
    const hasBody = (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined
    // A body read whole for verification is forwarded as it came; an empty one is no body.
    const body = read?.length ? read : hasBody && !read ? limitedBody(req, maxBody) : undefined
    if (body !== undefined && body !== read) continueBody(res, ctx)
    const headers = upstreamHeaders(req.headers, {
      identity,
      forwardCredential: identity !== undefined && (options.forwardCredential ?? false),
      clientIp: req.socket.remoteAddress ?? '',
      proto,
      trustForwarded: options.trustForwarded ?? false,
    })
    forward(
      pool!,
      req,
      res,
      {
        path: basePath + (req.url ?? '/'),
        headers,
        body: body ?? null,
        onBrokenResponse: (detail) => (ctx.cut ??= { status: 502, reason: detail }),
      },
      (outcome) => forwarded(req, res, ctx, outcome),
    )
  }

  function forwarded(req: IncomingMessage, res: ServerResponse, ctx: Ctx, outcome: ForwardOutcome): void {
    if ('status' in outcome) {
      ctx.upstreamMs = outcome.upstreamMs
      metrics.upstreamDuration.observe(outcome.upstreamMs / 1000)
      return
    }
    ctx.reason = outcome.detail
    if (outcome.failure === 'client-gone' || res.headersSent) return
    // A body the target never took is still on its way in: the connection cannot carry another
    // request after it, so this answer closes it (else it would sit there, unread, until drain).
    if (!req.complete) res.shouldKeepAlive = false
    sendOutcome(res, FORWARD_FAILURES[outcome.failure])
  }

  const handler = (req: IncomingMessage, res: ServerResponse, expect?: Expectation) => {
    const ctx: Ctx = { start: performance.now(), res }
    const conn = connections.opened(req.socket, ctx)
    live.add(ctx)
    // Draining: this answer is the connection's last, and says so.
    if (connections.draining) res.shouldKeepAlive = false
    if (expect === 'continue') ctx.awaitsContinue = true
    try {
      handle(req, res, ctx, conn, expect)
    } catch (err) {
      failed(res, ctx)(err)
    }
  }
  const limits = {
    maxHeaderSize: MAX_HEADER_BYTES,
    // Answered by the handler (400, logged and counted) rather than by Node's bare 400.
    requireHostHeader: false,
    ...serverTimeouts(options.headersTimeoutMs ?? 10_000, options.requestTimeoutMs ?? 300_000),
  }
  const server: Server = options.tls
    ? (createHttpsServer(
        {
          ...limits,
          // A connection that never finishes its handshake holds a slot as one that never sends its
          // headers does: the same limit (Node's own is 120 s, a cheap way to fill --max-connections).
          handshakeTimeout: limits.headersTimeout > 0 ? limits.headersTimeout : undefined,
          cert: options.tls.cert,
          key: options.tls.key,
        },
        handler,
      ) as unknown as Server)
    : createHttpServer(limits, handler)
  // Without these, Node answers `Expect` itself: 100 Continue before the credential is looked at
  // (a refused client still uploads its body), and a bare 417 that is neither logged nor counted.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handler(req, res, 'continue'))
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => handler(req, res, 'other'))
  server.maxConnections = options.maxConnections ?? 1024
  const connections = new Connections<Ctx>(server, Boolean(options.tls), graceMs)
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const conn = connections.get(socket)
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    // A request whose body broke mid-way (a bad chunk) or came too slowly: its log line says so. A
    // client that went away (a reset, or its side closed before the body's end) is logged as one
    // that left, 499, by finish(): it is no fault of the request's framing.
    if (conn && conn.busy > 0 && conn.ctx && !CLIENT_LEFT.has(err.code ?? '')) {
      conn.ctx.cut ??= timedOut
        ? { status: 408, reason: 'request body too slow (request timeout)' }
        : { status: 400, reason: `request body broken (${err.code ?? 'parse error'})` }
    }
    if (!socket.writable || conn?.ctx?.res.headersSent) {
      socket.destroy()
      return
    }
    const { status, reason } = clientErrorOf(err)
    // No request came of it (the parser refused its head): still one answer, so one line and one
    // count, as for every request.
    rawAnswer(socket, status, conn && conn.busy > 0 ? undefined : { method: '-', path: '-', reason })
  })
  server.on('connect', (req: IncomingMessage, socket: Socket) =>
    rawAnswer(socket, 501, { method: 'CONNECT', path: req.url ?? '-', reason: 'CONNECT is not supported' }),
  )

  /**
   * Answers on the socket itself and closes the connection; logs and counts the answer unless the
   * request it cuts short (a broken body) is logged already.
   */
  function rawAnswer(
    socket: Socket,
    status: 400 | 408 | 431 | 501,
    log?: { method: string; path: string; reason: string },
  ): void {
    if (log) {
      metrics.answered(status, log.method, 0)
      options.onLog?.({ time: new Date(), status, durationMs: 0, ...log })
    }
    answerRaw(socket, status)
  }

  const url = await listen(server, proto, options.port ?? 0, options.host ?? '127.0.0.1').catch((err) => {
    void pool?.close()
    throw err
  })

  let closing: Promise<void> | undefined
  /**
   * The drain (DESIGN §9): stop listening; every answer from now on says `Connection: close` and
   * ends its connection; a connection idle now may still bring a request for `drainGraceMs`, then is
   * closed with a FIN (never a reset); whatever is left at `drainTimeoutMs` is cut.
   */
  async function close(): Promise<void> {
    closing ??= (async () => {
      // net.Server#close stops listening and waits for the connections; http.Server#close would
      // also destroy idle keep-alive connections at once, resetting requests already on their way.
      const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()))
      connections.drain()
      for (const { res } of live.items()) if (!res.headersSent) res.shouldKeepAlive = false
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<'deadline'>(
        (resolve) => (timer = setTimeout(resolve, options.drainTimeoutMs ?? 30_000, 'deadline')),
      )
      if ((await Promise.race([closed, deadline])) === 'deadline') {
        for (const ctx of live.items()) ctx.cut ??= { status: 503, reason: 'cut at the drain deadline' }
        connections.cutAll()
        await closed
      }
      clearTimeout(timer)
      // Clears Node's connection-checking timer (the listener is already closed).
      server.close(() => undefined)
      // Only now: the upstream pool serves the requests drained above.
      await pool?.close().catch(() => undefined)
      await options.replay?.close?.()
      untrack()
    })()
    return closing
  }

  return { url, server, metrics, close }
}
