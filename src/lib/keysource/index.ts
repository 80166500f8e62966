import { CapiscioError } from '../errors.js'
import { TrustStore } from '../store/truststore.js'
import { RemoteJwksKeySource, type RemoteJwksOptions } from './jwks.js'
import { StaticKeySource } from './static.js'
import { TrustStoreKeySource } from './truststore.js'
import type { KeySource } from './types.js'

export interface KeySourceSpec {
  /** A JWK, JWKS or PEM public key file (or a key directory). */
  key?: string
  /** A remote JWKS URL. */
  jwks?: string
  /** A trust store directory. */
  trustDir?: string
  jwksOptions?: RemoteJwksOptions
  /**
   * The verifier's issuer allow-list. A remote JWKS's keys are bound to it when given (else to the
   * registry's own issuer); static keys need no binding, since the allow-list is checked first.
   */
  issuers?: readonly string[]
}

/** Builds the one key source a verifier uses from the CLI/config choice; two at once is an error. */
export async function keySourceFrom(spec: KeySourceSpec): Promise<KeySource | undefined> {
  const given = (['key', 'jwks', 'trustDir'] as const).filter((k) => spec[k] !== undefined)
  if (given.length > 1) {
    throw new CapiscioError('USAGE', `choose one key source, not ${given.join(' and ')}`, {
      options: [...given],
    })
  }
  if (spec.key !== undefined) return StaticKeySource.fromFile(spec.key)
  if (spec.jwks !== undefined) {
    const options = { ...spec.jwksOptions }
    if (spec.issuers?.length) options.issuers = spec.issuers
    return new RemoteJwksKeySource(spec.jwks, options)
  }
  if (spec.trustDir !== undefined) return new TrustStoreKeySource(new TrustStore(spec.trustDir))
  return undefined
}

export { RemoteJwksKeySource, StaticKeySource, TrustStoreKeySource }
export type { KeySource }
