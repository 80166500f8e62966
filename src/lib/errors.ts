/**
 * One error model for the whole toolkit: every failure the library reports is a CapiscioError whose
 * code comes from this registry. The code decides the process exit code (docs/architecture.md §3), so a command
 * never picks an exit code by itself. docs/errors.md documents every entry (a test keeps them in step).
 */

export const EXIT = { OK: 0, INTERNAL: 1, USAGE: 2, INVALID: 3, INPUT: 4 } as const
export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

interface CodeInfo {
  exit: ExitCode
  /** What the code means, for docs/errors.md and `--help` readers. */
  summary: string
  /** What to do, shown when an error has no hint of its own; docs/errors.md's "what to do" column. */
  hint: string
}

export const ERROR_CODES = {
  INTERNAL_ERROR: {
    exit: EXIT.INTERNAL,
    summary: 'an unexpected internal error (a bug); please report it',
    hint: 'run again with CAPISCIO_DEBUG=1 for a stack trace and report it',
  },
  USAGE: {
    exit: EXIT.USAGE,
    summary: 'a flag or argument is missing, unknown or has a bad value',
    hint: "see the command's --help",
  },
  CONFIG_INVALID: {
    exit: EXIT.INPUT,
    summary: 'the configuration file cannot be parsed, has an unknown key or a value of the wrong type',
    hint: 'fix the file or variable the message names',
  },
  FILE_NOT_FOUND: {
    exit: EXIT.INPUT,
    summary: 'a file or directory named on the command line does not exist',
    hint: 'check the path',
  },
  FILE_UNREADABLE: {
    exit: EXIT.INPUT,
    summary: 'a file exists but cannot be read (permissions, a directory, …)',
    hint: 'check permissions',
  },
  FILE_TOO_LARGE: {
    exit: EXIT.INPUT,
    summary: 'an input is larger than the limit for its kind',
    hint: 'give the right file',
  },
  WRITE_FAILED: {
    exit: EXIT.INPUT,
    summary: 'a file could not be written; nothing partial is left behind',
    hint: "check the directory's permissions and free space",
  },
  KEY_INVALID: {
    exit: EXIT.INPUT,
    summary: 'the input is not a JWK, JWKS, PEM key or did:key the toolkit can read',
    hint: 'give a public.jwk, public.pem, private.pem or did:key:z6Mk…',
  },
  KEY_UNSUPPORTED: {
    exit: EXIT.INPUT,
    summary: 'the key type, curve or size is not allowed (Ed25519, P-256 and RSA ≥ 2048 bits are)',
    hint: 'generate a supported key with capiscio key gen',
  },
  FILE_EXISTS: {
    exit: EXIT.INPUT,
    summary: 'the output file already exists and is not replaced without being asked',
    hint: 'pass --force, or choose another --out',
  },
  KEY_EXISTS: {
    exit: EXIT.INPUT,
    summary: 'a private key already exists where a new one (or any other output) would be written',
    hint: 'pass --force, or choose another --out',
  },
  KEY_NOT_FOUND: {
    exit: EXIT.INPUT,
    summary: 'no key file was found in the given directory',
    hint: 'run capiscio key gen --out DIR',
  },
  KEY_PASSPHRASE_REQUIRED: {
    exit: EXIT.USAGE,
    summary: 'an encrypted private key needs a passphrase and none was given (non-interactive run)',
    hint: 'pass --passphrase-file FILE or set CAPISCIO_KEY_PASSPHRASE',
  },
  KEY_PASSPHRASE_INVALID: {
    exit: EXIT.INPUT,
    summary: 'the passphrase does not decrypt the private key',
    hint: 'check the passphrase',
  },
  TRUST_PRIVATE_KEY: {
    exit: EXIT.INPUT,
    summary: 'a private key was given to the trust store, which keeps public keys only',
    hint: 'add public.jwk or public.pem instead',
  },
  TRUST_KID_INVALID: {
    exit: EXIT.INPUT,
    summary: 'a key id is empty, too long or contains control characters',
    hint: 'choose another --kid',
  },
  TRUST_KID_CONFLICT: {
    exit: EXIT.INPUT,
    summary: 'two different key ids map to the same trust-store file name',
    hint: 'add the key under another --kid',
  },
  TRUST_KEY_NOT_FOUND: {
    exit: EXIT.INPUT,
    summary: 'no trusted key has the given key id',
    hint: 'capiscio trust list shows the stored ids',
  },
  TRUST_STORE_INVALID: {
    exit: EXIT.INPUT,
    summary: 'a trust-store file (a key, issuers.json or revoked.json) is corrupt',
    hint: 'fix or remove the file the message names',
  },
  NETWORK_ERROR: {
    exit: EXIT.INPUT,
    summary: 'a remote resource (a JWKS URL) could not be fetched, was too large or was not valid',
    hint: 'check the URL and the service; plain http:// is allowed only on loopback',
  },
  BADGE_MALFORMED: {
    exit: EXIT.INVALID,
    summary: 'the badge is not a compact JWS of at most 16 KiB with an allowed alg (EdDSA, ES256)',
    hint: 'issue a new badge',
  },
  BADGE_CLAIMS_INVALID: {
    exit: EXIT.INVALID,
    summary: 'a required claim is missing or mistyped, or a self-signed badge breaks the self-signed rules',
    hint: 'fix the issuer',
  },
  BADGE_ISSUER_UNTRUSTED: {
    exit: EXIT.INVALID,
    summary: 'the issuer is not allowed, or no trusted key for the badge was found',
    hint: "capiscio trust add the issuer's key, or pass --key/--jwks",
  },
  BADGE_SIGNATURE_INVALID: {
    exit: EXIT.INVALID,
    summary: 'the signature does not verify with the trusted key',
    hint: 'the badge was tampered with or signed by another key',
  },
  BADGE_EXPIRED: {
    exit: EXIT.INVALID,
    summary: 'the badge expired (or is older than the maximum age)',
    hint: 'issue a new badge (capiscio badge keep renews automatically)',
  },
  BADGE_NOT_YET_VALID: {
    exit: EXIT.INVALID,
    summary: 'the badge was issued in the future or its nbf is ahead',
    hint: 'check both clocks',
  },
  BADGE_AUDIENCE_MISMATCH: {
    exit: EXIT.INVALID,
    summary: "the badge's aud does not include this verifier",
    hint: 'issue the badge with --aud for this service',
  },
  BADGE_REVOKED: {
    exit: EXIT.INVALID,
    summary: "the badge's jti is on the revocation list",
    hint: 'issue a new badge',
  },
  BADGE_REPLAYED: {
    exit: EXIT.INVALID,
    summary: 'the gateway has already accepted a badge with this jti (replay protection)',
    hint: 'issue a fresh badge for every request',
  },
  TOKEN_MALFORMED: {
    exit: EXIT.INVALID,
    summary:
      'the token is not a compact JWT of at most 16 KiB, or its alg is not on the allow-list (never none, never HMAC with a public key)',
    hint: 'mint a new token with capiscio token mint',
  },
  TOKEN_CLAIMS_INVALID: {
    exit: EXIT.INVALID,
    summary:
      'a required claim is missing, or a registered claim (exp, nbf, iat, iss, aud, sub) has the wrong type',
    hint: 'mint the token with the claims the verifier requires',
  },
  TOKEN_ISSUER_MISMATCH: {
    exit: EXIT.INVALID,
    summary: "the token's iss is not the expected issuer",
    hint: "mint the token with --iss for this verifier, or check the verifier's --iss",
  },
  TOKEN_SIGNATURE_INVALID: {
    exit: EXIT.INVALID,
    summary: 'no known key for the token, or its signature does not verify with the key or secret',
    hint: 'the token was tampered with, or signed with another key or secret',
  },
  TOKEN_EXPIRED: {
    exit: EXIT.INVALID,
    summary: 'the token expired (or is older than the maximum age)',
    hint: 'mint a new token',
  },
  TOKEN_NOT_YET_VALID: {
    exit: EXIT.INVALID,
    summary: 'the token was issued in the future or its nbf is ahead',
    hint: 'check both clocks',
  },
  TOKEN_AUDIENCE_MISMATCH: {
    exit: EXIT.INVALID,
    summary: "the token's aud does not include this verifier's audience, or it has none",
    hint: 'mint the token with --aud for this service',
  },
  TOKEN_REPLAYED: {
    exit: EXIT.INVALID,
    summary: 'the gateway has already accepted this token (replay protection, by jti or signature)',
    hint: 'mint a fresh token for every request, or run the gateway without --replay-protection',
  },
  GUARD_MALFORMED: {
    exit: EXIT.INVALID,
    summary:
      'the SimpleGuard token is not a compact EdDSA JWS with a kid, iat and exp (never none, never HMAC), or there is none',
    hint: "sign the request again with the caller's SimpleGuard",
  },
  GUARD_UNTRUSTED_KEY: {
    exit: EXIT.INVALID,
    summary:
      "no trusted/<kid>.pem (or .jwk) holds the token's kid, or the trust store binds that key to other issuers",
    hint: "trust the caller's public key: capiscio trust add public.pem --kid KID",
  },
  GUARD_SIGNATURE_INVALID: {
    exit: EXIT.INVALID,
    summary: "the token's signature does not verify with the trusted key for its kid",
    hint: 'the token was tampered with or signed with another key',
  },
  GUARD_EXPIRED: {
    exit: EXIT.INVALID,
    summary: "the token's exp has passed, or it is older than the maximum token age (beyond the clock skew)",
    hint: 'sign every request just before sending it',
  },
  GUARD_NOT_YET_VALID: {
    exit: EXIT.INVALID,
    summary: "the token's iat or nbf is ahead of the verifier's clock (beyond the clock skew)",
    hint: 'check both clocks',
  },
  GUARD_BODY_MISMATCH: {
    exit: EXIT.INVALID,
    summary:
      "the body does not match the token's bh: a different hash, a body without bh, or bh without a body",
    hint: 'sign the exact bytes sent, after any serialisation',
  },
  GUARD_REPLAY: {
    exit: EXIT.INVALID,
    summary: 'a token with this jti was already accepted within its lifetime',
    hint: 'sign a fresh token for every request',
  },
  CARD_UNREADABLE: {
    exit: EXIT.INPUT,
    summary: 'the agent card could not be read: not JSON, or not a JSON object',
    hint: 'check the file or URL; a card is one JSON object',
  },
  CARD_INVALID: {
    exit: EXIT.INVALID,
    summary:
      'the agent card is not a JSON object that can be canonicalized (RFC 8785): too deep, a lone surrogate, a non-finite number',
    hint: 'fix the card so that it is plain JSON nesting at most 128 levels',
  },
  CARD_SIGNATURE_MALFORMED: {
    exit: EXIT.INVALID,
    summary:
      "a signature's protected header is not base64url JSON with a non-empty alg and kid, or its signature is not base64url",
    hint: 'sign the card again with capiscio card sign',
  },
  CARD_SIGNATURE_INVALID: {
    exit: EXIT.INVALID,
    summary: 'no signature of the card verifies with a trusted key',
    hint: 'the card changed after it was signed, or was signed with a key that is not trusted',
  },
} as const satisfies Record<string, CodeInfo>

export type ErrorCode = keyof typeof ERROR_CODES

export interface CapiscioErrorOptions {
  hint?: string
  cause?: unknown
  /**
   * The library options the message and hint name, by their API names (`sub`, `localKey`). A front
   * end may show its own names for them (the CLI shows `--sub`, `--local-key`).
   */
  options?: readonly string[]
}

export class CapiscioError extends Error {
  readonly code: ErrorCode
  readonly hint?: string
  readonly options?: readonly string[]

  constructor(code: ErrorCode, message: string, options: CapiscioErrorOptions = {}) {
    // A refused credential (exit 3) is an answer, not a fault: no stack is captured for it. Walking
    // the stack was most of what refusing junk cost a verifier (6-13 µs a token, against ~1 µs to
    // find it malformed).
    const limit = Error.stackTraceLimit
    if (ERROR_CODES[code]?.exit === EXIT.INVALID) Error.stackTraceLimit = 0
    try {
      super(message, options.cause === undefined ? undefined : { cause: options.cause })
    } finally {
      Error.stackTraceLimit = limit
    }
    this.name = 'CapiscioError'
    this.code = code
    if (options.hint !== undefined) this.hint = options.hint
    if (options.options !== undefined) this.options = options.options
  }

  /** The error's own hint, else the default for its code: every error says what to do. */
  get displayHint(): string {
    return this.hint ?? ERROR_CODES[this.code].hint
  }

  get exitCode(): ExitCode {
    return ERROR_CODES[this.code].exit
  }

  toJSON(): { code: ErrorCode; message: string; hint: string } {
    return { code: this.code, message: this.message, hint: this.displayHint }
  }
}

export function isCapiscioError(err: unknown): err is CapiscioError {
  return err instanceof CapiscioError
}
