import { Args } from '@oclif/core'

import { BaseCommand } from '../../base-command.js'
import { trustDirFlag } from '../../flags.js'
import { CapiscioError } from '../../lib/errors.js'
import { TrustStore } from '../../lib/store/truststore.js'

export default class TrustRemove extends BaseCommand<typeof TrustRemove> {
  static override description = 'remove a public key (and its issuer mappings) from the trust store'
  static override examples = [
    '<%= config.bin %> <%= command.id %> did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK',
  ]
  static override checksEmpty = ['kid']
  static override args = {
    kid: Args.string({
      ignoreStdin: true,
      description: 'the key id, as `trust list` shows it',
      required: true,
    }),
  }
  static override flags = {
    'trust-dir': trustDirFlag,
  }

  async run(): Promise<{ kid: string; files: string[] }> {
    if (this.args.kid === '')
      throw new CapiscioError('USAGE', 'the key id is empty', {
        hint: '`capiscio trust list` shows the key ids',
      })
    const store = new TrustStore(await this.trustDir(this.flags['trust-dir']))
    const removed = await store.remove(this.args.kid)
    this.note(`removed the trusted key ${removed.kid}`)
    return removed
  }
}
