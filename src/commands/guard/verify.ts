import { join } from 'node:path'

import { Args, Flags } from '@oclif/core'

import { BaseCommand, type Refusal } from '../../base-command.js'
import { printable } from '../../cli-errors.js'
import { trustDirFlag } from '../../flags.js'
import { CapiscioError } from '../../lib/errors.js'
import { verifyGuardToken, type GuardClaims } from '../../lib/guard/token.js'
import { TrustStoreKeySource } from '../../lib/keysource/truststore.js'
import { KEY_FILES } from '../../lib/store/keydir.js'
import { TrustStore } from '../../lib/store/truststore.js'

export default class GuardVerify extends BaseCommand<typeof GuardVerify> {
  static override description =
    'verify a SimpleGuard token over a request body: exit 0 when valid, 3 with a GUARD_* code when not'
  static override examples = [
    '<%= config.bin %> <%= command.id %> "$TOKEN" --body-file req.json --trust-dir capiscio_keys/trusted',
  ]
  static override args = {
    token: Args.string({
      ignoreStdin: true,
      description: "the token, a file holding it, or '-' for standard input",
      required: true,
    }),
  }
  static override jsonFailure = { valid: false }
  static override flags = {
    'body-file': Flags.string({
      description: "the exact body bytes the token must cover (a file, or '-') [default: no body]",
      helpValue: 'FILE',
    }),
    'trust-dir': trustDirFlag,
  }

  async run(): Promise<{ valid: true; kid: string; claims: GuardClaims } | Refusal> {
    const { flags } = this
    if (this.args.token === '-' && flags['body-file'] === '-')
      throw new CapiscioError('USAGE', 'the token and --body-file cannot both come from standard input')
    const token = (await this.readTokenArg(this.args.token)).trim()
    const body = flags['body-file'] === undefined ? undefined : await this.readBody(flags['body-file'])
    // Named (flag, CAPISCIO_TRUST_DIR, config): it must exist. Else the project's, as SimpleGuard finds it.
    const named = (await this.setting('trustDir', flags['trust-dir'])) !== undefined
    const trustDir = named
      ? await this.trustDir(flags['trust-dir'], { mustExist: true })
      : join((await this.guardKeyDir()).keyDir, KEY_FILES.trustDir)
    const keys = new TrustStoreKeySource(new TrustStore(trustDir))
    try {
      const { claims, kid } = await verifyGuardToken(token, body, { keys })
      this.out(
        `valid SimpleGuard token\nissuer  ${printable(String(claims.iss ?? '(none)'))}\nkid     ${printable(kid)}`,
      )
      return { valid: true, kid, claims }
    } catch (err) {
      if (!(err instanceof CapiscioError) || !err.code.startsWith('GUARD_')) throw err
      return this.refuse(err, 'token')
    }
  }
}
