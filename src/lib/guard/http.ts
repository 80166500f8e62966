// SimpleGuard on the wire (DESIGN §8): requireSignature and signResponse for connect/Express and
// node:http, and guardedFetch for the calling side.
import { ServerResponse, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http'

import { runWithIdentity } from '../auth/context.js'
import { badgeToken } from '../auth/headers.js'
import { makeIdentity, type Identity } from '../auth/identity.js'
import { DEFAULT_EXEMPT_PATHS } from '../auth/middleware.js'
import { CapiscioError } from '../errors.js'
import type { SimpleGuard } from './guard.js'
import type { GuardClaims } from './token.js'

/** The response header that carries a signed response's token (DESIGN §8). */
export const SIGNATURE_HEADER = 'X-A2A-Signature'
/** The largest body requireSignature reads itself (1 MiB by default). */
export const DEFAULT_MAX_GUARD_BODY = 1024 * 1024

type Request = IncomingMessage & {
  originalUrl?: string
  /** The exact body bytes, when a body parser was given `verify: captureRawBody`. */
  rawBody?: Buffer
  body?: unknown
  /** body-parser's flag: the body was already read. */
  _body?: boolean
  /** The verified claims, set by requireSignature. */
  guardClaims?: GuardClaims
}
type Next = (err?: unknown) => void

/**
 * For `express.json({ verify: captureRawBody })` (or any body-parser): keeps the exact bytes on
 * `req.rawBody`, so requireSignature can check them after the parser ran.
 */
export function captureRawBody(req: IncomingMessage, _res: ServerResponse, buf: Buffer): void {
  ;(req as Request).rawBody = buf
}

export interface RequireSignatureOptions {
  /** 'json' (default): `{"error","code"}`; 'jsonrpc': `{"jsonrpc":"2.0","error":{code:-32001|-32002,…},"id"}`. */
  errorFormat?: 'json' | 'jsonrpc'
  /** Paths served without a token (default: the agent card and the probes, exact match). */
  exemptPaths?: Iterable<string>
  /** The largest body read (default 1 MiB); a larger one is refused with 413. */
  maxBodyBytes?: number
  /**
   * Told of every failure answered 500, whose detail the client never sees (it may name a file of
   * the server's): an unreadable trust store, a handler that threw. For a log; must not throw.
   */
  onError?: (error: unknown) => void
}

/** Refusals that mean "who are you?" (401, -32001); the rest mean "not you" (403, -32002). */
const UNAUTHENTICATED = new Set(['GUARD_MALFORMED'])

/** The one 500 a client is told why: the fix is in the agent's code, and names nothing of the server's. */
const PARSER_FIRST =
  'a body parser read the request before requireSignature without keeping its bytes: mount requireSignature first, or give the parser verify: captureRawBody'

/**
 * Verifies the SimpleGuard token of every request (X-Capiscio-Badge, else Authorization: Bearer)
 * over the exact body bytes. The token is checked first, as the gateway does, so that a request
 * without a valid one is refused without its body being read. The bytes come from `req.rawBody`
 * (see captureRawBody), else the request stream is read here; a JSON body read here is also
 * parsed onto req.body and marked read, so a later express.json() leaves it alone. On success the
 * claims are on req.guardClaims and getIdentity() returns the caller (id: iss, type "agent", the
 * claims in attrs). A handler (node:http's `next`) that throws or rejects gets a 500.
 */
export function requireSignature(
  guard: SimpleGuard,
  options: RequireSignatureOptions = {},
): (req: Request, res: ServerResponse, next: Next) => void {
  const exempt = new Set(options.exemptPaths ?? DEFAULT_EXEMPT_PATHS)
  const jsonrpc = options.errorFormat === 'jsonrpc'
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_GUARD_BODY

  const refuse = (res: ServerResponse, code: string, message: string, body: Buffer | undefined) => {
    if (res.headersSent) return
    // A refusal of the token is 401 or 403; anything else (an unreadable trust store) is ours: 500.
    const status =
      code === 'FILE_TOO_LARGE'
        ? 413
        : UNAUTHENTICATED.has(code)
          ? 401
          : code.startsWith('GUARD_')
            ? 403
            : 500
    const answer = jsonrpc
      ? {
          jsonrpc: '2.0',
          error: {
            code: status === 401 ? -32001 : status === 403 ? -32002 : -32603,
            message,
            data: { code },
          },
          id: requestId(body),
        }
      : { error: message, code }
    const text = JSON.stringify(answer)
    res.statusCode = status
    if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer')
    // The rest of a body too large is left unread: the connection cannot carry another request.
    if (status === 413) res.setHeader('Connection', 'close')
    res.setHeader('Content-Type', 'application/json')
    res.setHeader('Cache-Control', 'no-store')
    res.setHeader('Content-Length', Buffer.byteLength(text))
    res.end(text)
  }

  /** A failure of ours or of the handler: the detail goes to onError only (it may name a server path). */
  const failed = (
    res: ServerResponse,
    err: unknown,
    body: Buffer | undefined,
    message = 'internal error',
  ) => {
    try {
      options.onError?.(err)
    } catch {
      // A log hook that throws must not take the answer with it.
    }
    if (res.headersSent) res.destroy()
    else refuse(res, 'INTERNAL_ERROR', message, body)
  }

  /** Runs the rest of the request; a plain handler's throw or rejection is a 500, not a crash. */
  const proceed = (res: ServerResponse, next: Next, body: Buffer | undefined) => {
    // Express and connect catch their handlers' errors themselves (and pass them on with next(err));
    // what reaches here is a plain node:http handler's.
    let result: unknown
    try {
      result = (next as () => unknown)()
    } catch (err) {
      failed(res, err, body)
      return
    }
    if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function')
      (result as PromiseLike<unknown>).then(undefined, (err: unknown) => failed(res, err, body))
  }

  return (req, res, next) => {
    const url = req.originalUrl ?? req.url ?? '/'
    const end = url.search(/[?#]/)
    if (exempt.has(end < 0 ? url : url.slice(0, end))) {
      next()
      return
    }
    // The credential is judged before the body is read (as the gateway's pipeline does): no
    // request without a token that verifies makes the agent buffer its body.
    const presented = badgeToken(req.headers)
    if (!presented) return refuse(res, 'GUARD_MALFORMED', 'missing credential', req.rawBody)
    if (!('token' in presented))
      return refuse(res, 'GUARD_MALFORMED', 'the credential headers are not one token', req.rawBody)
    if (!Buffer.isBuffer(req.rawBody) && (req._body || req.readableEnded))
      return failed(res, new CapiscioError('INTERNAL_ERROR', PARSER_FIRST), undefined, PARSER_FIRST)
    let body = req.rawBody
    void guard
      .verifyInbound(presented.token, async () => (body = await rawBodyOf(req, maxBody)))
      .then(
        (claims) => {
          req.guardClaims = claims
          runWithIdentity(identityOf(claims), () => proceed(res, next, body))
        },
        (err: unknown) => {
          if (err instanceof CapiscioError && err.code.startsWith('GUARD_'))
            return refuse(res, err.code, err.message, body)
          if (err instanceof CapiscioError && err.code === 'FILE_TOO_LARGE')
            return refuse(res, 'FILE_TOO_LARGE', 'request body too large', undefined)
          // An unreadable trust store, a broken body: the message may name a server path.
          failed(res, err, body)
        },
      )
  }
}

/** The caller as an Identity: its issuer, as an agent, with the token's claims. */
function identityOf(claims: GuardClaims): Identity {
  const attrs: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(claims)) Object.defineProperty(attrs, k, { value: v, enumerable: true })
  return makeIdentity(String(claims.iss ?? ''), 'agent', [], attrs)
}

/** The JSON-RPC id of a request body, for error answers (null when there is none). */
function requestId(body: Buffer | undefined): unknown {
  if (!body || body.length === 0 || body.length > 64 * 1024) return null
  try {
    const id = (JSON.parse(body.toString('utf8')) as { id?: unknown }).id
    return typeof id === 'string' || typeof id === 'number' ? id : null
  } catch {
    return null
  }
}

/** The request's exact body bytes: captured by a parser, or read here (and parsed if JSON). */
async function rawBodyOf(req: Request, max: number): Promise<Buffer | undefined> {
  if (Buffer.isBuffer(req.rawBody)) return req.rawBody
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > max) throw new CapiscioError('FILE_TOO_LARGE', `the body is larger than ${max} bytes`)
    chunks.push(chunk as Buffer)
  }
  const body = Buffer.concat(chunks)
  req.rawBody = body
  // Parsed here and marked read, as body-parser does, so a later express.json() keeps this body.
  if (
    /^application\/([\w.+-]*\+)?json\b/i.test(String(req.headers['content-type'] ?? '')) &&
    body.length > 0
  ) {
    try {
      req.body = JSON.parse(body.toString('utf8'))
      req._body = true
    } catch {
      // Not JSON after all: the handler (or its parser) decides what to answer.
    }
  }
  return body
}

/**
 * Signs every response over the exact bytes sent: the whole body is held until end(), and so are
 * the status and headers (writeHead and flushHeaders only record them), then `X-A2A-Signature` is
 * set and the body sent with its Content-Length. For JSON answers of a protected agent, not for
 * streams (a stream's bytes are not known until it ends). An answer that cannot be signed is not
 * sent: a 500 without its body, or a closed connection when its headers already left.
 */
export function signResponse(
  guard: SimpleGuard,
): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  return (req, res, next) => {
    const chunks: Buffer[] = []
    const write = res.write.bind(res)
    const end = res.end.bind(res)
    const writeHead = res.writeHead.bind(res)
    // Set once the signed answer goes out: node's own end() and write() send the head through writeHead.
    let sending = false
    const toBuffer = (chunk: unknown, encoding?: unknown) =>
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
        : Buffer.from(chunk as Uint8Array)
    // writeHead would send the head before the body is known, so without the signature: its
    // status and headers are kept on res, and go out with the signature at end().
    res.writeHead = ((status: number, reason?: unknown, headers?: unknown) => {
      if (sending) return writeHead(status, reason as string, headers as OutgoingHttpHeaders)
      if (typeof reason === 'string') res.statusMessage = reason
      else headers = reason
      res.statusCode = status
      for (const [name, value] of headerList(headers)) res.setHeader(name, value)
      return res
    }) as typeof res.writeHead
    res.flushHeaders = () => {
      if (sending) ServerResponse.prototype.flushHeaders.call(res)
    }
    res.write = ((chunk: unknown, encoding?: unknown, cb?: unknown) => {
      if (chunk !== undefined && chunk !== null) chunks.push(toBuffer(chunk, encoding))
      const done = typeof encoding === 'function' ? encoding : cb
      if (typeof done === 'function') process.nextTick(done as () => void)
      return true
    }) as typeof res.write
    res.end = ((chunk?: unknown, encoding?: unknown, cb?: unknown) => {
      if (typeof chunk === 'function') cb = chunk
      else if (chunk !== undefined && chunk !== null) chunks.push(toBuffer(chunk, encoding))
      if (typeof encoding === 'function') cb = encoding
      const body = Buffer.concat(chunks)
      const send = (token: string | undefined) => {
        sending = true
        // Its head left before signResponse could hold it (sent by a middleware mounted earlier):
        // the answer cannot carry the signature, and unsigned is not sent.
        if (res.headersSent) return void res.destroy()
        if (token === undefined) {
          // Unsigned is not sent: a client that checks signatures would take it for forged.
          res.statusCode = 500
          res.removeHeader('Content-Length')
          end()
          return
        }
        res.setHeader(SIGNATURE_HEADER, token)
        // A HEAD answer's length is its GET's, and a 204 or 304 has none.
        const bodiless = req.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304
        if (!bodiless) res.setHeader('Content-Length', body.length)
        write(body)
        end(typeof cb === 'function' ? (cb as () => void) : undefined)
      }
      void guard.signOutbound({}, body).then(send, () => send(undefined))
      return res
    }) as typeof res.end
    next()
  }
}

/** writeHead's headers (an object, [name, value] pairs, or a flat name, value list) as setHeader takes them. */
function headerList(headers: unknown): [string, number | string | string[]][] {
  if (!headers) return []
  if (!Array.isArray(headers))
    return Object.entries(headers as OutgoingHttpHeaders).filter(
      (entry): entry is [string, number | string | string[]] => entry[1] !== undefined,
    )
  const pairs = (Array.isArray(headers[0]) ? headers : chunked(headers)) as [string, string][]
  // One setHeader per name: a name writeHead is given twice is sent twice.
  const byName = new Map<string, [string, string[]]>()
  for (const [name, value] of pairs) {
    const entry = byName.get(name.toLowerCase()) ?? [name, []]
    entry[1].push(String(value))
    byName.set(name.toLowerCase(), entry)
  }
  return [...byName.values()].map(([name, values]) => [name, values.length === 1 ? values[0]! : values])
}

function chunked(flat: unknown[]): unknown[][] {
  const pairs: unknown[][] = []
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i], flat[i + 1]])
  return pairs
}

export interface GuardedFetchOptions {
  /** The fetch to wrap (default globalThis.fetch). */
  fetch?: typeof fetch
  /** Also verify each response's X-A2A-Signature over its exact bytes (default false). */
  verifyResponse?: boolean
  /** Claims added to every request token. */
  claims?: Record<string, unknown>
}

/** Statuses whose Response has no body (the fetch standard's null body statuses). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304])

/**
 * A fetch that signs every request over its exact body (string, bytes or none) into
 * `X-Capiscio-Badge`, and with verifyResponse refuses a response whose signature does not verify
 * (a GUARD_* CapiscioError; GUARD_MALFORMED when it has none). A Request's method, headers and
 * body are its own, unless init gives others (as fetch takes them).
 */
export function guardedFetch(guard: SimpleGuard, options: GuardedFetchOptions = {}): typeof fetch {
  const doFetch = options.fetch ?? globalThis.fetch
  return (async (input: string | URL | globalThis.Request, init: RequestInit = {}) => {
    const request = input instanceof globalThis.Request ? input : undefined
    // A Request's own body is read from a clone, so that the Request itself can still be sent.
    const body =
      init.body === undefined && request?.body
        ? Buffer.from(await request.clone().arrayBuffer())
        : bodyBytes(init.body)
    const token = await guard.signOutbound({ ...options.claims }, body)
    const headers = new Headers(init.headers ?? request?.headers)
    headers.set('X-Capiscio-Badge', token)
    const res = await doFetch(input, { ...init, headers, body: body ?? null })
    if (!options.verifyResponse) return res
    const bytes = Buffer.from(await res.arrayBuffer())
    const signature = res.headers.get(SIGNATURE_HEADER)
    if (!signature) throw new CapiscioError('GUARD_MALFORMED', `the response has no ${SIGNATURE_HEADER}`)
    await guard.verifyInbound(signature, bytes)
    const verified = new Response(NULL_BODY_STATUSES.has(res.status) ? null : bytes, {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    })
    // A constructed Response has no URL and was never redirected: the caller sees the real one's.
    Object.defineProperties(verified, {
      url: { value: res.url, enumerable: true },
      redirected: { value: res.redirected, enumerable: true },
    })
    return verified
  }) as typeof fetch
}

function bodyBytes(body: RequestInit['body']): Buffer | undefined {
  if (body === undefined || body === null) return undefined
  if (typeof body === 'string') return Buffer.from(body, 'utf8')
  if (body instanceof ArrayBuffer) return Buffer.from(body)
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  throw new CapiscioError('USAGE', 'guardedFetch signs string and byte bodies; serialise the body first')
}
