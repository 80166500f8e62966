import { Args, Flags } from '@oclif/core'

import { BaseCommand } from '../../base-command.js'
import { trustDirFlag } from '../../flags.js'
import { checkFetchUrl, fetchJson } from '../../lib/net/fetch-json.js'
import { isDidKey } from '../../lib/keys/didkey.js'
import { issuerOfJwksUrl } from '../../lib/keysource/jwks.js'
import { addTrustedKeys } from '../../lib/store/trust-add.js'
import { TrustStore, type AddResult } from '../../lib/store/truststore.js'

export default class TrustAdd extends BaseCommand<typeof TrustAdd> {
  static override description =
    "add a partner's public keys (a JWK, JWKS or PEM file, a did:key, or an https JWKS URL) to the trust store"
  static override examples = [
    '<%= config.bin %> <%= command.id %> partner/public.jwk',
    '<%= config.bin %> <%= command.id %> did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK',
    '<%= config.bin %> <%= command.id %> partner/public.jwk --issuer https://partner.example.com',
    '<%= config.bin %> <%= command.id %> partner.pem --kid partner-2026 --issuer https://partner.example.com --issuer did:web:partner.example.com',
    '<%= config.bin %> <%= command.id %> https://registry.example.com/.well-known/jwks.json',
    'cat jwks.json | <%= config.bin %> <%= command.id %> -',
  ]
  static override args = {
    source: Args.string({
      ignoreStdin: true,
      description: "a key file, a did:key, an https JWKS URL, or '-' for standard input",
      required: true,
    }),
  }
  static override flags = {
    issuer: Flags.string({
      description:
        'an issuer (DID or https origin) the keys may sign for; repeatable. Without it a key signs only as its own did:key or kid [default for a URL: the URL minus /.well-known/jwks.json]',
      multiple: true,
    }),
    'max-level': Flags.integer({
      description: 'the highest badge level (0-4) these keys may vouch for; a badge above it is refused',
      min: 0,
      max: 4,
    }),
    kid: Flags.string({
      description: "store the key under this id [default: the key's kid, its did:key, or thumbprint]",
    }),
    'trust-dir': trustDirFlag,
  }

  async run(): Promise<{ trustDir: string; added: AddResult[] }> {
    const { source } = this.args
    let text: string
    let issuers = this.flags.issuer ?? []
    if (/^https?:\/\//i.test(source)) {
      const url = checkFetchUrl(source)
      text = JSON.stringify(await fetchJson(url))
      const own = issuerOfJwksUrl(url)
      if (issuers.length === 0 && own !== undefined) issuers = [own]
    } else {
      text = source === '-' || !isDidKey(source) ? await this.readInputFile(source) : source
    }
    const trustDir = await this.trustDir(this.flags['trust-dir'])
    const added = await addTrustedKeys(new TrustStore(trustDir), text, {
      kid: this.flags.kid,
      issuers,
      maxLevel: this.flags['max-level'],
    })
    for (const a of added) {
      this.out(a.kid)
      this.note(a.replaced ? `replaced the trusted key ${a.kid} (same kid)` : `trusted ${a.kid}`)
    }
    const upTo = this.flags['max-level'] === undefined ? '' : ` up to level ${this.flags['max-level']}`
    // One line for the whole set: every key added is bound alike (indented under one key, it read as that key's alone).
    const keys =
      added.length === 1 ? 'the key' : added.length === 2 ? 'both keys' : `all ${added.length} keys`
    if (issuers.length) this.info(`${keys} may sign for ${issuers.join(', ')}${upTo}`)
    else
      this.info(
        `${keys} may sign only as ${added.length === 1 ? 'its' : 'their'} own did:key or kid${upTo}; add --issuer to let ${added.length === 1 ? 'it' : 'them'} sign for an issuer`,
      )
    return { trustDir, added }
  }
}
