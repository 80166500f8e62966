import type { KeyObject } from 'node:crypto'

import { CapiscioError } from '../errors.js'
import { parseKeysSync } from '../keys/parse.js'
import { RemoteJwksKeySource, type RemoteJwksOptions } from '../keysource/jwks.js'
import { StaticKeySource } from '../keysource/static.js'
import type { KeySource } from '../keysource/types.js'
import { readTextFileSync } from '../io.js'
import {
  createTokenVerifier,
  tokenChecker,
  type VerifiedToken,
  type VerifyTokenOptions,
} from '../token/verify.js'
import { reportRefusal, type Authenticator, type SecurityScheme } from './authenticator.js'
import { bearerToken, type HeaderBag } from './headers.js'
import { claimMapper, type ClaimMapping, type Identity } from './identity.js'

export interface JWTAuthenticatorOptions extends Omit<VerifyTokenOptions, 'secret' | 'keys'> {
  /** Public keys as a key source (a trust store, a JWKS…): first in precedence. */
  keys?: KeySource
  /** A public key file: JWK, JWKS or PEM. Read at construction; unreadable is an error then. */
  keyFile?: string
  /** A JWKS URL, fetched and cached by the remote key source. */
  jwksUrl?: string
  jwksOptions?: RemoteJwksOptions
  /** The HMAC secret; else CAPISCIO_JWT_SECRET, else APCORE_JWT_SECRET from env. */
  secret?: string | Uint8Array | KeyObject
  /** Where the secret variables are read (default process.env). */
  env?: Readonly<Record<string, string | undefined>>
  claimMapping?: ClaimMapping
  /** Told why a credential was refused (a coded error, never the token), e.g. to log it. */
  onError?: (error: CapiscioError) => void
}

/** The environment variables a secret may come from, in order. */
export const SECRET_ENV = ['CAPISCIO_JWT_SECRET', 'APCORE_JWT_SECRET'] as const

/**
 * Bearer JWTs in, Identity out (docs/architecture.md §7). The key is resolved once, at
 * construction (tokenVerifyOptions).
 */
export class JWTAuthenticator implements Authenticator {
  private readonly check: (token: string) => VerifiedToken | Promise<VerifiedToken>
  private readonly mapClaims: (claims: Record<string, unknown>) => Identity | null
  private readonly onError: ((error: CapiscioError) => void) | undefined
  /** Where the key came from, for logs and messages: "keys", "keyFile", "jwksUrl", "secret" or a variable's name. */
  readonly keySource: string

  constructor(options: JWTAuthenticatorOptions = {}) {
    const { claimMapping, onError } = options
    this.mapClaims = claimMapper(claimMapping)
    this.onError = onError
    const { verify, keySource } = tokenVerifyOptions(options)
    this.keySource = keySource
    this.check = tokenChecker(createTokenVerifier(verify))
  }

  /**
   * The verified token's Identity, or null (no bearer token, an invalid one, or no usable id claim).
   * The answer comes at once when nothing needs waiting for (a secret, or keys in memory), else as
   * a promise: the Authenticator contract allows both, and authMiddleware then adds no promise.
   */
  authenticate(headers: HeaderBag): Identity | null | Promise<Identity | null> {
    const presented = bearerToken(headers)
    if (!presented || !('token' in presented)) return null
    let checked: VerifiedToken | Promise<VerifiedToken>
    try {
      checked = this.check(presented.token)
    } catch (err) {
      return this.refused(err)
    }
    if (checked instanceof Promise)
      return checked.then(
        (ok) => this.identify(ok),
        (err: unknown) => this.refused(err),
      )
    return this.identify(checked)
  }

  private identify({ claims }: VerifiedToken): Identity | null {
    const identity = this.mapClaims(claims)
    if (!identity)
      reportRefusal(
        this.onError,
        new CapiscioError('TOKEN_CLAIMS_INVALID', 'the id claim is missing or not a string or number'),
        'token',
      )
    return identity
  }

  private refused(err: unknown): null {
    reportRefusal(this.onError, err, 'token')
    return null
  }

  securitySchemes(): Record<string, SecurityScheme> {
    return { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } }
  }
}

/**
 * The token verifier's options from an authenticator's: the key resolved once, by precedence
 * `keys` > `keyFile` > `jwksUrl` > `secret` > CAPISCIO_JWT_SECRET > APCORE_JWT_SECRET. A key file
 * that cannot be read or parsed is an error there and then: never a silent fallback to a secret
 * (apcore once used an unreadable key file's path as the HMAC secret). The gateway's JWT verifier
 * resolves its key the same way.
 */
export function tokenVerifyOptions(options: Omit<JWTAuthenticatorOptions, 'claimMapping' | 'onError'>): {
  verify: VerifyTokenOptions
  keySource: string
} {
  const { keys, keyFile, jwksUrl, jwksOptions, secret, env, ...verify } = options
  if (keys) return { verify: { ...verify, keys }, keySource: 'keys' }
  if (keyFile !== undefined)
    return { verify: { ...verify, keys: keyFileSource(keyFile) }, keySource: 'keyFile' }
  if (jwksUrl !== undefined) {
    const remote = { ...jwksOptions }
    const issuers = verify.issuer === undefined ? undefined : [verify.issuer].flat()
    if (issuers && !remote.issuers) remote.issuers = issuers
    return { verify: { ...verify, keys: new RemoteJwksKeySource(jwksUrl, remote) }, keySource: 'jwksUrl' }
  }
  if (secret !== undefined) return { verify: { ...verify, secret }, keySource: 'secret' }
  const vars = env ?? process.env
  const name = SECRET_ENV.find((n) => vars[n] !== undefined && vars[n] !== '')
  if (!name) {
    throw new CapiscioError(
      'USAGE',
      `no key to verify tokens: give keys, keyFile, jwksUrl or secret, or set ${SECRET_ENV.join(' or ')}`,
      { options: ['keyFile', 'secret'] },
    )
  }
  return { verify: { ...verify, secret: vars[name]! }, keySource: name }
}

/** A public key file, read and parsed now, so that a bad path fails at start-up, not on the first request. */
function keyFileSource(path: string): KeySource {
  const text = readTextFileSync(path)
  const keys = parseKeysSync(text)
  return new StaticKeySource(
    keys.map((k) =>
      k.kid === undefined ? { publicKey: k.publicKey } : { publicKey: k.publicKey, kid: k.kid },
    ),
  )
}
