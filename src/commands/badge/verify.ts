import { stat } from 'node:fs/promises'

import { Args, Flags } from '@oclif/core'

import { BaseCommand, type Refusal } from '../../base-command.js'
import { printable } from '../../cli-errors.js'
import { trustDirFlag } from '../../flags.js'
import { verifyBadge, type VerificationResult } from '../../lib/badge/verify.js'
import { formatSpan } from '../../lib/duration.js'
import { CapiscioError } from '../../lib/errors.js'
import { fsError } from '../../lib/io.js'
import { keySourceFrom, requireReachable, StaticKeySource } from '../../lib/keysource/index.js'
import { privateKeyWarning } from '../../lib/keysource/private-warning.js'
import { verifierFlags, verifyOptionsFromFlags } from '../../verify-flags.js'

export default class BadgeVerify extends BaseCommand<typeof BadgeVerify> {
  static override description = 'verify a trust badge: exit 0 when valid, 3 with a BADGE_* code when not'
  static override examples = [
    '<%= config.bin %> <%= command.id %> "$BADGE" --key partner/public.jwk',
    '<%= config.bin %> <%= command.id %> badge.jwt --jwks https://registry.example.com/.well-known/jwks.json --issuer https://registry.example.com',
    'echo "$BADGE" | <%= config.bin %> <%= command.id %> - --accept-self-signed --json',
  ]
  static override args = {
    token: Args.string({
      ignoreStdin: true,
      description: "the badge, a file holding it, or '-' for standard input",
      required: true,
    }),
  }
  static override jsonFailure = { valid: false }
  static override flags = {
    ...verifierFlags,
    jwks: Flags.string({
      description: 'trusted keys from a JWKS URL (https, or http on loopback)',
      helpValue: 'URL',
    }),
    key: Flags.string({ description: 'trusted public key file: JWK, JWKS or PEM', helpValue: 'FILE' }),
    'max-age': Flags.string({ description: 'refuse badges issued longer ago than this (e.g. 10m)' }),
    'trust-dir': trustDirFlag,
  }

  async run(): Promise<VerificationResult | Refusal> {
    const { flags } = this
    const token = (await this.readTokenArg(this.args.token)).trim()
    const options = verifyOptionsFromFlags(flags)
    const explicit = flags.key !== undefined || flags.jwks !== undefined || flags['trust-dir'] !== undefined
    // With no key source named, the default trust store is used, unless only self-signed badges are wanted.
    const trustDir =
      explicit || flags['accept-self-signed']
        ? flags['trust-dir']
        : await this.trustDir(undefined, { mustExist: true })
    // A trust store named outright must exist: an empty one would refuse every badge as untrusted.
    const dir = flags['trust-dir']
    if (dir !== undefined)
      await stat(dir).catch((e: unknown) => {
        throw fsError(e, dir)
      })
    const keys = await keySourceFrom({ key: flags.key, jwks: flags.jwks, trustDir, issuers: options.issuers })
    if (keys instanceof StaticKeySource && keys.heldPrivateKey)
      this.warnLine(privateKeyWarning((flags.key ?? flags.jwks)!))
    await requireReachable(keys)
    let result: VerificationResult
    try {
      result = await verifyBadge(token, { ...options, keys })
    } catch (err) {
      if (!(err instanceof CapiscioError) || !err.code.startsWith('BADGE_')) throw err
      return this.refuse(err, 'badge')
    }
    const { claims } = result
    const left = claims.exp - Date.now() / 1000
    this.out(`valid badge${result.selfSigned ? ' (self-signed)' : ''}`)
    this.out(`subject  ${claims.sub}`)
    this.out(`issuer   ${claims.iss}`)
    this.out(`level    ${result.trustLevel}`)
    if (claims.vc.credentialSubject.domain)
      this.out(`domain   ${printable(claims.vc.credentialSubject.domain)}`)
    this.out(
      `expires  ${new Date(claims.exp * 1000).toISOString()} (${left >= 0 ? `in ${formatSpan(left)}` : `${formatSpan(-left)} ago`})`,
    )
    if (left < 0) {
      const skew = options.clockSkewSeconds ?? 60
      this.warnLine(`expired ${formatSpan(-left)} ago (accepted within the ${skew}s clock skew)`)
    }
    for (const w of result.warnings) this.warnLine(w)
    return result
  }
}
