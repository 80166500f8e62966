import type { KeyObject } from 'node:crypto'

import { CapiscioError } from '../errors.js'
import {
  checkBody,
  checkIssuer,
  GUARD_CLOCK_SKEW_SECONDS,
  GUARD_TOKEN_TTL_SECONDS,
  verifyGuardToken,
  type GuardKeyLookup,
} from '../guard/token.js'
import { unsafeIdentity } from './headers.js'
import type { BodySource, GatewayIdentity, GatewayVerifier } from './types.js'
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

  /**
   * Who the token may say it is: checkIssuer's rules, with a lone PEM held to its own kid or
   * did:key too, as every trusted key is here: the issuer is the subject the agent is told.
   */
  async function signerMaySay(kid: string, iss: string | undefined): Promise<KeyObject> {
    const key = await keys.keyFor(kid)
    if (!key) throw new CapiscioError('GUARD_UNTRUSTED_KEY', `no trusted key for kid ${kid}`)
    await checkIssuer(keys, kid, key, iss, true)
    return key
  }

  /** The body check, once the token has verified: the body is read only now. */
  async function bodyMatches(bh: string | undefined, body: BodySource | undefined): Promise<void> {
    checkBody(bh, body ? await body() : undefined)
  }

  return {
    kind: 'guard',
    needsBody: true,
    async verify(token: string, body?: BodySource): Promise<GatewayIdentity> {
      const cacheKey = VerifyCache.keyOf(token)
      const hit = cache.get(cacheKey)
      if (hit) {
        options.onCache?.('hit')
        // The key may have been removed, replaced or unbound since; the body is this request's.
        const key = await signerMaySay(hit.kid, hit.identity.issuer).catch((err: unknown) => {
          cache.delete(cacheKey)
          throw err
        })
        if (!(key === hit.key || key.equals(hit.key))) {
          cache.delete(cacheKey)
          throw new CapiscioError('GUARD_UNTRUSTED_KEY', 'the key that signed the token is no longer trusted')
        }
        await bodyMatches(hit.bh, body)
        return hit.identity
      }
      options.onCache?.('miss')
      const { claims, kid } = await verifyGuardToken(token, undefined, {
        keys,
        clockSkewSeconds: skew,
        maxTokenAgeSeconds: maxAge,
        now,
        skipBodyCheck: true,
      })
      // A trust badge is signed by the same kind of key and has the same shape: it is a badge,
      // to be judged by the badge verifier's rules (audience, level, revocation), never as this.
      if (Object.hasOwn(claims, 'vc'))
        throw new CapiscioError('GUARD_MALFORMED', 'this is a trust badge (it has vc), not a signed request')
      const key = await signerMaySay(kid, claims.iss)
      const issuer = claims.iss ?? kid
      const identity: GatewayIdentity = {
        kind: 'guard',
        subject: issuer,
        issuer,
        trustLevel: '',
        jti: VerifyCache.idOf(token, claims.jti),
        exp: claims.exp,
      }
      const unsafe = unsafeIdentity(identity)
      if (unsafe) throw new CapiscioError('GUARD_MALFORMED', unsafe)
      cache.offer(cacheKey, {
        exp: Math.min(claims.exp, claims.iat + maxAge) + skew,
        identity,
        bh: claims.bh,
        kid,
        key,
      })
      await bodyMatches(claims.bh, body)
      return identity
    },
    ready: () => keys.ready?.() ?? true,
    notReadyReason() {
      if (keys.ready?.() !== false) return undefined
      return keys.notReadyReason?.() ?? 'trust store not loaded'
    },
  }
}
