import type { CapiscioError } from '../errors.js'

const authentic = new WeakSet<object>()

/**
 * Marks a refusal a verifier makes after the credential's signature verified (a signed JWT whose
 * claims make no usable identity): the credential is that verifier's kind, so the gateway answers
 * with this refusal and tries no other verifier.
 */
export function afterSignature(err: CapiscioError): CapiscioError {
  authentic.add(err)
  return err
}

export function isAfterSignature(err: unknown): boolean {
  return typeof err === 'object' && err !== null && authentic.has(err)
}
