import type { KeyObject } from 'node:crypto'
import { stat } from 'node:fs/promises'

import { keyFitsAlg, type SignatureAlg } from '../keys/alg.js'
import { defaultKidOf } from '../keys/key.js'
import { parseKeys, type ParsedKey } from '../keys/parse.js'
import { readTextFile } from '../io.js'
import { readKeyFrom } from '../store/keydir.js'
import type { CandidateKey, KeyQuery, KeySource } from './types.js'

export interface StaticKey {
  publicKey: KeyObject
  kid?: string
  issuers?: readonly string[]
  /** The kid was computed (a PEM has none of its own), so a token may name the key by any kid. */
  kidDerived?: boolean
}

/**
 * Keys the operator named directly (`--key FILE`: a JWK, JWKS or PEM). A token's kid picks its key;
 * a kid no key carries matches only keys without a kid of their own (a PEM), so junk kids cost no
 * signature checks; a kid-less token (the Go core's) is tried against every key of its algorithm.
 * The operator vouched for these keys outright: they are bound by the verifier's issuer allow-list,
 * and a did:key issuer only ever by its own key (verifyBadge).
 */
export class StaticKeySource implements KeySource {
  readonly kind = 'static'
  private readonly byKid = new Map<string, CandidateKey>()
  private readonly all: CandidateKey[] = []
  /** Keys without a kid of their own: the only ones a token with an unknown kid may try. */
  private readonly anyKid: CandidateKey[] = []
  /** Set by fromFile when the file held private material, so the caller can warn (only the public half is used). */
  heldPrivateKey = false

  constructor(keys: StaticKey[]) {
    for (const { kidDerived, ...k } of keys) {
      const candidate: CandidateKey = { ...k }
      this.all.push(candidate)
      if (k.kid !== undefined) this.byKid.set(k.kid, candidate)
      if (k.kid === undefined || kidDerived) this.anyKid.push(candidate)
    }
  }

  static async fromParsed(keys: ParsedKey[]): Promise<StaticKeySource> {
    return new StaticKeySource(
      await Promise.all(
        keys.map(async (k) => ({
          publicKey: k.publicKey,
          kid: k.kid ?? (await defaultKidOf(k.publicKey)),
          kidDerived: k.kid === undefined,
        })),
      ),
    )
  }

  /** Reads `--key FILE` (public or private material; only the public half is kept). */
  static async fromFile(path: string): Promise<StaticKeySource> {
    const isDir = await stat(path).then(
      (s) => s.isDirectory(),
      () => false,
    )
    const keys = isDir
      ? [await readKeyFrom(path, { prefer: 'public' })]
      : await parseKeys(await readTextFile(path))
    const source = await StaticKeySource.fromParsed(keys)
    source.heldPrivateKey = keys.some((k) => k.privateKey !== undefined)
    return source
  }

  async find(query: KeyQuery): Promise<CandidateKey[]> {
    return this.findSync(query)
  }

  findSync(query: KeyQuery): CandidateKey[] {
    if (query.kid === undefined) return this.ofAlg(this.all, query.alg)
    const exact = this.byKid.get(query.kid)
    if (exact) return keyFitsAlg(exact.publicKey, query.alg) ? [exact] : []
    return this.ofAlg(this.anyKid, query.alg)
  }

  /**
   * The keys of a list that verify `alg`, worked out once per list and algorithm (the keys never
   * change): a kid-less or unknown-kid token would otherwise cost a lookup per key, and a flood of
   * them against a 100-key JWKS one per key per request. A copy is returned; the lists stay ours.
   */
  private ofAlg(list: CandidateKey[], alg: SignatureAlg): CandidateKey[] {
    let byAlg = this.fitting.get(list)
    if (byAlg === undefined) this.fitting.set(list, (byAlg = new Map()))
    let keys = byAlg.get(alg)
    if (keys === undefined) byAlg.set(alg, (keys = list.filter((k) => keyFitsAlg(k.publicKey, alg))))
    return keys.length === 0 ? [] : keys.slice()
  }

  private readonly fitting = new Map<CandidateKey[], Map<SignatureAlg, CandidateKey[]>>()

  ready(): boolean {
    return this.all.length > 0
  }
}
