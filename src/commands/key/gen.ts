import { Flags } from '@oclif/core'

import { BaseCommand } from '../../base-command.js'
import { passphraseFileFlag } from '../../flags.js'
import { generateKey, isKeyAlg } from '../../lib/keys/generate.js'
import { KEY_ALGS, KEY_NAMES } from '../../lib/keys/key.js'
import { assertNoPrivateKey, writeKeyDir, type KeyDirFiles } from '../../lib/store/keydir.js'
import { assertValidKid } from '../../lib/store/truststore.js'
import { CapiscioError } from '../../lib/errors.js'

export default class KeyGen extends BaseCommand<typeof KeyGen> {
  static override description =
    'generate a signing key pair: private/public JWK and PEM files, did.txt for Ed25519, and an empty trust store'
  static override examples = [
    '<%= config.bin %> <%= command.id %> --out capiscio_keys/',
    '<%= config.bin %> <%= command.id %> --alg ES256 --kid partner-2026 --out keys/',
    'CAPISCIO_KEY_PASSPHRASE=… <%= config.bin %> <%= command.id %> --out keys/ --force',
  ]
  static override flags = {
    alg: Flags.string({ description: 'signing algorithm [default: EdDSA]', options: [...KEY_ALGS] }),
    encrypt: Flags.boolean({
      description: 'ask for a passphrase on the terminal and store the key encrypted',
    }),
    force: Flags.boolean({ description: 'replace an existing private key' }),
    kid: Flags.string({
      description: 'key id [default: the did:key for Ed25519, else the RFC 7638 thumbprint]',
    }),
    out: Flags.string({
      description: 'directory for the key files [default: capiscio_keys]',
      helpValue: 'DIR',
    }),
    'passphrase-file': passphraseFileFlag,
  }

  async run(): Promise<{ kid: string; did?: string; alg: string; encrypted: boolean; files: KeyDirFiles }> {
    const { flags } = this
    const dir = (await this.setting('keyDir', flags.out))!
    const alg = (await this.setting('alg', flags.alg))!
    if (!isKeyAlg(alg))
      throw new CapiscioError('USAGE', `unknown algorithm ${alg}; choose one of ${KEY_ALGS.join(', ')}`)
    if (flags.kid !== undefined) assertValidKid(flags.kid)
    if (!flags.force) await assertNoPrivateKey(dir)

    let passphrase = await this.passphraseFromFlags(flags['passphrase-file'])
    if (passphrase === undefined && flags.encrypt) {
      passphrase = await this.promptSecret('Passphrase for the new private key', '--passphrase-file', true)
    }
    const key = await generateKey(alg, flags.kid)
    const files = await writeKeyDir(dir, key, { force: flags.force, passphrase })

    this.out(`kid  ${key.kid}`)
    if (key.did) this.out(`did  ${key.did}`)
    this.out(`alg  ${key.alg}`)
    this.note(`wrote ${KEY_NAMES[key.alg]} key pair to ${dir}${passphrase ? ' (private key encrypted)' : ''}`)
    for (const path of Object.values(files)) this.info(`  ${path}`)
    if (key.alg === 'RS256')
      this.warnLine(
        'RS256 keys sign tokens for services, not badges: badges are signed with EdDSA or ES256 keys',
      )

    const result = { kid: key.kid, alg: key.alg, encrypted: passphrase !== undefined, files }
    return key.did ? { ...result, did: key.did } : result
  }
}
