import type { KeyObject } from 'node:crypto'

import type { SignatureAlg } from '../keys/alg.js'

/** What a verifier asks for: the key named by a token's header and claims. */
export interface KeyQuery {
  /** The header's kid, if any (Go-core badges carry none). */
  kid?: string
  /** The claimed issuer. */
  iss: string
  alg: SignatureAlg
}

export interface CandidateKey {
  publicKey: KeyObject
  kid?: string
  /**
   * Issuers this key may sign for (docs/formats.md, "Trust store"). When set, a badge whose iss is not listed is refused
   * even if the signature verifies, so one trusted partner cannot speak for another. Unset only for
   * keys the operator named directly (`--key`), which the issuer allow-list binds.
   */
  issuers?: readonly string[]
  /** The highest badge level (0–4) this key may vouch for; a badge above it finds no key. */
  maxLevel?: number
}

/**
 * Where a verifier finds public keys (docs/architecture.md §1): one interface behind `--key`, `--trust-dir`,
 * `--jwks` and did:key, used alike by the CLI, the gateway and the middleware.
 */
export interface KeySource {
  /** For messages and metrics: "static", "trust-store", "jwks", "did:key". */
  readonly kind: string
  /** Candidate keys for a token, most specific first; empty when none is known. */
  find(query: KeyQuery): Promise<CandidateKey[]>
  /**
   * The same answer at once, for sources that hold their keys in memory: verifiers then wait for
   * nothing. undefined when the source must read something first (ask find() then).
   */
  findSync?(query: KeyQuery): CandidateKey[] | undefined
  /** Whether a badge id is revoked, for sources that keep a revocation list. */
  isRevoked?(jti: string): Promise<boolean>
  /** The same answer at once when the list is in memory; undefined when it must be read first. */
  isRevokedSync?(jti: string): boolean | undefined
  /** Whether the source has what it needs to answer (a gateway's /ready). */
  ready?(): boolean
  /** Loads what the source needs before the first request (a gateway's start-up); never throws. */
  warmUp?(): Promise<void>
  /** Why the source is not ready, short and without secrets, for /ready and logs. */
  notReadyReason?(): string | undefined
}
