import { Args, Flags } from '@oclif/core'

import { BaseCommand } from '../../base-command.js'
import { trustDirFlag } from '../../flags.js'
import { CapiscioError } from '../../lib/errors.js'
import { isDidKey } from '../../lib/keys/didkey.js'
import { addTrustedKeys } from '../../lib/store/trust-add.js'
import { TrustStore, type AddResult } from '../../lib/store/truststore.js'

export default class TrustAdd extends BaseCommand<typeof TrustAdd> {
  static override description = "add a partner's public key (JWK, JWKS, PEM or did:key) to the trust store"
  static override examples = [
    '<%= config.bin %> <%= command.id %> partner/public.jwk',
    '<%= config.bin %> <%= command.id %> did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK',
    '<%= config.bin %> <%= command.id %> partner.pem --kid partner-2026 --issuer https://partner.example.com',
    'cat jwks.json | <%= config.bin %> <%= command.id %> -',
  ]
  static override args = {
    source: Args.string({ description: "a key file, a did:key, or '-' for standard input", required: true }),
  }
  static override flags = {
    issuer: Flags.string({ description: 'map this issuer (DID or https origin) to the key in issuers.json' }),
    kid: Flags.string({
      description: "store the key under this id [default: the key's kid, its did:key, or thumbprint]",
    }),
    'trust-dir': trustDirFlag,
  }

  async run(): Promise<{ trustDir: string; added: AddResult[] }> {
    const { source } = this.args
    if (/^https?:\/\//i.test(source)) {
      throw new CapiscioError('USAGE', 'adding keys from a JWKS URL is not available yet', {
        hint: 'download the JWKS and add the file, or pipe it in with -',
      })
    }
    const text = source === '-' || !isDidKey(source) ? await this.readInputFile(source) : source
    const trustDir = await this.trustDir(this.flags['trust-dir'])
    const added = await addTrustedKeys(new TrustStore(trustDir), text, {
      kid: this.flags.kid,
      issuer: this.flags.issuer,
    })
    for (const a of added) {
      this.out(a.kid)
      this.note(a.replaced ? `replaced the trusted key ${a.kid} (same kid)` : `trusted ${a.kid}`)
    }
    if (this.flags.issuer) this.info(`  issuer ${this.flags.issuer} → ${added.map((a) => a.kid).join(', ')}`)
    return { trustDir, added }
  }
}
