/** Who a verified credential says the caller is; the gateway forwards it as X-Capiscio-* headers. */
export interface GatewayIdentity {
  subject: string
  issuer: string
  trustLevel: string
  /** The credential's id, for replay protection and the X-Capiscio-Badge-Jti header. */
  jti: string
  /** Expiry, NumericDate seconds: how long replay protection must remember the jti. */
  exp: number
}

/**
 * The gateway's one question to the outside: "who is this credential?". It throws a CapiscioError
 * (BADGE_*, later TOKEN_* or GUARD_*) when the credential is not valid. The request pipeline knows
 * nothing else about credentials, so bearer JWTs or SimpleGuard tokens plug in without touching it.
 */
export interface GatewayVerifier {
  verify(credential: string): Promise<GatewayIdentity>
  /** Whether the verifier can answer yet (its keys are loaded), for /ready. */
  ready?(): boolean
  /** Why it is not ready, for /ready and logs. */
  notReadyReason?(): string | undefined
}

/** Remembers credential ids so that each is accepted once (`--replay-protection`). */
export interface ReplayStore {
  /** True the first time a jti is seen (it is then kept until `exp`); false for a replay. */
  claim(jti: string, exp: number): Promise<boolean>
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
  /** Why a request was refused: a short reason and, for credential failures, its code. */
  reason?: string
  code?: string
}
