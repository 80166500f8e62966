import type { IncomingMessage } from 'node:http'

import { CapiscioError } from '../errors.js'
import { extractCredential } from './headers.js'
import { isAfterSignature } from './refusal.js'
import type { Outcome } from './outcomes.js'
import type { BodySource, CredentialKind, GatewayIdentity, GatewayVerifier, ReplayStore } from './types.js'

/** What authenticating a request came to: an identity (and the body, when it had to be read), or an outcome. */
export type AuthResult =
  | { identity: GatewayIdentity; body?: Buffer }
  | {
      outcome: Outcome
      /** The error code of a refused credential. */
      code?: string
      /** The detail for the log line (never the credential). */
      reason?: string
      credential?: CredentialKind
      /** Who the credential named, when it verified and a later stage (replay) refused the request. */
      subject?: string
    }

export interface PipelineOptions {
  /** Tried in order; the first that accepts the credential wins ("any of"). */
  verifiers: readonly GatewayVerifier[]
  replay?: ReplayStore
  maxBodyBytes: number
}

const REPLAY_CODE: Record<CredentialKind, string> = {
  badge: 'BADGE_REPLAYED',
  jwt: 'TOKEN_REPLAYED',
  guard: 'GUARD_REPLAY',
}

/**
 * How far a refusal got through its verifier's checks: when every verifier refuses, the one that
 * got furthest explains the credential best (an expired badge is "badge expired", not the JWT
 * verifier's "alg not allowed"). Ties go to the first verifier.
 */
function depth(code: string): number {
  if (AFTER_SIGNATURE.has(code)) return AUTHENTIC
  if (code.endsWith('_MALFORMED')) return 0
  if (code.endsWith('_CLAIMS_INVALID')) return 1
  if (code === 'BADGE_ISSUER_UNTRUSTED' || code === 'GUARD_UNTRUSTED_KEY' || code === 'TOKEN_ISSUER_MISMATCH')
    return 2
  if (code.endsWith('_SIGNATURE_INVALID')) return 3
  return 4
}

/** The depth of a refusal made after the credential's signature verified. */
const AUTHENTIC = 4

/**
 * Codes that only a credential whose signature verified can earn (the claims refusal an Identity
 * mapping gives a signed JWT is TOKEN_CLAIMS_INVALID too, but ranks as a claims refusal).
 */
const AFTER_SIGNATURE = new Set([
  'BADGE_EXPIRED',
  'BADGE_NOT_YET_VALID',
  'BADGE_AUDIENCE_MISMATCH',
  'BADGE_REVOKED',
  'TOKEN_EXPIRED',
  'TOKEN_NOT_YET_VALID',
  'TOKEN_AUDIENCE_MISMATCH',
  'GUARD_EXPIRED',
  'GUARD_NOT_YET_VALID',
  'GUARD_BODY_MISMATCH',
])

/** The gateway's own answer to a body it could not read (too large, broken), through a verifier. */
class BodyOutcome extends Error {
  constructor(readonly outcome: 'too-large' | 'body-broken') {
    super(outcome)
  }
}

/**
 * Reads a whole request body, up to `max` bytes. Not io's readStreamBytes: leaving a for-await loop
 * destroys the request, and with it the socket the 413 must still be written to; this one pauses.
 */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too-large' | 'broken'> {
  const length = req.headers['content-length']
  if (length !== undefined && Number(length) > max) return Promise.resolve('too-large')
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let seen = 0
    const done = (v: Buffer | 'too-large' | 'broken') => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('aborted', onError)
      resolve(v)
    }
    const onData = (chunk: Buffer) => {
      seen += chunk.length
      if (seen > max) {
        req.pause()
        done('too-large')
      } else chunks.push(chunk)
    }
    const onEnd = () => done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, seen))
    const onError = () => done('broken')
    req.on('data', onData)
    req.once('end', onEnd)
    req.once('error', onError)
    req.once('aborted', onError)
  })
}

/**
 * The gateway's authentication stages (docs/architecture.md §6): extract the credential, verify it
 * with each configured verifier in turn (reading the body first for one that binds it), then
 * replay protection. Proxy and forward-auth share it, so every credential is judged the same way
 * wherever it arrives.
 */
export function createPipeline(
  o: PipelineOptions,
): (req: IncomingMessage, unseenBody?: boolean) => Promise<AuthResult> {
  const verifiers = o.verifiers
  /**
   * `unseenBody`: forward-auth for a request whose body the proxy in front did not pass on (nginx
   * auth_request and Traefik forwardAuth never do). A verifier that binds the body cannot vouch for
   * one it never saw, so it refuses rather than admitting a token that signs no body.
   */
  return async function authenticate(req, unseenBody = false) {
    // 1. Extract.
    const { credential, conflict } = extractCredential(req.headers)
    if (conflict) return { outcome: 'conflict', reason: 'conflicting credentials' }
    if (!credential) return { outcome: 'missing', reason: 'missing authorization header' }

    // 2. Verify: the first verifier that accepts wins. The body is read only when a verifier that
    // binds it asks, after its token has verified, and only once.
    let body: Buffer | undefined
    let reading: Promise<Buffer> | undefined
    const bodySource: BodySource = () =>
      (reading ??= unseenBody
        ? Promise.reject(
            new CapiscioError(
              'GUARD_BODY_MISMATCH',
              'the proxy in front did not pass the body on, so a signed request cannot be checked here',
            ),
          )
        : readBody(req, o.maxBodyBytes).then((read) => {
            if (read === 'too-large' || read === 'broken')
              throw new BodyOutcome(read === 'broken' ? 'body-broken' : 'too-large')
            return (body = read)
          }))
    let identity: GatewayIdentity | undefined
    let refusal: CapiscioError | undefined
    let refusalDepth = -1
    let refusalKind: CredentialKind | undefined
    let outage: string | undefined
    for (const v of verifiers) {
      try {
        const verified = v.verify(credential, v.needsBody ? bodySource : undefined)
        // An answer given at once is taken at once: no microtask on the cached path.
        identity = verified instanceof Promise ? await verified : verified
        break
      } catch (err) {
        if (err instanceof BodyOutcome)
          return {
            outcome: err.outcome,
            reason: err.outcome === 'too-large' ? 'request body too large' : 'request body broken',
          }
        if (err instanceof CapiscioError && err.exitCode === 3 && v.ready?.() !== false) {
          const d = isAfterSignature(err) ? AUTHENTIC : depth(err.code)
          if (!refusal || d > refusalDepth) {
            refusal = err
            refusalDepth = d
            refusalKind = v.kind ?? 'badge'
          }
          // Refused for what it says (time, audience, body, revocation), after its signature
          // verified: the credential is this verifier's kind, and no other verifier may admit it.
          if (d >= AUTHENTIC) break
        } else {
          // No keys yet, a registry down, a bug: it is us, not the credential. Fail closed.
          outage ??=
            v.ready?.() === false
              ? `not ready: ${v.notReadyReason?.() ?? 'key source not loaded'}`
              : err instanceof CapiscioError
                ? err.message
                : 'verifier failed'
        }
      }
    }
    if (!identity) {
      if (outage !== undefined) return { outcome: 'unavailable', reason: outage }
      const code = refusal?.code ?? 'BADGE_MALFORMED'
      return { outcome: 'refused', code, reason: refusal?.message ?? 'refused', credential: refusalKind }
    }
    const kind = identity.kind ?? 'badge'

    // 3. Replay: each credential id once, for every kind (badges keep their bare jti as the key).
    if (o.replay) {
      if (!Number.isFinite(identity.exp))
        return {
          outcome: 'refused',
          code: 'TOKEN_CLAIMS_INVALID',
          reason: 'replay protection needs the token to carry exp',
          credential: kind,
          subject: identity.subject,
        }
      let first: boolean
      try {
        first = await o.replay.claim(
          kind === 'badge' ? identity.jti : `${kind}:${identity.jti}`,
          identity.exp,
        )
      } catch (err) {
        // A credential the store cannot keep (an exp beyond what it can represent) is the credential's fault.
        if (err instanceof CapiscioError && err.exitCode === 3)
          return {
            outcome: 'refused',
            code: err.code,
            reason: err.message,
            credential: kind,
            subject: identity.subject,
          }
        return {
          outcome: 'replay-unavailable',
          reason: `replay protection unavailable: ${(err as Error).message}`,
          credential: kind,
          subject: identity.subject,
        }
      }
      if (!first)
        return {
          outcome: 'refused',
          code: REPLAY_CODE[kind],
          reason: 'already used',
          credential: kind,
          subject: identity.subject,
        }
    }
    return body === undefined ? { identity } : { identity, body }
  }
}
