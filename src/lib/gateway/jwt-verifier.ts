import { tokenVerifyOptions, type JWTAuthenticatorOptions } from '../auth/jwt.js'
import { claimMapper } from '../auth/identity.js'
import { CapiscioError } from '../errors.js'
import { createTokenVerifier, tokenChecker, type VerifiedToken } from '../token/verify.js'
import { unsafeIdentity } from './headers.js'
import { afterSignature } from './refusal.js'
import type { CandidateKey } from '../keysource/types.js'
import type { GatewayIdentity, GatewayVerifier } from './types.js'
import { VerifyCache } from './verify-cache.js'

export interface JwtVerifierOptions extends Omit<JWTAuthenticatorOptions, 'onError'> {
  /** How many verified tokens to remember (default 10 000; 0 disables the cache). */
  cacheSize?: number
  onCache?: (result: 'hit' | 'miss') => void
}

interface Entry {
  /** Until when the entry may be used: what the verifier itself would accept (exp + clock skew). */
  exp: number
  identity: GatewayIdentity
  token: VerifiedToken
}

/**
 * The gateway's bearer-JWT verifier: JWTAuthenticator's key resolution, checks and claim mapping,
 * with the same cache of verified credentials as badges. A cached token is used no longer than the
 * verifier would accept it, and one signed by a key source's key is re-checked against that source
 * on every use, so a removed or rotated key ends it.
 */
export function createJwtVerifier(options: JwtVerifierOptions): GatewayVerifier {
  const { cacheSize, onCache, claimMapping, ...rest } = options
  const { verify } = tokenVerifyOptions(rest)
  const check = tokenChecker(createTokenVerifier(verify))
  const mapClaims = claimMapper(claimMapping)
  const skew = verify.clockSkewSeconds ?? 60
  const now = verify.now ?? Date.now
  const cache = new VerifyCache<Entry>(cacheSize ?? 10_000, now)
  const keys = verify.keys

  const admit = (token: string, key: string, v: VerifiedToken): GatewayIdentity => {
    // A trust badge or a SimpleGuard token is signed like a JWT, and may be signed by a key this
    // verifier trusts too: it is judged by its own verifier's rules (a badge's audience, level and
    // revocation; a signed request's body), never admitted as a bearer token.
    if (Object.hasOwn(v.claims, 'vc'))
      throw new CapiscioError('TOKEN_MALFORMED', 'this is a trust badge (it has vc), not a bearer token')
    if (Object.hasOwn(v.claims, 'bh'))
      throw new CapiscioError('TOKEN_MALFORMED', 'this is a signed request (it has bh), not a bearer token')
    // A SimpleGuard token over an empty body has no bh; its header names iss (DESIGN §8), which no
    // bearer token minted here does. Admitted as a JWT, it would carry any body past the signer's
    // promise that there was none.
    if (Object.hasOwn(v.header, 'iss'))
      throw new CapiscioError(
        'TOKEN_MALFORMED',
        'this is a signed request (its header names iss), not a bearer token',
      )
    const id = mapClaims(v.claims)
    if (!id)
      throw afterSignature(
        new CapiscioError('TOKEN_CLAIMS_INVALID', 'the id claim is missing or not a string or number'),
      )
    const c = v.claims as { iss?: string; jti?: string; exp?: number; iat?: number }
    const identity: GatewayIdentity = {
      kind: 'jwt',
      subject: id.id,
      issuer: c.iss ?? '',
      trustLevel: '',
      jti: VerifyCache.idOf(token, c.jti),
      exp: c.exp ?? Number.NaN,
      type: id.type,
      roles: id.roles,
    }
    const unsafe = unsafeIdentity(identity)
    if (unsafe) throw afterSignature(new CapiscioError('TOKEN_CLAIMS_INVALID', unsafe))
    // Tokens without exp are not cached: nothing bounds how long the entry would be good for.
    if (c.exp !== undefined) {
      let until = c.exp + skew
      if (verify.maxAgeSeconds !== undefined && c.iat !== undefined)
        until = Math.min(until, c.iat + verify.maxAgeSeconds + skew)
      cache.offer(key, { exp: until, identity, token: v })
    }
    return identity
  }

  /** The keys that could have signed a token now, and whether one of them is the one that did. */
  const signedByOneOf = (v: VerifiedToken, found: readonly CandidateKey[]): boolean => {
    const iss = typeof v.claims.iss === 'string' ? v.claims.iss : ''
    return found.some(
      (c) =>
        (c.publicKey === v.key || c.publicKey.equals(v.key!)) &&
        (!c.issuers || !iss || c.issuers.includes(iss)),
    )
  }
  const queryOf = (v: VerifiedToken) => ({
    iss: typeof v.claims.iss === 'string' ? v.claims.iss : '',
    alg: v.alg as 'RS256' | 'ES256' | 'EdDSA',
    ...(v.kid !== undefined && { kid: v.kid }),
  })
  const untrusted = () =>
    new CapiscioError('TOKEN_SIGNATURE_INVALID', 'the key that signed the token is no longer trusted')

  return {
    kind: 'jwt',
    /**
     * A cached token is re-checked against the key that verified it (when a key source did): at
     * once for keys held in memory or a secret, else after asking the source.
     */
    verify(token: string): GatewayIdentity | Promise<GatewayIdentity> {
      const key = VerifyCache.keyOf(token)
      const hit = cache.get(key)
      if (hit) {
        onCache?.('hit')
        const v = hit.token
        if (!keys || !v.key) return hit.identity
        const refuse = () => {
          cache.delete(key)
          throw untrusted()
        }
        const found = keys.findSync?.(queryOf(v))
        if (found) return signedByOneOf(v, found) ? hit.identity : refuse()
        return keys.find(queryOf(v)).then((found) => (signedByOneOf(v, found) ? hit.identity : refuse()))
      }
      onCache?.('miss')
      const checked = check(token)
      return checked instanceof Promise
        ? checked.then((v) => admit(token, key, v))
        : admit(token, key, checked)
    },
    ready: () => keys?.ready?.() ?? true,
    notReadyReason() {
      if (keys?.ready?.() !== false) return undefined
      return keys.notReadyReason?.() ?? 'key source not loaded'
    },
  }
}
