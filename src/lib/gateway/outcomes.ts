import type { ServerResponse } from 'node:http'

import { publicReason } from './reasons.js'

/**
 * Every way the gateway answers a request itself rather than with the target's answer
 * (docs/formats.md, "Gateway responses"): one row each, with its status, public error text and
 * headers. The pipeline decides the outcome; this table alone decides what the client sees.
 */
export const OUTCOMES = {
  'bad-target': { status: 400, error: 'bad request target' },
  /** RFC 9112 §3.2: an HTTP/1.1 request without Host is answered 400. */
  'no-host': { status: 400, error: 'missing host header' },
  /** RFC 9112 §3.2: nor is one with more than one Host line, or an invalid one. */
  'bad-host': { status: 400, error: 'bad host header' },
  /**
   * An Expect other than 100-continue (RFC 9110 §10.1.1). The body it announces may follow unread,
   * so the connection closes.
   */
  'expectation-failed': {
    status: 417,
    error: 'unsupported expectation',
    headers: { connection: 'close' },
  },
  conflict: { status: 400, error: 'conflicting credentials' },
  /** The same in forward-auth, where the proxy in front passes on only 401 and 403. */
  'conflict-401': {
    status: 401,
    error: 'conflicting credentials',
    headers: { 'www-authenticate': 'Bearer error="invalid_request"' },
  },
  missing: { status: 401, error: 'missing authorization header', headers: { 'www-authenticate': 'Bearer' } },
  /** A credential that is not valid; the error text comes from its code (reasons.ts). */
  refused: { status: 403, error: 'invalid credential' },
  'too-large': { status: 413, error: 'request body too large', headers: { connection: 'close' } },
  'body-broken': { status: 400, error: 'request body broken', headers: { connection: 'close' } },
  unavailable: { status: 503, error: 'credential verification unavailable' },
  'replay-unavailable': { status: 503, error: 'replay protection unavailable' },
  'upstream-unavailable': { status: 502, error: 'upstream unavailable' },
  'upstream-timeout': { status: 504, error: 'upstream timeout' },
  internal: { status: 500, error: 'internal error' },
} as const satisfies Record<string, { status: number; error: string; headers?: Record<string, string> }>

export type Outcome = keyof typeof OUTCOMES

/** The outcomes that are authentication decisions (counted in capiscio_gateway_auth_total). */
export const DENIALS: ReadonlySet<Outcome> = new Set([
  'bad-target',
  'no-host',
  'bad-host',
  'conflict',
  'conflict-401',
  'missing',
  'refused',
])

/** How a request that got no answer from the target is answered (the client that left gets none). */
export const FORWARD_FAILURES = {
  'too-large': 'too-large',
  timeout: 'upstream-timeout',
  unavailable: 'upstream-unavailable',
} as const satisfies Record<string, Outcome>

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  })
  res.end(text)
}

/** Sends an outcome's answer: `{"error": …}`, and for a refused credential its code. */
export function sendOutcome(res: ServerResponse, outcome: Outcome, code?: string): void {
  const row = OUTCOMES[outcome]
  const headers = 'headers' in row ? row.headers : undefined
  if (outcome === 'refused' && code) sendJson(res, row.status, { error: publicReason(code), code }, headers)
  else sendJson(res, row.status, { error: row.error }, headers)
}
