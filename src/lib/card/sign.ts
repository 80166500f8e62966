import { sign as cryptoSign, type KeyObject } from 'node:crypto'

import { toLowS, verifySignature } from '../badge/jws.js'
import { CapiscioError } from '../errors.js'
import type { SignatureAlg } from '../keys/alg.js'
import type { KeySource } from '../keysource/types.js'
import { algForKey } from '../token/algs.js'
import { canonicalize } from './canonicalize.js'

/** One entry of a card's `signatures[]`: a detached JWS (RFC 7515 Appendix F) over the card. */
export interface CardSignature {
  protected: string
  signature: string
  header?: Record<string, unknown>
}

export type AgentCard = Record<string, unknown> & { signatures?: CardSignature[] }

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url')
const B64URL = /^[A-Za-z0-9_-]*$/

/** The signed payload: the canonical (RFC 8785) card without its `signatures`. */
export function cardSigningPayload(card: AgentCard): string {
  if (typeof card !== 'object' || card === null || Array.isArray(card))
    throw new CapiscioError('CARD_INVALID', 'the agent card is not a JSON object')
  const rest: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(card))
    if (k !== 'signatures') Object.defineProperty(rest, k, { value: v, enumerable: true })
  return canonicalize(rest)
}

export interface SignAgentCardOptions {
  privateKey: KeyObject
  kid: string
  /** Where the verifier may find the key (a JWKS URL), carried in the protected header. */
  jku?: string
}

/**
 * Appends a signature to the card's `signatures[]` (existing ones are kept, for key rotation):
 * protected header `{alg, typ:"JOSE", kid, jku?}`, itself in canonical form, over the canonical
 * card without `signatures`. Returns a new card; the one given is not changed.
 */
export function signAgentCard(card: AgentCard, options: SignAgentCardOptions): AgentCard {
  const alg = algForKey(options.privateKey)
  if (options.privateKey.type !== 'private') throw new CapiscioError('USAGE', 'signing needs a private key')
  if (typeof options.kid !== 'string' || options.kid === '')
    throw new CapiscioError('USAGE', 'kid is required')
  const header: Record<string, string> = { alg, typ: 'JOSE', kid: options.kid }
  if (options.jku !== undefined) header.jku = options.jku
  const protectedB64 = b64(canonicalize(header))
  const input = Buffer.from(`${protectedB64}.${b64(cardSigningPayload(card))}`, 'latin1')
  const key = options.privateKey
  const sig =
    alg === 'ES256'
      ? toLowS(cryptoSign('sha256', input, { key, dsaEncoding: 'ieee-p1363' }))
      : cryptoSign(alg === 'RS256' ? 'sha256' : null, input, key)
  // An earlier signature that cannot even be read would make the signed card fail every verifier
  // (CARD_SIGNATURE_MALFORMED) whatever this one says: say so now instead of signing.
  if (card.signatures !== undefined && !Array.isArray(card.signatures))
    throw new CapiscioError('CARD_SIGNATURE_MALFORMED', 'signatures is not an array', {
      hint: 'remove the signatures member, then sign the card again',
    })
  const existing = card.signatures ?? []
  existing.forEach((sig, i) => {
    try {
      parseCardSignatureHeader(sig)
    } catch (err) {
      throw new CapiscioError('CARD_SIGNATURE_MALFORMED', `signatures[${i}]: ${(err as Error).message}`, {
        hint: `remove signatures[${i}] (it cannot be verified), then sign the card again`,
      })
    }
  })
  return {
    ...card,
    signatures: [...existing, { protected: protectedB64, signature: sig.toString('base64url') }],
  }
}

export interface ProtectedHeader extends Record<string, unknown> {
  alg: string
  kid: string
  jku?: string
}

/** A signature's protected header: base64url JSON with non-empty string alg and kid (CARD-SIGN-003). */
export function parseCardSignatureHeader(signature: unknown): ProtectedHeader {
  const malformed = (message: string): never => {
    throw new CapiscioError('CARD_SIGNATURE_MALFORMED', message)
  }
  const sig = signature as Partial<CardSignature> | null
  if (typeof sig !== 'object' || sig === null) malformed('the signature is not an object')
  if (typeof sig!.protected !== 'string' || sig!.protected === '' || !B64URL.test(sig!.protected))
    malformed('protected is not base64url')
  if (typeof sig!.signature !== 'string' || sig!.signature === '' || !B64URL.test(sig!.signature))
    malformed('signature is not base64url')
  let header: unknown
  try {
    header = JSON.parse(Buffer.from(sig!.protected!, 'base64url').toString('utf8'))
  } catch {
    malformed('the protected header is not JSON')
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    malformed('the protected header is not a JSON object')
  const h = header as Record<string, unknown>
  if (typeof h.alg !== 'string' || h.alg === '') malformed('alg missing or empty')
  if (typeof h.kid !== 'string' || h.kid === '') malformed('kid missing or empty')
  return h as ProtectedHeader
}

export interface SignatureReport {
  index: number
  status: 'valid' | 'invalid' | 'malformed' | 'untrusted' | 'unsupported'
  alg?: string
  kid?: string
  jku?: string
  message?: string
}

export interface CardVerification {
  /** At least one signature from a trusted key verifies and none is malformed (all of them, with all). */
  valid: boolean
  signatures: SignatureReport[]
}

const VERIFIABLE: readonly string[] = ['EdDSA', 'ES256', 'RS256']

/**
 * Checks every signature of a card against trusted keys (a key file, a trust store, a JWKS the
 * operator named: never a key because the card points at it). A signature is reported valid,
 * invalid (it does not verify), untrusted (no trusted key for its kid), unsupported (an alg this
 * toolkit does not verify, e.g. ES384) or malformed.
 */
export async function verifyAgentCard(
  card: AgentCard,
  options: {
    keys: KeySource
    all?: boolean
    /**
     * Keys for a signature's `jku`, asked only when the trusted keys have none for its kid; the
     * caller decides which jku it will fetch (an allow-list), never the card.
     */
    jkuKeys?: (jku: string) => Promise<KeySource | undefined>
  },
): Promise<CardVerification> {
  const payload = cardSigningPayload(card)
  const signatures = card.signatures
  if (signatures !== undefined && !Array.isArray(signatures))
    throw new CapiscioError('CARD_SIGNATURE_MALFORMED', 'signatures is not an array')
  const reports: SignatureReport[] = []
  for (const [index, sig] of (signatures ?? []).entries()) {
    let header: ProtectedHeader
    try {
      header = parseCardSignatureHeader(sig)
    } catch (err) {
      reports.push({ index, status: 'malformed', message: (err as Error).message })
      continue
    }
    const report: SignatureReport = { index, status: 'invalid', alg: header.alg, kid: header.kid }
    if (typeof header.jku === 'string') report.jku = header.jku
    reports.push(report)
    if (!VERIFIABLE.includes(header.alg)) {
      report.status = 'unsupported'
      report.message = `alg ${header.alg} is not one this verifier checks (EdDSA, ES256, RS256)`
      continue
    }
    const alg = header.alg as SignatureAlg
    let candidates = await options.keys.find({ kid: header.kid, iss: '', alg })
    if (candidates.length === 0 && typeof header.jku === 'string' && options.jkuKeys) {
      const fromJku = await options.jkuKeys(header.jku)
      if (fromJku) candidates = await fromJku.find({ kid: header.kid, iss: '', alg })
    }
    if (candidates.length === 0) {
      report.status = 'untrusted'
      report.message = `no trusted ${alg} key for kid ${header.kid}`
      continue
    }
    const input = `${sig.protected}.${b64(payload)}`
    const bytes = Buffer.from(sig.signature, 'base64url')
    // ES256 card signatures may be high-S: JWS signers in other SDKs emit both forms.
    if (candidates.some((c) => verifySignature(alg, c.publicKey, input, bytes, { lowS: false })))
      report.status = 'valid'
    else report.message = 'the signature does not verify'
  }
  const valid = options.all
    ? reports.length > 0 && reports.every((r) => r.status === 'valid')
    : reports.some((r) => r.status === 'valid') && !reports.some((r) => r.status === 'malformed')
  return { valid, signatures: reports }
}
