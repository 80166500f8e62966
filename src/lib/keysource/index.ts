import { CapiscioError } from '../errors.js'
import { redactUrl } from '../net/redact.js'
import { TrustStore } from '../store/truststore.js'
import { RemoteJwksKeySource, type RemoteJwksOptions } from './jwks.js'
import { StaticKeySource } from './static.js'
import { TrustStoreKeySource } from './truststore.js'
import type { KeySource } from './types.js'

export interface KeySourceSpec {
  /** A JWK, JWKS or PEM public key file (or a key directory). */
  key?: string
  /** A remote JWKS URL, or a JWKS file. */
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
    // A JWKS saved to disk is as good as one served: read it like any key file.
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(spec.jwks)) return StaticKeySource.fromFile(spec.jwks)
    const options = { ...spec.jwksOptions }
    if (spec.issuers?.length) options.issuers = spec.issuers
    return new RemoteJwksKeySource(spec.jwks, options)
  }
  if (spec.trustDir !== undefined) return new TrustStoreKeySource(new TrustStore(spec.trustDir))
  return undefined
}

/**
 * A remote JWKS is fetched before verifying, so that an unreachable registry is an outage
 * (NETWORK_ERROR, exit 4), not an untrusted credential (exit 3).
 */
export async function requireReachable(keys: KeySource | undefined): Promise<void> {
  if (!(keys instanceof RemoteJwksKeySource)) return
  await keys.refresh()
  if (keys.ready()) return
  // Every message names the (redacted) URL, also "the JWKS has no keys array", which does not.
  const url = redactUrl(keys.url)
  const reason = keys.error?.message ?? 'the JWKS could not be fetched'
  throw new CapiscioError('NETWORK_ERROR', reason.includes(url) ? reason : `${url}: ${reason}`, {
    cause: keys.error,
  })
}

export { RemoteJwksKeySource, StaticKeySource, TrustStoreKeySource }
export type { KeySource }
