import type { KeyObject } from 'node:crypto'
import { stat } from 'node:fs/promises'

import { keyFitsAlg } from '../keys/alg.js'
import { defaultKidOf } from '../keys/key.js'
import { parseKeys, type ParsedKey } from '../keys/parse.js'
import { readTextFile } from '../io.js'
import { readKeyFrom } from '../store/keydir.js'
import type { CandidateKey, KeyQuery, KeySource } from './types.js'

/**
 * Keys the operator named directly (`--key FILE`: a JWK, JWKS or PEM). A token's kid picks its key;
 * a token without a kid, or with one the file does not name, is tried against every key of its
 * algorithm, since the operator said outright that these keys are trusted.
 */
export class StaticKeySource implements KeySource {
  readonly kind = 'static'
  private readonly byKid = new Map<string, CandidateKey>()
  private readonly all: CandidateKey[]

  constructor(keys: { publicKey: KeyObject; kid?: string; issuers?: readonly string[] }[]) {
    this.all = keys.map((k) => ({ ...k }))
    for (const k of this.all) if (k.kid !== undefined) this.byKid.set(k.kid, k)
  }

  static async fromParsed(keys: ParsedKey[]): Promise<StaticKeySource> {
    return new StaticKeySource(
      await Promise.all(
        keys.map(async (k) => ({ publicKey: k.publicKey, kid: k.kid ?? (await defaultKidOf(k.publicKey)) })),
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
    return StaticKeySource.fromParsed(keys)
  }

  async find(query: KeyQuery): Promise<CandidateKey[]> {
    const exact = query.kid === undefined ? undefined : this.byKid.get(query.kid)
    if (exact && keyFitsAlg(exact.publicKey, query.alg)) return [exact]
    return this.all.filter((k) => keyFitsAlg(k.publicKey, query.alg))
  }

  ready(): boolean {
    return this.all.length > 0
  }
}
