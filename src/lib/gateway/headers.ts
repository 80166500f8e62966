import type { IncomingHttpHeaders } from 'node:http'

import type { GatewayIdentity } from './types.js'

/** RFC 9110 §7.6.1 hop-by-hop headers: meaningful for one connection only, never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

export const IDENTITY_HEADERS = {
  subject: 'x-capiscio-subject',
  issuer: 'x-capiscio-issuer',
  trustLevel: 'x-capiscio-trust-level',
  jti: 'x-capiscio-badge-jti',
} as const

export type OutgoingHeaders = Record<string, string | string[]>

function connectionListed(headers: IncomingHttpHeaders): Set<string> {
  const listed = new Set<string>()
  const value = headers.connection
  if (typeof value === 'string') for (const name of value.split(',')) listed.add(name.trim().toLowerCase())
  return listed
}

export interface UpstreamHeaderOptions {
  /** The verified caller; absent for unauthenticated pass-through (the agent card). */
  identity: GatewayIdentity | undefined
  forwardCredential: boolean
  clientIp: string
  proto: 'http' | 'https'
  /**
   * Keep the X-Forwarded-Proto/Host a proxy in front of the gateway set (behind a TLS-terminating
   * nginx, the agent should see https). Only for gateways that clients cannot reach directly.
   */
  trustForwarded?: boolean
}

/**
 * The headers sent to the target: the client's, less hop-by-hop headers, every X-Capiscio-* header
 * the client sent (so none can be forged) and the credential (unless forwarded on purpose); plus the
 * verified identity and X-Forwarded-For/Proto/Host.
 */
export function upstreamHeaders(incoming: IncomingHttpHeaders, o: UpstreamHeaderOptions): OutgoingHeaders {
  const drop = connectionListed(incoming)
  const out: OutgoingHeaders = {}
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || drop.has(name) || name === 'host') continue
    if (name.startsWith('x-capiscio-') && !(o.forwardCredential && name === 'x-capiscio-badge')) continue
    if (name === 'authorization' && !o.forwardCredential) continue
    if (name === 'x-forwarded-for' || name === 'x-forwarded-proto' || name === 'x-forwarded-host') continue
    out[name] = value
  }
  const prior = incoming['x-forwarded-for']
  const chain = Array.isArray(prior) ? prior.join(', ') : prior
  out['x-forwarded-for'] = chain ? `${chain}, ${o.clientIp}` : o.clientIp
  const fwdProto = incoming['x-forwarded-proto']
  const fwdHost = incoming['x-forwarded-host']
  out['x-forwarded-proto'] = o.trustForwarded && typeof fwdProto === 'string' ? fwdProto : o.proto
  const host = o.trustForwarded && typeof fwdHost === 'string' ? fwdHost : incoming.host
  if (host) out['x-forwarded-host'] = host
  if (o.identity) {
    out[IDENTITY_HEADERS.subject] = o.identity.subject
    out[IDENTITY_HEADERS.issuer] = o.identity.issuer
    out[IDENTITY_HEADERS.trustLevel] = o.identity.trustLevel
    out[IDENTITY_HEADERS.jti] = o.identity.jti
  }
  return out
}

/** The target's response headers, less hop-by-hop ones (Node frames the response itself). */
export function downstreamHeaders(headers: Record<string, string | string[] | undefined>): OutgoingHeaders {
  const drop = new Set<string>()
  const conn = headers.connection
  if (typeof conn === 'string') for (const n of conn.split(',')) drop.add(n.trim().toLowerCase())
  const out: OutgoingHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || drop.has(name)) continue
    out[name] = value
  }
  return out
}

/**
 * The credential a request carries (DESIGN §9): X-Capiscio-Badge, else `Authorization: Bearer`
 * (scheme case-insensitive). Two different credentials are a conflict.
 */
export function extractCredential(headers: IncomingHttpHeaders): { credential?: string; conflict?: true } {
  const badgeHeader = headers['x-capiscio-badge']
  const badge = typeof badgeHeader === 'string' ? badgeHeader.trim() : undefined
  let bearer: string | undefined
  const auth = headers.authorization
  if (typeof auth === 'string') {
    const m = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(auth)
    if (m) bearer = m[1]
  }
  if (badge && bearer && badge !== bearer) return { conflict: true }
  const credential = badge || bearer
  return credential ? { credential } : {}
}
