import { Flags } from '@oclif/core'

import { BaseCommand } from '../../base-command.js'
import { passphraseFileFlag } from '../../flags.js'
import { parseClaims } from '../../token-flags.js'
import { didKeyOf } from '../../lib/keys/didkey.js'
import { signGuardToken } from '../../lib/guard/token.js'
import { agentIdFromCard } from '../../lib/guard/project.js'
import { readSigningKey } from '../../lib/store/keydir.js'

export default class GuardSign extends BaseCommand<typeof GuardSign> {
  static override description =
    'sign a SimpleGuard token over a request body, so a shell script can call a SimpleGuard-protected agent'
  static override examples = [
    'curl -H "X-Capiscio-Badge: $(<%= config.bin %> <%= command.id %> --body-file req.json)" --data-binary @req.json http://localhost:8000/a2a/tasks',
    'echo -n \'{"id":1}\' | <%= config.bin %> <%= command.id %> --body-file - --claim \'sub="ci"\'',
  ]
  static override flags = {
    'body-file': Flags.string({
      description: "the exact body bytes to bind (a file, or '-' for standard input) [default: no body]",
      helpValue: 'FILE',
    }),
    claim: Flags.string({
      description: 'an extra claim NAME=JSON (repeatable)',
      multiple: true,
      helpValue: 'NAME=JSON',
    }),
    key: Flags.string({
      description:
        'the Ed25519 signing key or key directory [default: capiscio_keys in the project root, the nearest directory up holding agent-card.json]',
      helpValue: 'FILE',
    }),
    iss: Flags.string({
      description:
        "the agent id (iss) [default with the project's keys: agent-card.json's agent_id; else the key's did:key]",
    }),
    'passphrase-file': passphraseFileFlag,
  }

  async run(): Promise<{ token: string }> {
    const { flags } = this
    const { keyDir, projectRoot } = await this.guardKeyDir()
    const keyPath = flags.key ?? keyDir
    // The project's agent id names the project's own keys only, not a key given or configured.
    const agentId = flags.key === undefined && projectRoot ? agentIdFromCard(projectRoot) : undefined
    const signing = await readSigningKey(keyPath, {
      passphrase: await this.passphraseSource(flags['passphrase-file']),
    })
    const body = flags['body-file'] === undefined ? undefined : await this.readBody(flags['body-file'])
    const token = signGuardToken({
      privateKey: signing.privateKey,
      kid: signing.kid,
      // As SimpleGuard.signOutbound: the project's agent-card.json agent_id, else the key's did:key.
      iss: flags.iss ?? agentId ?? didKeyOf(signing.privateKey) ?? signing.kid,
      claims: flags.claim?.length ? parseClaims(flags.claim) : {},
      body,
    })
    await this.outFlushed(token)
    this.info(
      `signed for ${body === undefined ? 'no body' : `${anBefore(body.length)} ${body.length}-byte body`} (kid ${signing.kid}, valid 60s)`,
    )
    return { token }
  }
}

/** "a" or "an" before a number as it is read out: an 8, an 11, an 18, an 80, an 11000, but a 110. */
function anBefore(n: number): string {
  const digits = String(n)
  const lead = digits.slice(0, ((digits.length - 1) % 3) + 1)
  return digits.startsWith('8') || lead === '11' || lead === '18' ? 'an' : 'a'
}
