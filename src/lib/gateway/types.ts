/**
 * The request body, read whole on first call (up to the gateway's limit). It rejects with a
 * CapiscioError when there is none to check (forward-auth for a body the proxy kept), or with the
 * gateway's own refusal (too large, broken) that the verifier must let through.
 */
export type BodySource = () => Promise<Uint8Array>

/** The credentials the gateway can verify (`--verify badge,jwt,guard`). */
export type CredentialKind = 'badge' | 'jwt' | 'guard'

/** Who a verified credential says the caller is; the gateway forwards it as X-Capiscio-* headers. */
export interface GatewayIdentity {
  /** Which credential was verified (default "badge"): X-Capiscio-Credential. */
  kind?: CredentialKind
  subject: string
  /** The credential's issuer, or "" when it names none (a JWT without iss). */
  issuer: string
  /** A badge's trust level ("0".."4"); "" for other credentials. */
  trustLevel: string
  /**
   * The credential's id, for replay protection and the X-Capiscio-Jti header: its jti, or for a
   * credential without one a hash of its signature.
   */
  jti: string
  /** Expiry, NumericDate seconds: how long replay protection must remember the jti. */
  exp: number
  /** A JWT identity's type and roles (ClaimMapping): X-Capiscio-Type, X-Capiscio-Roles. */
  type?: string
  roles?: readonly string[]
}

/**
 * The gateway's one question to the outside: "who is this credential?". It throws a CapiscioError
 * (BADGE_*, later TOKEN_* or GUARD_*) when the credential is not valid. The request pipeline knows
 * nothing else about credentials, so bearer JWTs or SimpleGuard tokens plug in without touching it.
 */
export interface GatewayVerifier {
  /** The credential it verifies (default "badge"). */
  readonly kind?: CredentialKind
  /**
   * It needs the whole request body (a SimpleGuard token binds it). It asks for the body through
   * `body` only once the token itself has verified, so that no unsigned request makes the gateway
   * buffer one; the gateway then forwards the same bytes.
   */
  readonly needsBody?: boolean
  verify(credential: string, body?: BodySource): GatewayIdentity | Promise<GatewayIdentity>
  /** Whether the verifier can answer yet (its keys are loaded), for /ready. */
  ready?(): boolean
  /** Why it is not ready, for /ready and logs. */
  notReadyReason?(): string | undefined
}

/** Remembers credential ids so that each is accepted once (`--replay-protection`). */
export interface ReplayStore {
  /**
   * True the first time a jti is seen (it is then kept until `exp`); false for a replay. An
   * in-memory store answers at once; the gateway then waits for nothing.
   */
  claim(jti: string, exp: number): boolean | Promise<boolean>
  ready?(): boolean
  notReadyReason?(): string | undefined
  close?(): Promise<void>
}

export interface RequestLogEntry {
  time: Date
  status: number
  method: string
  /** The path without its query string (a query may carry secrets). */
  path: string
  durationMs: number
  upstreamMs?: number
  subject?: string
  /** The kind of credential that was verified, when one was. */
  credential?: CredentialKind
  /** Why a request was refused: a short reason and, for credential failures, its code. */
  reason?: string
  code?: string
}
