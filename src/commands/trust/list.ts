import { BaseCommand } from '../../base-command.js'
import { trustDirFlag } from '../../flags.js'
import { TrustStore, type TrustedKeyInfo } from '../../lib/store/truststore.js'
import { renderTable } from '../../table.js'

export default class TrustList extends BaseCommand<typeof TrustList> {
  static override description = 'list the public keys in the trust store'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --trust-dir ./trusted --json',
  ]
  static override flags = {
    'trust-dir': trustDirFlag,
  }

  async run(): Promise<{ trustDir: string; keys: TrustedKeyInfo[] }> {
    // A store named outright that is not there is a typo; the default one, not made yet.
    const trustDir = await this.trustDir(this.flags['trust-dir'], {
      mustExist: true,
      hint: 'check the path, or add a key first: capiscio trust add KEY --trust-dir DIR',
    })
    const keys = await new TrustStore(trustDir).list()
    if (keys.length === 0) {
      this.info(`no trusted keys in ${trustDir}`)
    } else {
      this.out(
        renderTable(
          ['KID', 'ALG', 'ISSUERS', 'THUMBPRINT'],
          keys.map((k) => [k.kid, k.alg, k.issuers.join(',') || '-', k.thumbprint]),
        ),
      )
    }
    return { trustDir, keys }
  }
}
