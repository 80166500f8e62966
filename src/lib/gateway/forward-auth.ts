import type { IncomingMessage } from 'node:http'

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
