import { Args } from '@oclif/core'

import { BaseCommand } from '../../base-command.js'
import { passphraseFileFlag } from '../../flags.js'
import { describeKey, type KeyDescription } from '../../lib/keys/describe.js'
import { isDidKey } from '../../lib/keys/didkey.js'
import { parseKey } from '../../lib/keys/parse.js'
import { kidBeside, readKeyFrom } from '../../lib/store/keydir.js'

export default class KeyShow extends BaseCommand<typeof KeyShow> {
  static override description =
    'show the kid, algorithm, did:key, RFC 7638 thumbprint and public JWK of a key'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> capiscio_keys/public.jwk',
    '<%= config.bin %> <%= command.id %> partner.pem --json',
    '<%= config.bin %> <%= command.id %> did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK',
    'cat public.jwk | <%= config.bin %> <%= command.id %> -',
  ]
  static override args = {
    path: Args.string({
      ignoreStdin: true,
      description:
        "a key directory, any key file (JWK, JWKS, PEM, did.txt), a did:key, or '-' for standard input [default: capiscio_keys]",
    }),
  }
  static override flags = {
    'passphrase-file': passphraseFileFlag,
  }

  async run(): Promise<KeyDescription> {
    const path = this.args.path ?? (await this.setting('keyDir', undefined))!
    const passphrase = await this.passphraseSource(this.flags['passphrase-file'])
    // Like `badge verify`: '-' reads stdin, and a did:key is the key itself.
    const fromFile = !(path === '-' || isDidKey(path))
    const key = fromFile
      ? await readKeyFrom(path, { prefer: 'public', passphrase })
      : await parseKey(path === '-' ? await this.readInputFile('-') : path, { passphrase })
    // A PEM's kid is the one key gen wrote beside it, as the signing commands read it.
    if (fromFile && key.kid === undefined) key.kid = await kidBeside(path, key)
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
