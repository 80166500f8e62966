import { Args } from '@oclif/core'

import { BaseCommand } from '../../base-command.js'
import { MAX_NUMERIC_DATE } from '../../lib/badge/claims.js'
import { decodeBadge } from '../../lib/badge/decode.js'
import { formatSpan } from '../../lib/duration.js'

const TIME_CLAIMS = ['iat', 'nbf', 'exp'] as const

export default class BadgeInspect extends BaseCommand<typeof BadgeInspect> {
  static override description =
    'decode a badge without verifying it: header, claims and readable dates (NOT VERIFIED)'
  static override examples = [
    '<%= config.bin %> <%= command.id %> "$BADGE"',
    '<%= config.bin %> <%= command.id %> badge.jwt --json',
  ]
  static override args = {
    token: Args.string({
      ignoreStdin: true,
      description: "the badge, a file holding it, or '-' for standard input",
      required: true,
    }),
  }

  async run(): Promise<{
    verified: false
    header: Record<string, unknown>
    claims: Record<string, unknown>
  }> {
    const { token } = this.args
    const text = await this.readTokenArg(token)
    const { header, claims } = decodeBadge(text)
    this.info(this.color().yellow('NOT VERIFIED: decoded only; run `capiscio badge verify` to check it'))
    this.out('(not verified)')
    this.out(`header  ${JSON.stringify(header)}`)
    this.out(`claims  ${JSON.stringify(claims, null, 2).replace(/\n/g, '\n        ')}`)
    const now = Date.now() / 1000
    for (const name of TIME_CLAIMS) {
      const v = claims[name]
      if (typeof v !== 'number' || !Number.isFinite(v)) continue
      // The same bound verification applies; beyond it a date or a span means nothing.
      if (v < 0 || v > MAX_NUMERIC_DATE) {
        this.out(`${name.padEnd(6)}  out of range (${v}; NumericDates run from 0 to ${MAX_NUMERIC_DATE})`)
        continue
      }
      const rel = v > now ? `in ${formatSpan(v - now)}` : `${formatSpan(now - v)} ago`
      this.out(`${name.padEnd(6)}  ${new Date(v * 1000).toISOString()} (${rel})`)
    }
    return { verified: false, header, claims }
  }
}
