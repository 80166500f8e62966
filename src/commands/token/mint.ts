import { Flags } from '@oclif/core'

import { unsafeIdentity } from '../../lib/gateway/headers.js'
import { BaseCommand } from '../../base-command.js'
import { passphraseFileFlag } from '../../flags.js'
import {
  commaList,
  parseClaims,
  SECRET_FLAG_WARNING,
  secretFileFlag,
  secretFlag,
  secretFromFlags,
} from '../../token-flags.js'
import { formatSpan, parseDuration } from '../../lib/duration.js'
import { CapiscioError } from '../../lib/errors.js'
import { HMAC_ALGS } from '../../lib/token/algs.js'
import { mintToken, type MintedToken, type MintTokenOptions } from '../../lib/token/mint.js'
import { readSigningKey } from '../../lib/store/keydir.js'
import { SECRET_ENV } from '../../lib/auth/jwt.js'

export default class TokenMint extends BaseCommand<typeof TokenMint> {
  static override description =
    'mint a bearer JWT for a service that verifies tokens (HS256/384/512 with a shared secret, or RS256/ES256/EdDSA with a key); stdout carries only the token'
  static override examples = [
    'TOKEN=$(<%= config.bin %> <%= command.id %> --sub billing-service --type service --role admin --secret-file ./jwt.secret)',
    'CAPISCIO_JWT_SECRET="$(cat jwt.secret)" <%= config.bin %> <%= command.id %> --sub alice --aud https://agent.example.com --ttl 15m',
    '<%= config.bin %> <%= command.id %> --sub ci-bot --key capiscio_keys/private.jwk --claim \'tenant="acme"\' --claim \'scopes=["read","write"]\' --json',
  ]
  static override flags = {
    sub: Flags.string({ description: 'subject: who the token speaks for', required: true }),
    type: Flags.string({ description: 'identity type (claim "type"), e.g. user or service' }),
    role: Flags.string({
      description: 'a role (claim "roles"; repeat the flag or give a comma list)',
      multiple: true,
      helpValue: 'ROLE',
    }),
    claim: Flags.string({
      description: 'an extra claim NAME=JSON (repeatable), e.g. tier=\'"gold"\' or n=3',
      multiple: true,
      helpValue: 'NAME=JSON',
    }),
    aud: Flags.string({
      description: 'audience (repeat the flag or give a comma list)',
      multiple: true,
      helpValue: 'AUD',
    }),
    iss: Flags.string({ description: 'issuer (claim "iss")' }),
    ttl: Flags.string({ description: 'lifetime: 300, 90s, 15m, 1h [default: 1h]' }),
    jti: Flags.string({ description: 'token id [default: a random UUID]' }),
    kid: Flags.string({ description: "key id for the header [default with --key: the key's kid]" }),
    alg: Flags.string({
      description: 'HMAC algorithm for a secret [default: HS256]; a key signs with its own',
      options: [...HMAC_ALGS],
    }),
    'secret-file': secretFileFlag,
    secret: secretFlag,
    key: Flags.string({
      description: 'sign with a private key instead (Ed25519, P-256 or RSA): a JWK, PEM or key directory',
      helpValue: 'FILE',
    }),
    'passphrase-file': passphraseFileFlag,
  }

  async run(): Promise<MintedToken> {
    const { flags } = this
    const options: MintTokenOptions = { sub: flags.sub }
    if (flags.key !== undefined) {
      if (flags['secret-file'] !== undefined || flags.secret !== undefined)
        throw new CapiscioError('USAGE', 'choose one: --key or a secret, not both')
      if (flags.alg !== undefined)
        throw new CapiscioError('USAGE', `--alg picks an HMAC algorithm; a key signs with its own`, {
          hint: 'drop --alg: an Ed25519 key signs EdDSA, P-256 ES256, RSA RS256',
        })
      const signing = await readSigningKey(flags.key, {
        passphrase: await this.passphraseSource(flags['passphrase-file']),
      })
      options.privateKey = signing.privateKey
      options.kid = signing.kid
    } else {
      if (flags.secret !== undefined) this.warnLine(SECRET_FLAG_WARNING)
      const chosen = await secretFromFlags(flags['secret-file'], flags.secret)
      if (!chosen)
        throw new CapiscioError('USAGE', 'no signing key: give --secret-file FILE or --key FILE', {
          hint: `or set ${SECRET_ENV.join(' or ')}; make a secret with: openssl rand -base64 48 > jwt.secret`,
        })
      options.secret = chosen.secret
      if (flags.alg !== undefined) options.alg = flags.alg as MintTokenOptions['alg']
    }
    if (flags.kid !== undefined) options.kid = flags.kid
    if (flags.type !== undefined) options.type = flags.type
    const roles = commaList(flags.role, '--role')
    if (roles) options.roles = roles
    if (flags.claim?.length) options.claims = parseClaims(flags.claim)
    const aud = commaList(flags.aud, '--aud')
    if (aud) options.aud = aud
    if (flags.iss !== undefined) options.iss = flags.iss
    if (flags.ttl !== undefined) options.ttlSeconds = parseDuration(flags.ttl, '--ttl')
    if (flags.jti !== undefined) options.jti = flags.jti

    const minted = mintToken(options)
    // A JWT may carry any subject, but the gateway passes the identity on in headers, and refuses
    // (403) one that cannot travel there: said now, not at the first request.
    const unsafe = unsafeIdentity({
      subject: options.sub,
      issuer: options.iss ?? '',
      jti: String(minted.claims.jti),
      type: options.type,
      roles: options.roles,
    })
    if (unsafe) this.warnLine(`capiscio gateway start --verify jwt will refuse this token: ${unsafe}`)
    await this.outFlushed(minted.token)
    const ttl = (minted.claims.exp as number) - (minted.claims.iat as number)
    this.info(`minted an ${minted.header.alg} token for ${flags.sub}, valid for ${formatSpan(ttl)}`)
    return minted
  }
}
