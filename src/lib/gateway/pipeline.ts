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
export function readBody(
  req: IncomingMessage,
  max: number,
  /** Told when the body is really to be read (not for one declared too large): the cue for a 100. */
  onRead?: () => void,
): Promise<Buffer | 'too-large' | 'broken'> {
  const length = req.headers['content-length']
  if (length !== undefined && Number(length) > max) return Promise.resolve('too-large')
  onRead?.()
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

/** The body reader for verifiers that never ask for one. */
const NO_BODY: BodySource = () => Promise.reject(new Error('no verifier reads the body'))

/** One request's search through the verifiers: the best refusal so far, or the outage. */
interface Search {
  refusal?: CapiscioError
  depth: number
  kind?: CredentialKind
  outage?: string
  /** The body, once a verifier that binds it has read it. */
  body?: Buffer
}

/**
 * The gateway's authentication stages (docs/architecture.md §6): extract the credential, verify it
 * with each configured verifier in turn (reading the body first for one that binds it), then
 * replay protection. Proxy and forward-auth share it, so every credential is judged the same way
 * wherever it arrives. The answer comes at once when nothing needs waiting for (keys in memory, no
 * body to read, an in-memory replay store): the hot path makes no promise.
 */
export function createPipeline(
  o: PipelineOptions,
): (req: IncomingMessage, unseenBody?: boolean, onBodyRead?: () => void) => AuthResult | Promise<AuthResult> {
  const verifiers = o.verifiers
  /** Whether any verifier binds the body; if none does, no request gets a body reader. */
  const bodyBound = verifiers.some((v) => v.needsBody)

  /**
   * Notes a verifier's refusal. Returns the answer when the search must end here (the gateway's
   * own body outcome, or a refusal made after the credential's signature verified).
   */
  function refused(s: Search, v: GatewayVerifier, err: unknown): AuthResult | undefined {
    if (err instanceof BodyOutcome)
      return {
        outcome: err.outcome,
        reason: err.outcome === 'too-large' ? 'request body too large' : 'request body broken',
      }
    if (err instanceof CapiscioError && err.exitCode === 3 && v.ready?.() !== false) {
      const d = isAfterSignature(err) ? AUTHENTIC : depth(err.code)
      if (!s.refusal || d > s.depth) {
        s.refusal = err
        s.depth = d
        s.kind = v.kind ?? 'badge'
      }
      // Refused for what it says (time, audience, body, revocation), after its signature
      // verified: the credential is this verifier's kind, and no other verifier may admit it.
      if (d >= AUTHENTIC) return ended(s)
    } else {
      // No keys yet, a registry down, a bug: it is us, not the credential. Fail closed.
      s.outage ??=
        v.ready?.() === false
          ? `not ready: ${v.notReadyReason?.() ?? 'key source not loaded'}`
          : err instanceof CapiscioError
            ? err.message
            : 'verifier failed'
    }
    return undefined
  }

  /** The answer when no verifier admitted the credential. */
  function ended(s: Search): AuthResult {
    if (s.outage !== undefined) return { outcome: 'unavailable', reason: s.outage }
    const code = s.refusal?.code ?? 'BADGE_MALFORMED'
    return { outcome: 'refused', code, reason: s.refusal?.message ?? 'refused', credential: s.kind }
  }

  /** 2. Verify, from verifier `i` on: the first that accepts wins. */
  function search(
    s: Search,
    i: number,
    credential: string,
    body: BodySource,
  ): AuthResult | Promise<AuthResult> {
    for (; i < verifiers.length; i++) {
      const v = verifiers[i]!
      let verified: GatewayIdentity | Promise<GatewayIdentity>
      try {
        verified = v.verify(credential, v.needsBody ? body : undefined)
      } catch (err) {
        const end = refused(s, v, err)
        if (end) return end
        continue
      }
      if (!(verified instanceof Promise)) return replay(s, verified)
      const next = i + 1
      return verified.then(
        (identity) => replay(s, identity),
        (err: unknown) => refused(s, v, err) ?? search(s, next, credential, body),
      )
    }
    return ended(s)
  }

  /** 3. Replay: each credential id once, for every kind (badges keep their bare jti as the key). */
  function replay(s: Search, identity: GatewayIdentity): AuthResult | Promise<AuthResult> {
    const admitted: AuthResult = s.body === undefined ? { identity } : { identity, body: s.body }
    if (!o.replay) return admitted
    const kind = identity.kind ?? 'badge'
    const refuse = (code: string, reason: string): AuthResult => ({
      outcome: 'refused',
      code,
      reason,
      credential: kind,
      subject: identity.subject,
    })
    if (!Number.isFinite(identity.exp))
      return refuse('TOKEN_CLAIMS_INVALID', 'replay protection needs the token to carry exp')
    const judge = (first: boolean) => (first ? admitted : refuse(REPLAY_CODE[kind], 'already used'))
    const failed = (err: unknown): AuthResult =>
      // A credential the store cannot keep (an exp beyond what it can represent) is the credential's fault.
      err instanceof CapiscioError && err.exitCode === 3
        ? refuse(err.code, err.message)
        : {
            outcome: 'replay-unavailable',
            reason: `replay protection unavailable: ${(err as Error).message}`,
            credential: kind,
            subject: identity.subject,
          }
    let first: boolean | Promise<boolean>
    try {
      first = o.replay.claim(kind === 'badge' ? identity.jti : `${kind}:${identity.jti}`, identity.exp)
    } catch (err) {
      return failed(err)
    }
    return first instanceof Promise ? first.then(judge, failed) : judge(first)
  }

  /**
   * `unseenBody`: forward-auth for a request whose body the proxy in front did not pass on (nginx
   * auth_request and Traefik forwardAuth never do). A verifier that binds the body cannot vouch for
   * one it never saw, so it refuses rather than admitting a token that signs no body.
   * `onBodyRead` is told just before the body is read (the server's cue for `100 Continue`).
   */
  return function authenticate(req, unseenBody = false, onBodyRead) {
    // 1. Extract.
    const { credential, conflict } = extractCredential(req.headers, req.rawHeaders)
    if (conflict) return { outcome: 'conflict', reason: 'conflicting credentials' }
    if (!credential) return { outcome: 'missing', reason: 'missing authorization header' }

    // 2-3. Verify, then replay. The body is read only when a verifier that binds it asks, after
    // its token has verified, and only once.
    const s: Search = { depth: -1 }
    if (!bodyBound) return search(s, 0, credential, NO_BODY)
    let reading: Promise<Buffer> | undefined
    const body: BodySource = () =>
      (reading ??= unseenBody
        ? Promise.reject(
            new CapiscioError(
              'GUARD_BODY_MISMATCH',
              'the proxy in front did not pass the body on, so a signed request cannot be checked here',
            ),
          )
        : readBody(req, o.maxBodyBytes, onBodyRead).then((read) => {
            if (read === 'too-large' || read === 'broken')
              throw new BodyOutcome(read === 'broken' ? 'body-broken' : 'too-large')
            return (s.body = read)
          }))
    return search(s, 0, credential, body)
  }
}
