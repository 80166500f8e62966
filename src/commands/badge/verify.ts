import { stat } from 'node:fs/promises'

import { Args, Flags } from '@oclif/core'

import { BaseCommand, forCli } from '../../base-command.js'
import { trustDirFlag } from '../../flags.js'
import { verifyBadge, type VerificationResult } from '../../lib/badge/verify.js'
import { formatSpan } from '../../lib/duration.js'
import { CapiscioError } from '../../lib/errors.js'
import { fsError } from '../../lib/io.js'
import { keySourceFrom, RemoteJwksKeySource, StaticKeySource } from '../../lib/keysource/index.js'
import { privateKeyWarning } from '../../lib/keysource/private-warning.js'
import { redactUrl } from '../../lib/net/redact.js'
import { verifierFlags, verifyOptionsFromFlags } from '../../verify-flags.js'

type Failure = { valid: false; error: ReturnType<CapiscioError['toJSON']> }

export default class BadgeVerify extends BaseCommand<typeof BadgeVerify> {
  static override description = 'verify a trust badge: exit 0 when valid, 3 with a BADGE_* code when not'
  static override examples = [
    '<%= config.bin %> <%= command.id %> "$BADGE" --key partner/public.jwk',
    '<%= config.bin %> <%= command.id %> badge.jwt --jwks https://registry.example.com/.well-known/jwks.json --issuer https://registry.example.com',
    'echo "$BADGE" | <%= config.bin %> <%= command.id %> - --accept-self-signed --json',
  ]
  static override args = {
    token: Args.string({
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

  async run(): Promise<VerificationResult | Failure> {
    const { flags } = this
    const token = (await this.readTokenArg(this.args.token)).trim()
    const options = verifyOptionsFromFlags(flags)
    const explicit = flags.key !== undefined || flags.jwks !== undefined || flags['trust-dir'] !== undefined
    // With no key source named, the default trust store is used, unless only self-signed badges are wanted.
    const trustDir =
      explicit || flags['accept-self-signed'] ? flags['trust-dir'] : await this.trustDir(undefined)
    // A trust store named outright must exist: an empty one would refuse every badge as untrusted.
    const dir = flags['trust-dir']
    if (dir !== undefined)
      await stat(dir).catch((e: unknown) => {
        throw fsError(e, dir)
      })
    const keys = await keySourceFrom({ key: flags.key, jwks: flags.jwks, trustDir, issuers: options.issuers })
    if (keys instanceof StaticKeySource && keys.heldPrivateKey) this.warnLine(privateKeyWarning(flags.key!))
    // An unreachable registry is an outage (exit 4), not an untrusted badge (exit 3): fetch first.
    if (keys instanceof RemoteJwksKeySource) {
      await keys.refresh()
      if (!keys.ready()) {
        // Every message names the (redacted) URL, also "the JWKS has no keys array", which does not.
        const url = redactUrl(keys.url)
        const reason = keys.error?.message ?? 'the JWKS could not be fetched'
        throw new CapiscioError('NETWORK_ERROR', reason.includes(url) ? reason : `${url}: ${reason}`, {
          cause: keys.error,
        })
      }
    }
    let result: VerificationResult
    try {
      result = await verifyBadge(token, { ...options, keys })
    } catch (err) {
      if (!(err instanceof CapiscioError) || !err.code.startsWith('BADGE_')) throw err
      return this.invalid(err)
    }
    const { claims } = result
    const left = claims.exp - Date.now() / 1000
    this.out(`valid badge${result.selfSigned ? ' (self-signed)' : ''}`)
    this.out(`subject  ${claims.sub}`)
    this.out(`issuer   ${claims.iss}`)
    this.out(`level    ${result.trustLevel}`)
    if (claims.vc.credentialSubject.domain) this.out(`domain   ${claims.vc.credentialSubject.domain}`)
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

  /** An invalid badge is this command's answer, not a crash: exit 3 with the code, {valid:false} under --json. */
  private invalid(error: CapiscioError): Failure {
    const err = forCli(error)
    process.exitCode = err.exitCode
    if (!this.jsonEnabled()) {
      const c = this.color()
      process.stderr.write(
        `${c.red('Error:')} invalid badge: ${err.message}\n${c.dim('Code:')} ${err.code}\n${c.dim('Hint:')} ${err.displayHint}\n`,
      )
    }
    return { valid: false, error: err.toJSON() }
  }
}
