import type { ServedCard } from '../card/serve.js'
import type { GatewayMetrics } from './metrics.js'
import type { GatewayVerifier, ReplayStore, RequestLogEntry } from './types.js'

/** What createGateway (server.ts) takes: every setting of one gateway, already parsed. */
export interface GatewayOptions {
  /**
   * "proxy" (default): admitted requests go on to the target. "auth": forward-auth only, for nginx
   * auth_request, Traefik forwardAuth and Envoy ext_authz; every path but /health, /ready and
   * /metrics is a credential check answered 200 with the identity headers, 401 or 403.
   */
  mode?: 'proxy' | 'auth'
  /** The agent to protect, e.g. http://localhost:3000 (a path prefix is kept); proxy mode only. */
  target?: string
  /** The credential verifier; or several in `verifiers`, tried in order ("any of"). */
  verifier?: GatewayVerifier
  verifiers?: readonly GatewayVerifier[]
  /** The forward-auth endpoint in proxy mode (default /auth; "" turns it off). */
  authPath?: string
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
  /** On close(), how long a connection idle at the signal may still bring a request (default 1 s). */
  drainGraceMs?: number
  /** How long a client may take to send a request's headers (default 10 s), else 408 and closed. */
  headersTimeoutMs?: number
  /**
   * How long a client may take to send a whole request, body included (default 5 min; 0 = no
   * limit, for uploads that stream longer). Responses, such as event streams, are not limited.
   */
  requestTimeoutMs?: number
  /** Most connections open at once (default 1024); further ones are closed at once. */
  maxConnections?: number
  tls?: { cert: string | Buffer; key: string | Buffer }
  metrics?: GatewayMetrics
  onLog?: (entry: RequestLogEntry) => void
}
