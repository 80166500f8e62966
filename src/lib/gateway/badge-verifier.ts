import {
  stillTrusted,
  revokedNow,
  stillTrustedSync,
  verifyBadgeNow,
  type TrustCheck,
  type VerificationResult,
  type VerifyBadgeOptions,
} from '../badge/verify.js'
import { CapiscioError } from '../errors.js'
import type { GatewayIdentity, GatewayVerifier } from './types.js'
import { VerifyCache } from './verify-cache.js'

export interface BadgeVerifierOptions extends VerifyBadgeOptions {
  /** How many verified badges to remember (default 10 000; 0 disables the cache). */
  cacheSize?: number
  onCache?: (result: 'hit' | 'miss') => void
}

interface Entry {
  /**
   * Until when the entry may be used: as long as verifyBadge would accept the badge, its expiry plus
   * the clock skew (or sooner under maxAge); dropping it at exp would re-verify every request in
   * that last minute.
   */
  exp: number
  identity: GatewayIdentity
  /** What re-checking the signing key's trust needs, and no more. */
  trust: TrustCheck
}

/**
 * The gateway's badge verifier: verifyBadge with a cache of verified badges in front. A cached badge
 * is still checked against the revocation list and its signing key's trust on every use, and is
 * never used past the time verifyBadge would stop accepting it.
 */
export function createBadgeVerifier(options: BadgeVerifierOptions): GatewayVerifier {
  const now = options.now ?? Date.now
  const skew = options.clockSkewSeconds ?? 60
  const cache = new VerifyCache<Entry>(options.cacheSize ?? 10_000, now)
  const revoked = async (jti: string) =>
    (await options.keys?.isRevoked?.(jti)) || (await options.isRevoked?.(jti))
  const untrusted = () =>
    new CapiscioError('BADGE_ISSUER_UNTRUSTED', 'the key that signed the badge is no longer trusted')

  /** A cache hit that needs waiting for: a trust store read, or a revocation list. */
  async function recheck(key: string, hit: Entry): Promise<GatewayIdentity> {
    // The key that verified the badge may have been removed, replaced or unbound since.
    if (!(await stillTrusted(hit.trust, options))) {
      cache.delete(key)
      throw untrusted()
    }
    if (await revoked(hit.identity.jti))
      throw new CapiscioError('BADGE_REVOKED', 'the badge has been revoked')
    return hit.identity
  }

  /** Verifies a badge not in the cache and keeps it; at once when nothing needs waiting for. */
  function verifyAndKeep(token: string, key: string): GatewayIdentity | Promise<GatewayIdentity> {
    const result = verifyBadgeNow(token, options)
    return result instanceof Promise ? result.then((r) => keep(key, r)) : keep(key, result)
  }

  function keep(key: string, result: VerificationResult): GatewayIdentity {
    const { claims, trustLevel } = result
    const identity: GatewayIdentity = {
      kind: 'badge',
      subject: claims.sub,
      issuer: claims.iss,
      trustLevel,
      jti: claims.jti,
      exp: claims.exp,
    }
    const until =
      skew +
      (options.maxAgeSeconds === undefined
        ? claims.exp
        : Math.min(claims.exp, claims.iat + options.maxAgeSeconds))
    const trust: TrustCheck = {
      claims: { iss: claims.iss },
      header: result.header,
      trustLevel,
      signingKey: result.signingKey,
    }
    cache.offer(key, { exp: until, identity, trust })
    return identity
  }

  return {
    kind: 'badge',
    /**
     * Answered at once, without a promise, whenever the keys are held in memory and there is no
     * revocation list to ask: a cached badge (the common case on a busy gateway) and a new one
     * alike. Everything else waits.
     */
    verify(token: string): GatewayIdentity | Promise<GatewayIdentity> {
      const key = VerifyCache.keyOf(token)
      const hit = cache.get(key)
      if (!hit) {
        options.onCache?.('miss')
        return verifyAndKeep(token, key)
      }
      options.onCache?.('hit')
      // At once when the key source (and its revocation list) answer from memory; else waited for.
      const trusted = stillTrustedSync(hit.trust, options)
      const revokedAtOnce = trusted === true ? revokedNow(hit.identity.jti, options) : false
      if (trusted === undefined || revokedAtOnce === undefined) return recheck(key, hit)
      if (!trusted) {
        cache.delete(key)
        throw untrusted()
      }
      if (revokedAtOnce) throw new CapiscioError('BADGE_REVOKED', 'the badge has been revoked')
      return hit.identity
    },
    ready: () => options.keys?.ready?.() ?? true,
    notReadyReason() {
      if (this.ready!()) return undefined
      return options.keys?.notReadyReason?.() ?? 'key source not loaded'
    },
  }
}
