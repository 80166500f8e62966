import { Args } from '@oclif/core'

import { BaseCommand } from '../../base-command.js'
import { passphraseFileFlag } from '../../flags.js'
import { describeKey, type KeyDescription } from '../../lib/keys/describe.js'
import { readKeyFrom } from '../../lib/store/keydir.js'

export default class KeyShow extends BaseCommand<typeof KeyShow> {
  static override description =
    'show the kid, algorithm, did:key, RFC 7638 thumbprint and public JWK of a key'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> capiscio_keys/public.jwk',
    '<%= config.bin %> <%= command.id %> partner.pem --json',
  ]
  static override args = {
    path: Args.string({
      description: 'a key directory or any key file (JWK, JWKS, PEM, did.txt) [default: capiscio_keys]',
    }),
  }
  static override flags = {
    'passphrase-file': passphraseFileFlag,
  }

  async run(): Promise<KeyDescription> {
    const path = this.args.path ?? (await this.setting('keyDir', undefined))!
    const key = await readKeyFrom(path, {
      prefer: 'public',
      passphrase: await this.passphraseSource(this.flags['passphrase-file']),
    })
    const d = await describeKey(key)
    this.out(`kid         ${d.kid}`)
    this.out(`alg         ${d.alg}`)
    if (d.did) this.out(`did         ${d.did}`)
    this.out(`thumbprint  ${d.thumbprint}`)
    this.out(`private     ${d.private ? 'yes' : 'no'}`)
    this.out(`public JWK  ${JSON.stringify(d.publicJwk)}`)
    return d
  }
}
