// SimpleGuard on the wire (DESIGN §8): requireSignature and signResponse for connect/Express and
// node:http, and guardedFetch for the calling side.
import type { IncomingMessage, ServerResponse } from 'node:http'

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
}

/** Refusals that mean "who are you?" (401, -32001); the rest mean "not you" (403, -32002). */
const UNAUTHENTICATED = new Set(['GUARD_MISSING', 'GUARD_MALFORMED'])

/**
 * Verifies the SimpleGuard token of every request (X-Capiscio-Badge, else Authorization: Bearer)
 * over the exact body bytes. The bytes come from `req.rawBody` (see captureRawBody), else the
 * request stream is read here; a JSON body read here is also parsed onto req.body and marked
 * read, so a later express.json() leaves it alone. On success the claims are on req.guardClaims
 * and getIdentity() returns the caller (id: iss, type "agent", the claims in attrs).
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
      code === 'GUARD_BODY_TOO_LARGE'
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
    res.setHeader('Content-Type', 'application/json')
    res.setHeader('Cache-Control', 'no-store')
    res.setHeader('Content-Length', Buffer.byteLength(text))
    res.end(text)
  }

  return (req, res, next) => {
    const url = req.originalUrl ?? req.url ?? '/'
    const end = url.search(/[?#]/)
    if (exempt.has(end < 0 ? url : url.slice(0, end))) {
      next()
      return
    }
    const presented = badgeToken(req.headers)
    void rawBodyOf(req, maxBody).then(
      async (body) => {
        if (!presented) return refuse(res, 'GUARD_MISSING', 'missing credential', body)
        if (!('token' in presented))
          return refuse(res, 'GUARD_MALFORMED', 'the credential headers are not one token', body)
        let claims: GuardClaims
        try {
          claims = await guard.verifyInbound(presented.token, body)
        } catch (err) {
          if (!(err instanceof CapiscioError))
            return refuse(res, 'INTERNAL_ERROR', 'verification failed', body)
          return refuse(res, err.code, err.message, body)
        }
        req.guardClaims = claims
        runWithIdentity(identityOf(claims), () => next())
      },
      (err: unknown) => {
        const code = err instanceof CapiscioError ? err.code : 'INTERNAL_ERROR'
        if (code === 'FILE_TOO_LARGE')
          return refuse(res, 'GUARD_BODY_TOO_LARGE', 'request body too large', undefined)
        if (res.headersSent) return
        res.statusCode = 500
        res.setHeader('Content-Type', 'application/json')
        res.end(JSON.stringify({ error: err instanceof Error ? err.message : 'cannot read the body', code }))
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
  if (req._body || req.readableEnded) {
    throw new CapiscioError(
      'INTERNAL_ERROR',
      'a body parser read the request before requireSignature without keeping its bytes: mount requireSignature first, or give the parser verify: captureRawBody',
    )
  }
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
 * Signs every response over the exact bytes sent: the whole body is held until end(), then
 * `X-A2A-Signature` is set and the body sent with its Content-Length. For JSON answers of a
 * protected agent, not for streams (a stream's bytes are not known until it ends).
 */
export function signResponse(
  guard: SimpleGuard,
): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  return (_req, res, next) => {
    const chunks: Buffer[] = []
    const write = res.write.bind(res)
    const end = res.end.bind(res)
    const toBuffer = (chunk: unknown, encoding?: unknown) =>
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
        : Buffer.from(chunk as Uint8Array)
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
      void guard.signOutbound({}, body).then(
        (token) => {
          if (!res.headersSent) {
            res.setHeader(SIGNATURE_HEADER, token)
            res.setHeader('Content-Length', body.length)
          }
          write(body)
          end(typeof cb === 'function' ? (cb as () => void) : undefined)
        },
        () => {
          // Unsigned is not sent: a client that checks signatures would take it for forged.
          if (!res.headersSent) {
            res.statusCode = 500
            res.removeHeader('Content-Length')
          }
          end()
        },
      )
      return res
    }) as typeof res.end
    next()
  }
}

export interface GuardedFetchOptions {
  /** The fetch to wrap (default globalThis.fetch). */
  fetch?: typeof fetch
  /** Also verify each response's X-A2A-Signature over its exact bytes (default false). */
  verifyResponse?: boolean
  /** Claims added to every request token. */
  claims?: Record<string, unknown>
}

/**
 * A fetch that signs every request over its exact body (string, bytes or none) into
 * `X-Capiscio-Badge`, and with verifyResponse refuses a response whose signature does not verify
 * (a GUARD_* CapiscioError; GUARD_MISSING when it has none).
 */
export function guardedFetch(guard: SimpleGuard, options: GuardedFetchOptions = {}): typeof fetch {
  const doFetch = options.fetch ?? globalThis.fetch
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const body = bodyBytes(init.body)
    const token = await guard.signOutbound({ ...options.claims }, body)
    const headers = new Headers(init.headers)
    headers.set('X-Capiscio-Badge', token)
    const res = await doFetch(input as string, { ...init, headers, body: body ?? null })
    if (!options.verifyResponse) return res
    const bytes = Buffer.from(await res.arrayBuffer())
    const signature = res.headers.get(SIGNATURE_HEADER)
    if (!signature) throw new CapiscioError('GUARD_MALFORMED', `the response has no ${SIGNATURE_HEADER}`)
    await guard.verifyInbound(signature, bytes)
    return new Response(bytes, { status: res.status, statusText: res.statusText, headers: res.headers })
  }) as typeof fetch
}

function bodyBytes(body: RequestInit['body']): Buffer | undefined {
  if (body === undefined || body === null) return undefined
  if (typeof body === 'string') return Buffer.from(body, 'utf8')
  if (body instanceof ArrayBuffer) return Buffer.from(body)
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  throw new CapiscioError('USAGE', 'guardedFetch signs string and byte bodies; serialise the body first')
}
