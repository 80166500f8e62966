import { CapiscioError } from '../errors.js'
import { createBadgeVerifier, type BadgeVerifierOptions } from '../gateway/badge-verifier.js'
import type { GatewayVerifier } from '../gateway/types.js'
import { reportRefusal, type Authenticator, type SecurityScheme } from './authenticator.js'
import { badgeToken, type HeaderBag } from './headers.js'
import { makeIdentity, type Identity } from './identity.js'

export interface BadgeAuthenticatorOptions extends BadgeVerifierOptions {
  /** Told why a credential was refused (a coded error, never the badge), e.g. to log it. */
  onError?: (error: CapiscioError) => void
}

/**
 * Trust badges in, Identity out: the gateway's verifier (verifyBadge behind the same cache of
 * verified badges) behind the Authenticator interface, so an agent can accept badges in-process
 * with authMiddleware. The identity is the badge's subject, of type "agent", with the issuer,
 * trust level, jti and expiry in attrs.
 */
export class BadgeAuthenticator implements Authenticator {
  private readonly verifier: GatewayVerifier
  private readonly onError: ((error: CapiscioError) => void) | undefined

  constructor(options: BadgeAuthenticatorOptions) {
    const { onError, ...verify } = options
    if (!verify.keys && !verify.acceptSelfSigned) {
      throw new CapiscioError(
        'USAGE',
        'a key source (keys) is required unless only self-signed badges are accepted',
        {
          options: ['keys'],
        },
      )
    }
    this.verifier = createBadgeVerifier(verify)
    this.onError = onError
  }

  async authenticate(headers: HeaderBag): Promise<Identity | null> {
    const presented = badgeToken(headers)
    if (!presented || !('token' in presented)) return null
    try {
      const v = await this.verifier.verify(presented.token)
      return makeIdentity(v.subject, 'agent', [], {
        iss: v.issuer,
        trustLevel: v.trustLevel,
        jti: v.jti,
        exp: v.exp,
      })
    } catch (err) {
      reportRefusal(this.onError, err, 'badge')
      return null
    }
  }

  securitySchemes(): Record<string, SecurityScheme> {
    return {
      capiscioBadge: {
        type: 'apiKey',
        in: 'header',
        name: 'X-Capiscio-Badge',
        description: 'a CapiscIO trust badge (RFC-002); also accepted as Authorization: Bearer',
      },
    }
  }

  /** Whether the key source has loaded (a remote JWKS), for a readiness check. */
  ready(): boolean {
    return this.verifier.ready?.() ?? true
  }
}
