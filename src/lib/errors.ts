/**
 * One error model for the whole toolkit: every failure the library reports is a CapiscioError whose
 * code comes from this registry. The code decides the process exit code (DESIGN §3), so a command
 * never picks an exit code by itself. docs/errors.md documents every entry (a test keeps them in step).
 */

export const EXIT = { OK: 0, INTERNAL: 1, USAGE: 2, INVALID: 3, INPUT: 4 } as const
export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

interface CodeInfo {
  exit: ExitCode
  /** What the code means, for docs/errors.md and `--help` readers. */
  summary: string
}

export const ERROR_CODES = {
  INTERNAL_ERROR: { exit: EXIT.INTERNAL, summary: 'an unexpected internal error (a bug); please report it' },
  USAGE: { exit: EXIT.USAGE, summary: 'a flag or argument is missing, unknown or has a bad value' },
  CONFIG_INVALID: {
    exit: EXIT.INPUT,
    summary: 'the configuration file cannot be parsed, has an unknown key or a value of the wrong type',
  },
  FILE_NOT_FOUND: {
    exit: EXIT.INPUT,
    summary: 'a file or directory named on the command line does not exist',
  },
  FILE_UNREADABLE: {
    exit: EXIT.INPUT,
    summary: 'a file exists but cannot be read (permissions, a directory, …)',
  },
  FILE_TOO_LARGE: { exit: EXIT.INPUT, summary: 'an input is larger than the limit for its kind' },
  WRITE_FAILED: { exit: EXIT.INPUT, summary: 'a file could not be written; nothing partial is left behind' },
  KEY_INVALID: {
    exit: EXIT.INPUT,
    summary: 'the input is not a JWK, JWKS, PEM key or did:key the toolkit can read',
  },
  KEY_UNSUPPORTED: {
    exit: EXIT.INPUT,
    summary: 'the key type, curve or size is not allowed (Ed25519, P-256 and RSA ≥ 2048 bits are)',
  },
  KEY_EXISTS: { exit: EXIT.INPUT, summary: 'a private key already exists where a new one would be written' },
  KEY_NOT_FOUND: { exit: EXIT.INPUT, summary: 'no key file was found in the given directory' },
  KEY_PASSPHRASE_REQUIRED: {
    exit: EXIT.USAGE,
    summary: 'an encrypted private key needs a passphrase and none was given (non-interactive run)',
  },
  KEY_PASSPHRASE_INVALID: { exit: EXIT.INPUT, summary: 'the passphrase does not decrypt the private key' },
  TRUST_PRIVATE_KEY: {
    exit: EXIT.INPUT,
    summary: 'a private key was given to the trust store, which keeps public keys only',
  },
  TRUST_KID_INVALID: {
    exit: EXIT.INPUT,
    summary: 'a key id is empty, too long or contains control characters',
  },
  TRUST_KID_CONFLICT: {
    exit: EXIT.INPUT,
    summary: 'two different key ids map to the same trust-store file name',
  },
  TRUST_KEY_NOT_FOUND: { exit: EXIT.INPUT, summary: 'no trusted key has the given key id' },
  TRUST_STORE_INVALID: {
    exit: EXIT.INPUT,
    summary: 'a trust-store file (a key, issuers.json or revoked.json) is corrupt',
  },
  NETWORK_ERROR: {
    exit: EXIT.INPUT,
    summary: 'a remote resource (a JWKS URL) could not be fetched, was too large or was not valid',
  },
  BADGE_MALFORMED: {
    exit: EXIT.INVALID,
    summary: 'the badge is not a compact JWS of at most 16 KiB with an allowed alg (EdDSA, ES256)',
  },
  BADGE_CLAIMS_INVALID: {
    exit: EXIT.INVALID,
    summary: 'a required claim is missing or mistyped, or a self-signed badge breaks the self-signed rules',
  },
  BADGE_ISSUER_UNTRUSTED: {
    exit: EXIT.INVALID,
    summary: 'the issuer is not allowed, or no trusted key for the badge was found',
  },
  BADGE_SIGNATURE_INVALID: {
    exit: EXIT.INVALID,
    summary: 'the signature does not verify with the trusted key',
  },
  BADGE_EXPIRED: { exit: EXIT.INVALID, summary: 'the badge expired (or is older than --max-age)' },
  BADGE_NOT_YET_VALID: {
    exit: EXIT.INVALID,
    summary: 'the badge was issued in the future or its nbf is ahead',
  },
  BADGE_AUDIENCE_MISMATCH: { exit: EXIT.INVALID, summary: "the badge's aud does not include this verifier" },
  BADGE_REVOKED: { exit: EXIT.INVALID, summary: "the badge's jti is on the revocation list" },
  BADGE_REPLAYED: {
    exit: EXIT.INVALID,
    summary: 'the gateway has already accepted a badge with this jti (replay protection)',
  },
} as const satisfies Record<string, CodeInfo>

export type ErrorCode = keyof typeof ERROR_CODES

export interface CapiscioErrorOptions {
  hint?: string
  cause?: unknown
}

export class CapiscioError extends Error {
  readonly code: ErrorCode
  readonly hint?: string

  constructor(code: ErrorCode, message: string, options: CapiscioErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'CapiscioError'
    this.code = code
    if (options.hint !== undefined) this.hint = options.hint
  }

  get exitCode(): ExitCode {
    return ERROR_CODES[this.code].exit
  }

  toJSON(): { code: ErrorCode; message: string; hint?: string } {
    return this.hint === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, hint: this.hint }
  }
}

export function isCapiscioError(err: unknown): err is CapiscioError {
  return err instanceof CapiscioError
}
