import { CapiscioError } from '../errors.js'
import { publicKeyFromDidKey } from '../keys/didkey.js'
import type { CandidateKey, KeyQuery, KeySource } from './types.js'

/**
 * Resolves a did:key issuer to its own public key. Only self-signed badges are verified this way
 * (the verifier enables it with acceptSelfSigned), and the self-signed rules then apply.
 */
export class DidKeySource implements KeySource {
  readonly kind = 'did:key'

  async find(query: KeyQuery): Promise<CandidateKey[]> {
    if (query.alg !== 'EdDSA' || !query.iss.startsWith('did:key:')) return []
    // A kid, if present, must name the same DID (optionally with a #fragment).
    if (query.kid !== undefined && query.kid !== query.iss && !query.kid.startsWith(query.iss + '#'))
      return []
    try {
      return [{ publicKey: publicKeyFromDidKey(query.iss), kid: query.iss, issuers: [query.iss] }]
    } catch (err) {
      if (err instanceof CapiscioError) return []
      throw err
    }
  }

  ready(): boolean {
    return true
  }
}
