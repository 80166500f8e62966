import { stat } from 'node:fs/promises'

import { Args, Flags } from '@oclif/core'

import { BaseCommand, type Refusal } from '../../base-command.js'
import { printable } from '../../cli-errors.js'
import { trustDirFlag } from '../../flags.js'
import {
  commaList,
  SECRET_FLAG_WARNING,
  secretFileFlag,
  secretFlag,
  secretFromFlags,
} from '../../token-flags.js'
import { SECRET_ENV } from '../../lib/auth/jwt.js'
import { claimMapper, type ClaimMapping, type Identity } from '../../lib/auth/identity.js'
import { parseDuration } from '../../lib/duration.js'
import { settingOrigin } from '../../lib/config.js'
import { CapiscioError } from '../../lib/errors.js'
import { fsError } from '../../lib/io.js'
import { keySourceFrom, requireReachable, StaticKeySource } from '../../lib/keysource/index.js'
import { privateKeyWarning } from '../../lib/keysource/private-warning.js'
import { TOKEN_ALGS, type TokenAlg } from '../../lib/token/algs.js'
import { createTokenVerifier, type VerifyTokenOptions } from '../../lib/token/verify.js'

export default class TokenVerify extends BaseCommand<typeof TokenVerify> {
  static override description =
    'verify a bearer JWT and print the identity it carries: exit 0 when valid, 3 with a TOKEN_* code when not, 4 when the key source cannot be reached'
  static override examples = [
    '<%= config.bin %> <%= command.id %> "$TOKEN" --secret-file ./jwt.secret',
    '<%= config.bin %> <%= command.id %> token.jwt --jwks https://idp.example.com/.well-known/jwks.json --iss https://idp.example.com --aud https://agent.example.com',
    'echo "$TOKEN" | CAPISCIO_JWT_SECRET="$(cat jwt.secret)" <%= config.bin %> <%= command.id %> - --json',
  ]
  static override args = {
    token: Args.string({
      ignoreStdin: true,
      description: "the token, a file holding it, or '-' for standard input",
      required: true,
    }),
  }
  static override jsonFailure = { valid: false }
  static override optionFlags = { issuer: '--iss', issuers: '--iss', audience: '--aud' }
  static override flags = {
    'secret-file': secretFileFlag,
    secret: secretFlag,
    key: Flags.string({ description: 'public key file: JWK, JWKS or PEM', helpValue: 'FILE' }),
    jwks: Flags.string({
      description: 'keys from a JWKS URL (https, or http on loopback) or a JWKS file',
      helpValue: 'URL|FILE',
    }),
    'trust-dir': trustDirFlag,
    alg: Flags.string({
      description: "allowed algorithm (repeatable) [default: those the key's type signs]",
      multiple: true,
      options: [...TOKEN_ALGS],
    }),
    aud: Flags.string({
      description: "this verifier's identity (repeatable); the token's aud must include one",
      multiple: true,
      helpValue: 'AUD',
    }),
    iss: Flags.string({ description: 'expected issuer (repeatable)', multiple: true, helpValue: 'ISS' }),
    'require-claim': Flags.string({
      description: 'a claim the token must carry (repeatable) [default: sub]',
      multiple: true,
      helpValue: 'NAME',
    }),
    'clock-skew': Flags.string({ description: 'tolerated clock difference [default: 60s]' }),
    'max-age': Flags.string({ description: 'refuse tokens issued longer ago than this (e.g. 10m)' }),
    'id-claim': Flags.string({
      description: 'claim holding the identity id [default: sub]',
      helpValue: 'NAME',
    }),
    'type-claim': Flags.string({
      description: 'claim holding the identity type [default: type]',
      helpValue: 'NAME',
    }),
    'roles-claim': Flags.string({
      description: 'claim holding the roles [default: roles]',
      helpValue: 'NAME',
    }),
    'attr-claim': Flags.string({
      description: 'a claim copied into attrs (repeatable) [default: none]',
      multiple: true,
      helpValue: 'NAME',
    }),
  }

  /**
   * With no key source given and no shared secret in the environment: the trust store its --help
   * names as the default (CAPISCIO_TRUST_DIR, config trustDir, or <key dir>/trusted), as badge and
   * guard verify use it. One set by variable or config must exist; the implicit one is used only if
   * it does (else the "no key" error says what to give).
   */
  private async defaultTrustDir(): Promise<string | undefined> {
    if (SECRET_ENV.some((name) => process.env[name])) return undefined
    const configured = settingOrigin('trustDir', undefined, await this.config_()) !== undefined
    if (configured) return this.trustDir(undefined, { mustExist: true })
    const implicit = await this.trustDir(undefined)
    const info = await stat(implicit).catch(() => undefined)
    return info?.isDirectory() ? implicit : undefined
  }

  async run(): Promise<Identity | Refusal> {
    const { flags } = this
    if (flags['secret-file'] === '-' && this.args.token === '-')
      throw new CapiscioError('USAGE', 'the token and --secret-file cannot both come from standard input')
    const token = (await this.readTokenArg(this.args.token)).trim()

    const options: VerifyTokenOptions = {}
    const sources = (['key', 'jwks', 'trust-dir', 'secret-file', 'secret'] as const).filter(
      (f) => flags[f] !== undefined,
    )
    if (sources.length > 1)
      throw new CapiscioError(
        'USAGE',
        `choose one key source, not ${sources.map((f) => '--' + f).join(' and ')}`,
      )
    const dir = flags['trust-dir']
    if (dir !== undefined)
      await stat(dir).catch((e: unknown) => {
        throw fsError(e, dir)
      })
    const issuers = commaList(flags.iss, '--iss')
    const trustDir = dir ?? (sources.length === 0 ? await this.defaultTrustDir() : undefined)
    const keys = await keySourceFrom({ key: flags.key, jwks: flags.jwks, trustDir, issuers })
    if (keys) {
      if (keys instanceof StaticKeySource && keys.heldPrivateKey)
        this.warnLine(privateKeyWarning((flags.key ?? flags.jwks)!))
      options.keys = keys
    } else {
      if (flags.secret !== undefined) this.warnLine(SECRET_FLAG_WARNING)
      const chosen = await secretFromFlags(flags['secret-file'], flags.secret)
      if (!chosen)
        throw new CapiscioError(
          'USAGE',
          'no key to verify with: give --secret-file, --key, --jwks or --trust-dir',
          {
            hint: `or set ${SECRET_ENV.join(' or ')}`,
          },
        )
      options.secret = chosen.secret
    }
    if (flags.alg?.length) options.algorithms = flags.alg as TokenAlg[]
    const aud = commaList(flags.aud, '--aud')
    if (aud) options.audience = aud
    if (issuers) options.issuer = issuers
    if (flags['require-claim']?.length)
      options.requiredClaims = commaList(flags['require-claim'], '--require-claim')
    if (flags['clock-skew'] !== undefined)
      options.clockSkewSeconds = parseDuration(flags['clock-skew'], '--clock-skew')
    if (flags['max-age'] !== undefined) options.maxAgeSeconds = parseDuration(flags['max-age'], '--max-age')
    const mapping: ClaimMapping = {}
    if (flags['id-claim'] !== undefined) mapping.idClaim = flags['id-claim']
    if (flags['type-claim'] !== undefined) mapping.typeClaim = flags['type-claim']
    if (flags['roles-claim'] !== undefined) mapping.rolesClaim = flags['roles-claim']
    if (flags['attr-claim']?.length) mapping.attrsClaims = commaList(flags['attr-claim'], '--attr-claim')

    // The options are checked (and a weak secret refused, exit 2) before the token is looked at.
    const verify = createTokenVerifier(options)
    await requireReachable(options.keys)
    let verified
    try {
      verified = await verify(token)
    } catch (err) {
      if (!(err instanceof CapiscioError) || !err.code.startsWith('TOKEN_')) throw err
      return this.refuse(err, 'token')
    }
    const identity = claimMapper(mapping)(verified.claims)
    if (!identity) {
      const idClaim = mapping.idClaim ?? 'sub'
      return this.refuse(
        new CapiscioError(
          'TOKEN_CLAIMS_INVALID',
          `the ${idClaim} claim is missing, empty or not a string or number`,
        ),
        'token',
      )
    }
    this.out(`valid ${verified.alg} token`)
    this.out(`id       ${printable(identity.id)}`)
    this.out(`type     ${printable(identity.type)}`)
    if (identity.roles.length > 0) this.out(`roles    ${printable(identity.roles.join(', '))}`)
    for (const [name, value] of Object.entries(identity.attrs))
      this.out(`attr     ${printable(name)}=${JSON.stringify(value)}`)
    const exp = verified.claims.exp
    if (typeof exp === 'number') this.out(`expires  ${new Date(exp * 1000).toISOString()}`)
    // --json prints the Identity itself, as getIdentity() returns it in a service.
    return { id: identity.id, type: identity.type, roles: [...identity.roles], attrs: { ...identity.attrs } }
  }
}
