/** JWK members that only a private (or secret) key has (RFC 7518 §6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']

/** A PEM private key of any kind: PKCS#8, encrypted PKCS#8, SEC1 (EC) or PKCS#1 (RSA). */
const PEM_PRIVATE = /-----BEGIN (?:ENCRYPTED |EC |RSA |OPENSSH )?PRIVATE KEY-----/

const isPrivateJwk = (v: unknown): boolean =>
  typeof v === 'object' &&
  v !== null &&
  PRIVATE_MEMBERS.some((m) => (v as Record<string, unknown>)[m] !== undefined)

/**
 * Whether a file's text is private key material: a PEM private key, or a JWK or JWKS holding a
 * private member. By content, as keys are read, not by file name.
 */
export function holdsPrivateKey(text: string): boolean {
  if (PEM_PRIVATE.test(text)) return true
  const trimmed = text.trim()
  if (!trimmed.startsWith('{')) return false
  let value: unknown
  try {
    value = JSON.parse(trimmed)
  } catch {
    return false
  }
  if (isPrivateJwk(value)) return true
  const keys = (value as { keys?: unknown }).keys
  return Array.isArray(keys) && keys.some(isPrivateJwk)
}
