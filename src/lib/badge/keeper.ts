import { readFile } from 'node:fs/promises'

import { CapiscioError } from '../errors.js'
import { writeFileAtomic } from '../store/atomic.js'
import { decodeBadge } from './decode.js'
import type { IssuedBadge } from './issue.js'

export type KeeperEvent =
  | { type: 'renewed'; jti: string; exp: number }
  | { type: 'error'; error: CapiscioError; retryInSeconds: number; keptUntil?: number }

export interface BadgeKeeperOptions {
  /** Where the current badge lives (written 0600, atomically); without it the badge is kept in memory only. */
  outPath?: string
  /** Issues a new badge; the keeper does not know keys or claims. */
  issue: () => Promise<IssuedBadge>
  /** Renew when less than this remains (default 60 s). */
  renewBeforeSeconds?: number
  /** The longest pause between two checks (default 30 s). */
  checkIntervalSeconds?: number
  now?: () => number
  onEvent?: (event: KeeperEvent) => void
}

/**
 * Keeps a badge file fresh (`badge keep`): issues one at start, then renews it when less than
 * `renewBeforeSeconds` remains. A failed renewal leaves the old file in place and is retried with
 * exponential backoff (1 s, 2 s, 4 s … capped at the check interval) until it succeeds.
 */
export class BadgeKeeper {
  private readonly renewBefore: number
  private readonly interval: number
  private readonly now: () => number
  private timer?: NodeJS.Timeout
  private running?: Promise<void>
  private stopped = false
  private failures = 0
  private exp?: number
  private token?: string
  private lastError?: CapiscioError

  constructor(private readonly options: BadgeKeeperOptions) {
    this.renewBefore = options.renewBeforeSeconds ?? 60
    this.interval = options.checkIntervalSeconds ?? 30
    this.now = options.now ?? Date.now
    if (!(this.interval > 0)) throw new CapiscioError('USAGE', 'the check interval must be positive')
    if (!(this.renewBefore >= 0)) throw new CapiscioError('USAGE', 'renew-before must not be negative')
  }

  /** Issues the first badge (or reports why it could not), then keeps checking in the background. */
  async start(): Promise<void> {
    this.stopped = false
    await this.tick()
  }

  /** Stops checking; a renewal under way finishes first, so the file is never left half-written. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    await this.running
  }

  /** The expiry (NumericDate seconds) of the badge being kept, or undefined before the first. */
  get expiresAt(): number | undefined {
    return this.exp
  }

  /**
   * The current badge, renewed first when it is within renewBeforeSeconds of expiry (a timer can
   * fire late: a suspended laptop, a blocked event loop). While renewals fail, the last badge is
   * returned until it expires; after that the renewal's error is thrown.
   */
  async current(): Promise<string> {
    const fresh = () => this.exp !== undefined && this.exp - this.now() / 1000 > this.renewBefore
    if (this.token === undefined || !fresh()) await (this.running ?? this.tick())
    if (this.token === undefined || this.exp! <= this.now() / 1000) {
      throw this.lastError ?? new CapiscioError('INTERNAL_ERROR', 'the keeper has no badge yet')
    }
    return this.token
  }

  private tick(): Promise<void> {
    this.running = this.check().finally(() => (this.running = undefined))
    return this.running
  }

  private schedule(seconds: number): void {
    if (this.timer) clearTimeout(this.timer)
    if (this.stopped) return
    this.timer = setTimeout(() => void this.tick(), Math.max(0.05, seconds) * 1000)
    this.timer.unref?.()
  }

  private async check(): Promise<void> {
    const now = this.now() / 1000
    if (this.exp !== undefined && this.exp - now > this.renewBefore) {
      this.schedule(Math.min(this.interval, this.exp - this.renewBefore - now))
      return
    }
    try {
      const badge = await this.options.issue()
      if (this.options.outPath !== undefined)
        await writeFileAtomic(this.options.outPath, badge.token + '\n', 0o600)
      this.token = badge.token
      this.exp = badge.claims.exp
      this.lastError = undefined
      this.failures = 0
      this.options.onEvent?.({ type: 'renewed', jti: badge.claims.jti, exp: badge.claims.exp })
      this.schedule(Math.min(this.interval, badge.claims.exp - this.renewBefore - this.now() / 1000))
    } catch (err) {
      const error =
        err instanceof CapiscioError
          ? err
          : new CapiscioError('INTERNAL_ERROR', `renewal failed: ${String(err)}`, { cause: err })
      this.failures++
      this.lastError = error
      const retry = Math.min(2 ** (this.failures - 1), this.interval)
      const kept = this.exp ?? (await this.existingExpiry())
      const event: KeeperEvent = { type: 'error', error, retryInSeconds: retry }
      if (kept !== undefined && kept > now) event.keptUntil = kept
      this.options.onEvent?.(event)
      this.schedule(retry)
    }
  }

  /** The expiry of a badge already in the file (from an earlier run), if it has one. */
  private async existingExpiry(): Promise<number | undefined> {
    if (this.options.outPath === undefined) return undefined
    try {
      const exp = decodeBadge(await readFile(this.options.outPath, 'utf8')).claims.exp
      return typeof exp === 'number' ? exp : undefined
    } catch {
      return undefined
    }
  }
}
