import type { IncomingMessage, ServerResponse } from 'node:http'

import { CapiscioError } from '../errors.js'
import type { Authenticator } from './authenticator.js'
import { runWithIdentity } from './context.js'
import { hasCredential } from './headers.js'
import { asIdentity, type Identity } from './identity.js'

/** Paths an agent serves to anyone (exact match): its card, and the probes of its platform. */
export const DEFAULT_EXEMPT_PATHS: readonly string[] = Object.freeze([
  '/.well-known/agent-card.json',
  '/.well-known/agent.json',
  '/health',
  '/metrics',
])

export interface AuthMiddlewareOptions {
  authenticator: Authenticator
  /** Paths served without a credential, matched exactly (default DEFAULT_EXEMPT_PATHS). */
  exemptPaths?: Iterable<string>
  /** Path prefixes served without a credential (default none). */
  exemptPrefixes?: Iterable<string>
  /** false: a request without a valid credential goes on with no identity instead of a 401 (default true). */
  requireAuth?: boolean
}

/** The request as connect and Express hand it over: Express adds originalUrl when mounted under a path. */
type Request = IncomingMessage & { originalUrl?: string }
type Next = (err?: unknown) => void

export const UNAUTHORIZED_BODY = JSON.stringify({
  error: 'Unauthorized',
  detail: 'Missing or invalid Bearer token',
})

/**
 * A path that a router might resolve to somewhere else than it reads: dot segments, encoded
 * slashes or dots, backslashes, doubled slashes. Such a path is never exempt, so
 * "/public/../admin" cannot borrow the exemption of "/public/".
 */
const AMBIGUOUS_PATH = /(^|\/)\.\.?(\/|$)|%2e|%2f|%5c|\\|\/\//i

/**
 * Authentication for connect/Express (docs/architecture.md §7): `app.use(authMiddleware({...}))`.
 * A request to an exempt path goes on untouched. Otherwise the authenticator decides; without an
 * identity the answer is 401 with `WWW-Authenticate: Bearer` (and `error="invalid_token"` when a
 * credential was sent, RFC 6750 §3.1), unless requireAuth is false. The rest of the request runs
 * with its identity in an AsyncLocalStorage: getIdentity() returns it, after awaits too, and
 * never in another request.
 */
export function authMiddleware(
  options: AuthMiddlewareOptions,
): (req: Request, res: ServerResponse, next: Next) => void {
  const { authenticator } = options
  if (typeof authenticator?.authenticate !== 'function')
    throw new CapiscioError(
      'USAGE',
      'authMiddleware needs an authenticator (an object with authenticate())',
      {
        options: ['authenticator'],
      },
    )
  const exact = new Set(options.exemptPaths ?? DEFAULT_EXEMPT_PATHS)
  const prefixes = [...(options.exemptPrefixes ?? [])]
  const requireAuth = options.requireAuth ?? true

  const exempt = (req: Request): boolean => {
    // The full path even when mounted under a prefix (Express strips it from req.url), so that
    // a mount at /api does not make /api/health exempt. No query, never decoded.
    const url = req.originalUrl ?? req.url ?? '/'
    const end = url.search(/[?#]/)
    const path = end < 0 ? url : url.slice(0, end)
    if (exact.has(path)) return true
    return prefixes.length > 0 && !AMBIGUOUS_PATH.test(path) && prefixes.some((p) => path.startsWith(p))
  }

  const proceed = (req: Request, res: ServerResponse, next: Next, identity: Identity | null) => {
    if (identity === null && requireAuth) {
      unauthorized(res, hasCredential(req.headers))
      return
    }
    runWithIdentity(identity, () => next())
  }

  return (req, res, next) => {
    if (exempt(req)) {
      runWithIdentity(null, () => next())
      return
    }
    let answer: unknown
    try {
      answer = authenticator.authenticate(req.headers)
    } catch {
      answer = null // the contract is "never throws"; one that does refuses (fail closed)
    }
    if (!isThenable(answer)) {
      proceed(req, res, next, asIdentity(answer))
      return
    }
    Promise.resolve(answer).then(
      (identity) => proceed(req, res, next, asIdentity(identity)),
      () => proceed(req, res, next, null),
    )
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function'
  )
}

/** Writes the 401 (docs/architecture.md §7). */
export function unauthorized(res: ServerResponse, credentialSent: boolean): void {
  if (res.headersSent) return
  res.statusCode = 401
  res.setHeader('WWW-Authenticate', credentialSent ? 'Bearer error="invalid_token"' : 'Bearer')
  res.setHeader('Content-Type', 'application/json')
  res.setHeader('Cache-Control', 'no-store')
  res.setHeader('Content-Length', Buffer.byteLength(UNAUTHORIZED_BODY))
  res.end(UNAUTHORIZED_BODY)
}

/**
 * authMiddleware for a plain node:http handler: `http.createServer(withAuth(handler, {...}))`. A
 * handler that throws or rejects gets a 500 (if nothing was sent yet) instead of crashing the server.
 */
export function withAuth(
  handler: (req: IncomingMessage, res: ServerResponse) => unknown,
  options: AuthMiddlewareOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const middleware = authMiddleware(options)
  const failed = (res: ServerResponse) => {
    if (res.headersSent) res.destroy()
    else {
      res.statusCode = 500
      res.setHeader('Content-Type', 'application/json')
      res.end(JSON.stringify({ error: 'Internal Server Error' }))
    }
  }
  return (req, res) =>
    middleware(req, res, () => {
      try {
        const result = handler(req, res)
        if (result instanceof Promise) result.catch(() => failed(res))
      } catch {
        failed(res)
      }
    })
}
