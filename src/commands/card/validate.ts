import { Args, Flags } from '@oclif/core'

import { BaseCommand } from '../../base-command.js'
import { discoverCard } from '../../lib/card/discover.js'
import { validateAgentCard, type CardValidation } from '../../lib/card/validate.js'

export default class CardValidate extends BaseCommand<typeof CardValidate> {
  static override description =
    'lint an agent card (file, URL or domain) against the A2A 1.0 rules, or the 0.3 rules and JSON Schema: coded findings and a 0-100 score; exit 3 on errors'
  static override examples = [
    '<%= config.bin %> <%= command.id %> agent-card.json',
    '<%= config.bin %> <%= command.id %> agent.example.com --strict --json',
  ]
  static override args = {
    card: Args.string({
      ignoreStdin: true,
      description:
        'a card file (an existing file is always read as one), a card URL, or a host for well-known discovery (https; http for localhost and 127.x)',
      required: true,
    }),
  }
  static override flags = {
    'a2a-version': Flags.string({
      description: 'apply these rules [default: detected]',
      options: ['0.3', '1.0'],
    }),
    strict: Flags.boolean({ description: 'warnings fail too' }),
  }

  async run(): Promise<CardValidation & { source: string }> {
    const { flags } = this
    const { card, source, findings } = await discoverCard(this.args.card)
    const result = validateAgentCard(card, {
      strict: flags.strict,
      extra: findings,
      ...(flags['a2a-version'] ? { version: flags['a2a-version'] as '0.3' | '1.0' } : {}),
    })
    const c = this.color(process.stdout)
    for (const f of [...result.errors, ...result.warnings])
      this.out(
        `${f.severity === 'error' ? c.red('error  ') : c.yellow('warning')} ${f.code}${f.path ? ` ${c.dim(f.path)}` : ''}: ${f.message}`,
      )
    this.out(
      `${result.valid ? 'valid' : 'invalid'} ${result.version} card, score ${result.score}/100 ` +
        `(${result.errors.length} error${result.errors.length === 1 ? '' : 's'}, ${result.warnings.length} warning${result.warnings.length === 1 ? '' : 's'})`,
    )
    if (!result.valid) process.exitCode = 3
    return { ...result, source }
  }
}
