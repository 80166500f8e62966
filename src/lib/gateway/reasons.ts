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
}

export function publicReason(code: string): string {
  return REASONS[code] ?? 'invalid credential'
}
