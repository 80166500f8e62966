import type { IncomingMessage, ServerResponse } from 'node:http'

import { identityHeaders } from './headers.js'
import type { GatewayIdentity } from './types.js'

/** Methods whose requests carry no body for a SimpleGuard token to sign. */
const BODYLESS_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Forward-auth for a request whose body the proxy did not send along: this check carries no body,
 * and the original request may have had one. The original method is the check's own (Envoy), or
 * what the proxy says it was (nginx: X-Original-Method as configured, Traefik:
 * X-Forwarded-Method). Only when every one of them is a method without a body is there none to
 * miss: a client adding a header can make this stricter, never looser.
 */
export function bodyNotPassedOn(req: IncomingMessage): boolean {
  const h = req.headers
  if (
    (h['content-length'] !== undefined && h['content-length'] !== '0') ||
    h['transfer-encoding'] !== undefined
  )
    return false
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
