import {
  stillTrusted,
  stillTrustedSync,
  verifyBadge,
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
  result: VerificationResult
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
  const revocable = options.keys?.isRevoked !== undefined || options.isRevoked !== undefined
  const untrusted = () =>
    new CapiscioError('BADGE_ISSUER_UNTRUSTED', 'the key that signed the badge is no longer trusted')

  /** A cache hit that needs waiting for: a trust store read, or a revocation list. */
  async function recheck(key: string, hit: Entry): Promise<GatewayIdentity> {
    // The key that verified the badge may have been removed, replaced or unbound since.
    if (!(await stillTrusted(hit.result, options))) {
      cache.delete(key)
      throw untrusted()
    }
    if (await revoked(hit.identity.jti))
      throw new CapiscioError('BADGE_REVOKED', 'the badge has been revoked')
    return hit.identity
  }

  async function verifyAndKeep(token: string, key: string): Promise<GatewayIdentity> {
    const result = await verifyBadge(token, options)
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
    cache.set(key, { exp: until, identity, result })
    return identity
  }

  return {
    kind: 'badge',
    /**
     * A cached badge whose key is held in memory is answered at once, without a promise: the
     * common case on a busy gateway. Everything else waits.
     */
    verify(token: string): GatewayIdentity | Promise<GatewayIdentity> {
      const key = VerifyCache.keyOf(token)
      const hit = cache.get(key)
      if (!hit) {
        options.onCache?.('miss')
        return verifyAndKeep(token, key)
      }
      options.onCache?.('hit')
      const trusted = revocable ? undefined : stillTrustedSync(hit.result, options)
      if (trusted === undefined) return recheck(key, hit)
      if (!trusted) {
        cache.delete(key)
        throw untrusted()
      }
      return hit.identity
    },
    ready: () => options.keys?.ready?.() ?? true,
    notReadyReason() {
      if (this.ready!()) return undefined
      return options.keys?.notReadyReason?.() ?? 'key source not loaded'
    },
  }
}
