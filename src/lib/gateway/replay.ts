import type { ReplayStore } from './types.js'

/**
 * In-process replay protection: each jti is remembered until its badge expires (plus the clock
 * skew), then forgotten, so memory stays bounded by the badges live at once.
 */
export class MemoryReplayStore implements ReplayStore {
  private readonly seen = new Map<string, number>()
  private lastSweep = 0

  constructor(
    private readonly now: () => number = Date.now,
    private readonly skewSeconds = 60,
  ) {}

  claim(jti: string, exp: number): boolean {
    const nowS = this.now() / 1000
    if (nowS - this.lastSweep > 10) this.sweep(nowS)
    const until = this.seen.get(jti)
    if (until !== undefined && until > nowS) return false
    this.seen.set(jti, exp + this.skewSeconds)
    return true
  }

  private sweep(nowS: number): void {
    this.lastSweep = nowS
    for (const [jti, until] of this.seen) if (until <= nowS) this.seen.delete(jti)
  }

  get size(): number {
    return this.seen.size
  }
}
