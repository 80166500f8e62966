import { createHash, type KeyObject } from 'node:crypto'

import { CapiscioError } from '../errors.js'
import {
  checkBody,
  GUARD_CLOCK_SKEW_SECONDS,
  GUARD_TOKEN_TTL_SECONDS,
  verifyGuardToken,
  type GuardKeyLookup,
} from '../guard/token.js'
import { unsafeIdentity } from './headers.js'
import type { GatewayIdentity, GatewayVerifier } from './types.js'
import { VerifyCache } from './verify-cache.js'

export interface GuardVerifierOptions {
  /** The trust store's keys by kid (a TrustStoreKeySource): where SimpleGuard looks too. */
  keys: GuardKeyLookup & { ready?(): boolean; notReadyReason?(): string | undefined }
  clockSkewSeconds?: number
  maxTokenAgeSeconds?: number
  /** How many verified tokens to remember (default 10 000; 0 disables the cache). */
  cacheSize?: number
  onCache?: (result: 'hit' | 'miss') => void
  now?: () => number
}

interface Entry {
  exp: number
  identity: GatewayIdentity
  bh: string | undefined
  kid: string
  key: KeyObject
}

/**
 * The gateway's SimpleGuard verifier (docs/formats.md, "SimpleGuard token"): the token's signature
 * by a trusted key, its time, and its bh over the body the gateway read whole. Replay is the
 * gateway's stage, as for every credential. A cached token is still checked against the body of
 * each request and its key's trust.
 */
export function createGuardVerifier(options: GuardVerifierOptions): GatewayVerifier {
  const now = options.now ?? Date.now
  const skew = options.clockSkewSeconds ?? GUARD_CLOCK_SKEW_SECONDS
  const maxAge = options.maxTokenAgeSeconds ?? GUARD_TOKEN_TTL_SECONDS
  const cache = new VerifyCache<Entry>(options.cacheSize ?? 10_000, now)
  const keys = options.keys
  return {
    kind: 'guard',
    needsBody: true,
    async verify(token: string, body?: Uint8Array): Promise<GatewayIdentity> {
      const cacheKey = VerifyCache.keyOf(token)
      const hit = cache.get(cacheKey)
      if (hit) {
        options.onCache?.('hit')
        const key = await keys.keyFor(hit.kid)
        if (!key || !(key === hit.key || key.equals(hit.key))) {
          cache.delete(cacheKey)
          throw new CapiscioError('GUARD_UNTRUSTED_KEY', 'the key that signed the token is no longer trusted')
        }
        checkBody(hit.bh, body)
        return hit.identity
      }
      options.onCache?.('miss')
      const { claims, kid } = await verifyGuardToken(token, body, {
        keys,
        clockSkewSeconds: skew,
        maxTokenAgeSeconds: maxAge,
        now,
      })
      const signature = Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url')
      const issuer = claims.iss ?? kid
      const identity: GatewayIdentity = {
        kind: 'guard',
        subject: issuer,
        issuer,
        trustLevel: '',
        jti: claims.jti ?? `sig:${createHash('sha256').update(signature).digest('base64url')}`,
        exp: claims.exp,
      }
      const unsafe = unsafeIdentity(identity)
      if (unsafe) throw new CapiscioError('GUARD_MALFORMED', unsafe)
      const key = await keys.keyFor(kid)
      if (key)
        cache.set(cacheKey, {
          exp: Math.min(claims.exp, claims.iat + maxAge) + skew,
          identity,
          bh: claims.bh,
          kid,
          key,
        })
      return identity
    },
    ready: () => keys.ready?.() ?? true,
    notReadyReason() {
      if (keys.ready?.() !== false) return undefined
      return keys.notReadyReason?.() ?? 'trust store not loaded'
    },
  }
}
