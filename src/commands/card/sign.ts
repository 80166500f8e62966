import { Args, Flags } from '@oclif/core'

import { BaseCommand } from '../../base-command.js'
import { passphraseFileFlag } from '../../flags.js'
import { loadCard } from '../../lib/card/load.js'
import { signAgentCard, type AgentCard } from '../../lib/card/sign.js'
import { portabilityIssues } from '../../lib/card/portable.js'
import { CapiscioError } from '../../lib/errors.js'
import { writeFileAtomic } from '../../lib/store/atomic.js'
import { readSigningKey } from '../../lib/store/keydir.js'

export default class CardSign extends BaseCommand<typeof CardSign> {
  static override description =
    'sign an agent card: append a detached JWS over its RFC 8785 form to signatures[] (earlier signatures are kept)'
  static override examples = [
    '<%= config.bin %> <%= command.id %> agent-card.json --key capiscio_keys/',
    '<%= config.bin %> <%= command.id %> card.json --key k/private.jwk --jku https://agent.example.com/.well-known/jwks.json --out signed.json',
  ]
  static override args = {
    file: Args.string({ ignoreStdin: true, description: 'the card to sign', required: true }),
  }
  static override flags = {
    key: Flags.string({
      description: 'signing key: private.jwk, private.pem or a key directory',
      helpValue: 'FILE',
      required: true,
    }),
    kid: Flags.string({ description: "the kid in the protected header [default: the key's kid]" }),
    jku: Flags.string({
      description: 'a JWKS URL for the protected header (verifiers only use it if they trust it)',
      helpValue: 'URL',
    }),
    out: Flags.string({
      description: "where to write the signed card, or '-' for stdout [default: the file itself, atomically]",
      helpValue: 'FILE',
    }),
    strict: Flags.boolean({ description: 'refuse a card whose members SDKs would canonicalize differently' }),
    'passphrase-file': passphraseFileFlag,
  }

  async run(): Promise<{ card: AgentCard; kid: string; out: string }> {
    const { flags, args } = this
    if (/^https?:\/\//i.test(args.file))
      throw new CapiscioError('USAGE', 'card sign signs a local file, not a URL')
    const card = await loadCard(args.file)
    const issues = portabilityIssues(card)
    if (issues.length > 0) {
      const text = `the official A2A JS SDK would sign other bytes for this card because of: ${issues.join(', ')}`
      if (flags.strict)
        throw new CapiscioError('CARD_INVALID', text, {
          hint: 'remove those members (empty values, members outside the A2A 1.0 card)',
        })
      this.warnLine(text)
    }
    if (flags.jku !== undefined && !/^https:\/\//.test(flags.jku))
      throw new CapiscioError('USAGE', '--jku must be an https URL')
    const signing = await readSigningKey(flags.key, {
      passphrase: await this.passphraseSource(flags['passphrase-file']),
    })
    const kid = flags.kid ?? signing.kid
    const signed = signAgentCard(card, {
      privateKey: signing.privateKey,
      kid,
      ...(flags.jku ? { jku: flags.jku } : {}),
    })
    const out = flags.out ?? args.file
    const text = JSON.stringify(signed, null, 2) + '\n'
    if (out === '-') this.out(text)
    else await writeFileAtomic(out, text, 0o644)
    this.info(
      `signed with kid ${kid} (${signed.signatures!.length} signature${signed.signatures!.length === 1 ? '' : 's'})${out === '-' ? '' : ` → ${out}`}`,
    )
    return { card: signed, kid, out }
  }
}
