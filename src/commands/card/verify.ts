import { Args, Flags } from '@oclif/core'

import { BaseCommand, type Refusal } from '../../base-command.js'
import { printable } from '../../cli-errors.js'
import { trustDirFlag } from '../../flags.js'
import { loadCard } from '../../lib/card/load.js'
import { verifyAgentCard, type CardVerification } from '../../lib/card/sign.js'
import { CapiscioError } from '../../lib/errors.js'
import { parseKeysSync } from '../../lib/keys/parse.js'
import {
  keySourceFrom,
  requireReachable,
  StaticKeySource,
  type KeySource,
} from '../../lib/keysource/index.js'
import { checkFetchUrl, fetchJson } from '../../lib/net/fetch-json.js'

/**
 * Keys from a signature's jku, only for URLs under an allowed https prefix, fetched once per run
 * (size-capped, no redirects). A card never gets its keys trusted by pointing at them.
 */
function jkuFetcher(prefixes: string[]): (jku: string) => Promise<KeySource | undefined> {
  // https, or http on loopback (a local registry), as for every key URL; and a path after the host.
  for (const p of prefixes) {
    checkFetchUrl(p)
    if (!/^https?:\/\/[^/]+\//.test(p))
      throw new CapiscioError(
        'USAGE',
        `--allow-jku ${p} must be a URL prefix with a path, e.g. https://agent.example.com/`,
      )
  }
  const fetched = new Map<string, Promise<KeySource>>()
  return async (jku) => {
    if (!prefixes.some((p) => jku.startsWith(p))) return undefined
    let source = fetched.get(jku)
    if (!source) {
      source = fetchJson(checkFetchUrl(jku)).then((doc) =>
        StaticKeySource.fromParsed(parseKeysSync(JSON.stringify(doc))),
      )
      fetched.set(jku, source)
    }
    return source
  }
}

export default class CardVerify extends BaseCommand<typeof CardVerify> {
  static override description =
    'verify the signatures of an agent card: exit 0 when one from a trusted key verifies and none is malformed, 3 when not'
  static override examples = [
    '<%= config.bin %> <%= command.id %> agent-card.json --key partner/public.jwk',
    '<%= config.bin %> <%= command.id %> https://agent.example.com/.well-known/agent-card.json --jwks https://agent.example.com/.well-known/jwks.json --json',
  ]
  static override args = {
    card: Args.string({ ignoreStdin: true, description: 'the card: a file or an https URL', required: true }),
  }
  static override jsonFailure = { valid: false }
  static override flags = {
    key: Flags.string({ description: 'trusted public key file: JWK, JWKS or PEM', helpValue: 'FILE' }),
    jwks: Flags.string({ description: 'trusted keys from a JWKS URL or file', helpValue: 'URL|FILE' }),
    'trust-dir': trustDirFlag,
    all: Flags.boolean({ description: 'require every signature to verify' }),
    'allow-jku': Flags.string({
      description: "trust keys from a signature's jku when it starts with this https prefix (repeatable)",
      multiple: true,
      helpValue: 'PREFIX',
    }),
  }

  async run(): Promise<CardVerification | Refusal> {
    const { flags } = this
    const card = await loadCard(this.args.card)
    const explicit = flags.key !== undefined || flags.jwks !== undefined || flags['trust-dir'] !== undefined
    // Never a key because the card points at it (jku): a key file, a JWKS or the trust store.
    const keys = await keySourceFrom({
      key: flags.key,
      jwks: flags.jwks,
      trustDir: explicit ? flags['trust-dir'] : await this.trustDir(undefined, { mustExist: true }),
      // A card names no issuer: a JWKS at any URL verifies it, as the same JWKS in a file does.
      jwksOptions: { unbound: true },
    })
    await requireReachable(keys)
    let result: CardVerification
    try {
      result = await verifyAgentCard(card, {
        keys: keys!,
        all: flags.all,
        jkuKeys: jkuFetcher(flags['allow-jku'] ?? []),
      })
    } catch (err) {
      if (!(err instanceof CapiscioError) || !err.code.startsWith('CARD_')) throw err
      return this.refuse(err, 'card')
    }
    for (const s of result.signatures)
      this.out(
        `signature ${s.index + 1}: ${s.status}${s.kid ? ` (kid ${printable(s.kid)}, ${printable(String(s.alg))})` : ''}${s.message ? ` — ${printable(s.message)}` : ''}`,
      )
    if (!result.valid) {
      const reason =
        result.signatures.length === 0
          ? 'the card has no signatures'
          : result.signatures.some((s) => s.status === 'malformed')
            ? 'a signature is malformed'
            : flags.all
              ? 'not every signature verifies with a trusted key'
              : 'no signature verifies with a trusted key'
      const refusal = this.refuse(
        new CapiscioError(
          result.signatures.some((s) => s.status === 'malformed')
            ? 'CARD_SIGNATURE_MALFORMED'
            : 'CARD_SIGNATURE_INVALID',
          reason,
          result.signatures.length === 0
            ? { hint: 'sign it first: capiscio card sign <file> --key <private key>' }
            : {},
        ),
        'card',
      )
      return { ...refusal, signatures: result.signatures } as Refusal
    }
    this.out('valid card')
    return result
  }
}
