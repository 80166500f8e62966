import { Flags } from '@oclif/core'

import { BaseCommand } from '../../base-command.js'
import { issueFlags, issueOptionsFromFlags } from '../../badge-flags.js'
import { issueBadge } from '../../lib/badge/issue.js'
import { BadgeKeeper, type KeeperEvent } from '../../lib/badge/keeper.js'
import { formatSpan, parseDuration } from '../../lib/duration.js'
import { CapiscioError } from '../../lib/errors.js'
import { logTime } from '../../lib/time.js'

export default class BadgeKeep extends BaseCommand<typeof BadgeKeep> {
  static override description =
    'keep a badge file fresh: renew it before it expires, until SIGINT or SIGTERM (--json: one JSON object per line). A first badge it cannot write fails at once (exit 4); a failed renewal is retried, the old badge kept'
  static override examples = [
    '<%= config.bin %> <%= command.id %> --key capiscio_keys/private.jwk --sub did:web:agent.example.com --out badge.jwt',
    '<%= config.bin %> <%= command.id %> --self-sign --ttl 10m --renew-before 2m',
  ]
  static override jsonLines = true
  static override flags = {
    ...issueFlags,
    'check-interval': Flags.string({ description: 'how often to check the badge [default: 30s]' }),
    out: Flags.string({
      description: 'the badge file, written 0600 [default: badge.jwt]',
      helpValue: 'FILE',
    }),
    'renew-before': Flags.string({
      description: 'renew when less than this remains; shorter than --ttl [default: 1m]',
    }),
  }

  async run(): Promise<{ out: string; stopped: string }> {
    const { flags } = this
    const out = flags.out ?? 'badge.jwt'
    const options = await issueOptionsFromFlags(
      flags,
      await this.passphraseSource(flags['passphrase-file']),
      async () => (await this.setting('keyDir', undefined))!,
    )
    const renewBefore = parseDuration(flags['renew-before'] ?? '1m', '--renew-before')
    const checkInterval = parseDuration(flags['check-interval'] ?? '30s', '--check-interval')
    // Validate once up front so a bad flag fails now, not at the first renewal. Nothing is written yet.
    const first = await issueBadge(options)
    const ttl = first.claims.exp - first.claims.iat
    if (ttl <= renewBefore) {
      // Every badge would be due the moment it is written: the keeper would re-issue without pause.
      throw new CapiscioError(
        'USAGE',
        `--renew-before (${formatSpan(renewBefore)}) must be shorter than the badge lifetime --ttl (${formatSpan(ttl)})`,
        { hint: 'e.g. --ttl 10m --renew-before 2m' },
      )
    }
    let pending: typeof first | undefined = first
    let firstFailure: CapiscioError | undefined
    const keeper = new BadgeKeeper({
      outPath: out,
      issue: async () => {
        const badge = pending ?? (await issueBadge(options))
        pending = undefined
        return badge
      },
      renewBeforeSeconds: renewBefore,
      checkIntervalSeconds: checkInterval,
      onEvent: (e) => {
        // The first badge not written (a directory, a missing parent, no permission) fails the
        // command, as `badge issue --out` does: retrying cannot fix it. Later renewals retry.
        if (e.type === 'error' && keeper.expiresAt === undefined) firstFailure ??= e.error
        else this.event(out, e)
      },
    })
    // Listened for before the first badge is written: its event line is the cue a supervisor (or a
    // test) may answer with SIGTERM at once, and the default action would kill keep unstopped.
    const stopped = new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'))
      process.once('SIGTERM', () => resolve('SIGTERM'))
      process.stdout.once('error', () => resolve('stdout closed'))
    })
    await keeper.start()
    if (firstFailure) {
      await keeper.stop()
      throw firstFailure
    }
    // The keeper's timers do not hold the process open (it is a library); this command does, until a
    // signal, or until its output is gone (`| head -1`): events nobody reads are no reason to go on.
    const alive = setInterval(() => undefined, 1 << 30)
    const signal = await stopped
    clearInterval(alive)
    await keeper.stop()
    this.info(`${logTime()} ${signal}: stopped; ${out} stays in place`)
    return { out, stopped: signal }
  }

  /** Under --json each event is a JSON line on stdout; otherwise a log line on stderr. */
  private event(out: string, e: KeeperEvent): void {
    if (this.jsonEnabled()) {
      const line =
        e.type === 'renewed'
          ? { time: new Date().toISOString(), event: 'renewed', out, jti: e.jti, exp: e.exp }
          : {
              time: new Date().toISOString(),
              event: 'renewal_failed',
              out,
              error: e.error.toJSON(),
              retryInSeconds: e.retryInSeconds,
              ...(e.keptUntil ? { keptUntil: e.keptUntil } : {}),
            }
      process.stdout.write(JSON.stringify(line) + '\n')
    } else if (e.type === 'renewed') {
      this.info(`${logTime()} renewed ${out} (jti ${e.jti}, expires ${new Date(e.exp * 1000).toISOString()})`)
    } else {
      const kept = e.keptUntil
        ? `; keeping the current badge until ${new Date(e.keptUntil * 1000).toISOString()}`
        : ''
      process.stderr.write(
        `${logTime()} renewal failed: ${e.error.message} (${e.error.code}); retrying in ${e.retryInSeconds}s${kept}\n`,
      )
    }
  }
}
