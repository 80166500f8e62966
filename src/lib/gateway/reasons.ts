/**
 * The short, public reason a refused request gets (docs/architecture.md §6): enough for a client to act on,
 * nothing about keys or internals. Keyed by error code; the code itself is sent alongside.
 */
const REASONS: Record<string, string> = {
  BADGE_MALFORMED: 'invalid badge signature',
  BADGE_SIGNATURE_INVALID: 'invalid badge signature',
  BADGE_CLAIMS_INVALID: 'invalid badge claims',
  BADGE_ISSUER_UNTRUSTED: 'untrusted badge issuer',
  BADGE_EXPIRED: 'badge expired',
  BADGE_NOT_YET_VALID: 'badge not yet valid',
  BADGE_AUDIENCE_MISMATCH: 'badge audience mismatch',
  BADGE_REVOKED: 'badge revoked',
  BADGE_REPLAYED: 'badge already used',
  TOKEN_MALFORMED: 'invalid token',
  TOKEN_SIGNATURE_INVALID: 'invalid token signature',
  TOKEN_CLAIMS_INVALID: 'invalid token claims',
  TOKEN_ISSUER_MISMATCH: 'untrusted token issuer',
  TOKEN_EXPIRED: 'token expired',
  TOKEN_NOT_YET_VALID: 'token not yet valid',
  TOKEN_AUDIENCE_MISMATCH: 'token audience mismatch',
  TOKEN_REPLAYED: 'token already used',
  GUARD_MALFORMED: 'invalid signed request',
  GUARD_UNTRUSTED_KEY: 'untrusted request signer',
  GUARD_SIGNATURE_INVALID: 'invalid request signature',
  GUARD_EXPIRED: 'signed request expired',
  GUARD_NOT_YET_VALID: 'signed request not yet valid',
  GUARD_BODY_MISMATCH: 'request body does not match its signature',
  GUARD_REPLAY: 'signed request already used',
}

export function publicReason(code: string): string {
  return REASONS[code] ?? 'invalid credential'
}
