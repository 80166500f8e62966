import { Flags } from '@oclif/core'

import { BaseCommand } from '../../base-command.js'
import { issueFlags, issueOptionsFromFlags } from '../../badge-flags.js'
import { issueBadge, type IssuedBadge } from '../../lib/badge/issue.js'
import { formatSpan } from '../../lib/duration.js'
import { writeFileAtomic } from '../../lib/store/atomic.js'

export default class BadgeIssue extends BaseCommand<typeof BadgeIssue> {
  static override description =
    'issue a signed trust badge; stdout carries only the token, so BADGE=$(capiscio badge issue …) works'
  static override examples = [
    '<%= config.bin %> <%= command.id %> --sub "did:capiscio:agent:client" --domain "client.example.com" --key ./client-private.jwk',
    'BADGE=$(<%= config.bin %> <%= command.id %> --key capiscio_keys/private.jwk --sub did:web:agent.example.com --aud https://api.example.com --ttl 10m)',
    '<%= config.bin %> <%= command.id %> --self-sign --out badge.jwt',
  ]
  static override flags = {
    ...issueFlags,
    out: Flags.string({
      description: 'write the token to this file (0600) instead of stdout',
      helpValue: 'FILE',
    }),
  }

  async run(): Promise<IssuedBadge> {
    const { flags } = this
    const options = await issueOptionsFromFlags(
      flags,
      await this.passphraseSource(flags['passphrase-file']),
      async () => (await this.setting('keyDir', undefined))!,
    )
    const badge = await issueBadge(options)
    if (flags.out) {
      await writeFileAtomic(flags.out, badge.token + '\n', 0o600)
    } else {
      await this.outFlushed(badge.token)
    }
    const { claims } = badge
    const level = claims.vc.credentialSubject.level
    this.info(
      `issued a level ${level} badge for ${claims.sub}` +
        ` (issuer ${claims.iss}, expires in ${formatSpan(claims.exp - claims.iat)})` +
        (flags.out ? ` → ${flags.out}` : ''),
    )
    return badge
  }
}
