import type { IncomingMessage, ServerResponse } from 'node:http'

import { CapiscioError } from '../errors.js'
import { CARD_PATHS } from '../card/serve.js'
import { identityHeaders } from './headers.js'
import type { GatewayIdentity } from './types.js'

/** Paths the gateway answers before its forward-auth endpoint, without asking for a credential. */
const OPEN_PATHS: ReadonlySet<string> = new Set(['/health', '/ready', '/metrics', ...CARD_PATHS])

/**
 * Refuses a forward-auth path the gateway already answers without a credential: a proxy pointed at
 * `/health` for its auth_request would get 200 for every request, and admit everyone.
 */
export function checkAuthPath(path: string | undefined): void {
  if (path === undefined || path === '') return
  if (!path.startsWith('/'))
    throw new CapiscioError('USAGE', `authPath ${JSON.stringify(path)} must start with / (or be off)`, {
      options: ['authPath'],
    })
  if (OPEN_PATHS.has(path))
    throw new CapiscioError(
      'USAGE',
      `authPath ${JSON.stringify(path)} is answered without a credential, so every check there would pass`,
      { hint: 'use a path of its own, such as /auth', options: ['authPath'] },
    )
}

/** Methods whose requests carry no body for a SimpleGuard token to sign. */
const BODYLESS_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Forward-auth for a request whose body the proxy did not send along: this check carries no body,
 * and the original request may have had one. The original method is the check's own (Envoy), or
 * what the proxy says it was (nginx: X-Original-Method as configured, Traefik:
 * X-Forwarded-Method), and the body's length or framing when the proxy says them
 * (X-Original-Content-Length, X-Original-Transfer-Encoding). Only when none of them tells of a body
 * is there none to miss: a client adding a header can make this stricter, never looser.
 */
export function bodyNotPassedOn(req: IncomingMessage): boolean {
  const h = req.headers
  if (
    (h['content-length'] !== undefined && h['content-length'] !== '0') ||
    h['transfer-encoding'] !== undefined
  )
    return false
  // What the proxy says the original request carried (docs/deployment.md's nginx configuration
  // passes them): a GET can have a body too, which a check that goes by the method alone would miss.
  const length = h['x-original-content-length']
  if ((length !== undefined && length !== '' && length !== '0') || h['x-original-transfer-encoding'])
    return true
  for (const method of [req.method, h['x-original-method'], h['x-forwarded-method']])
    if (method !== undefined && !BODYLESS_METHODS.has(String(method).toUpperCase())) return true
  return false
}

/**
 * Forward-auth's answer for an admitted request (docs/deployment.md): 200 with the identity headers
 * for the proxy in front to pass on, and nothing proxied. Refusals are answered as anywhere else.
 */
export function admitForwardAuth(req: IncomingMessage, res: ServerResponse, identity: GatewayIdentity): void {
  req.resume()
  res.writeHead(200, { ...identityHeaders(identity), 'cache-control': 'no-store', 'content-length': 0 })
  res.end()
}
