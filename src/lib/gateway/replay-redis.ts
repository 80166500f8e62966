import { Redis, ReplyError } from 'ioredis'

import { CapiscioError } from '../errors.js'
import type { ReplayStore } from './types.js'

/**
 * Replay protection shared by every replica through Redis: `SET key 1 NX EXAT exp` keeps a jti until
 * its badge expires, atomically, so two replicas never both accept it. There is no offline queue:
 * when Redis is unreachable a claim fails at once and the gateway fails closed (503).
 */
/** The last second Redis EXAT takes on every platform we run on: 9999-12-31T23:59:59Z. */
const MAX_EXAT = 253_402_300_799

const outOfRange = () =>
  new CapiscioError('BADGE_CLAIMS_INVALID', 'the badge expiry is too far in the future to remember its jti')

export class RedisReplayStore implements ReplayStore {
  private readonly redis: Redis
  private lastError?: string

  constructor(
    url: string,
    private readonly skewSeconds = 60,
    private readonly prefix = 'capiscio:jti:',
  ) {
    this.redis = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      lazyConnect: false,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    })
    this.redis.on('error', (err: Error) => (this.lastError = err.message))
    this.redis.on('ready', () => (this.lastError = undefined))
  }

  async claim(jti: string, exp: number): Promise<boolean> {
    // A far-future exp is the badge's fault (403), not an outage: Redis would refuse the EXAT.
    const until = Math.ceil(exp + this.skewSeconds)
    if (!Number.isSafeInteger(until) || until > MAX_EXAT) throw outOfRange()
    try {
      const res = await this.redis.set(this.prefix + jti, '1', 'EXAT', until, 'NX')
      return res === 'OK'
    } catch (err) {
      // Redis answered, but refused the expiry: still the badge's fault, not an outage.
      if (err instanceof ReplyError && /expire/i.test((err as Error).message)) throw outOfRange()
      this.lastError = (err as Error).message
      throw new CapiscioError('NETWORK_ERROR', 'the replay store (Redis) is unreachable', { cause: err })
    }
  }

  ready(): boolean {
    return this.redis.status === 'ready'
  }

  notReadyReason(): string | undefined {
    return this.ready()
      ? undefined
      : `redis ${this.redis.status}${this.lastError ? `: ${this.lastError}` : ''}`
  }

  /** Resolves once connected, or rejects after `timeoutMs`. */
  async waitReady(timeoutMs = 3000): Promise<void> {
    if (this.ready()) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady)
        reject(
          new CapiscioError(
            'NETWORK_ERROR',
            `the replay store (Redis) is unreachable: ${this.lastError ?? 'timed out'}`,
          ),
        )
      }, timeoutMs)
      const onReady = () => {
        clearTimeout(timer)
        resolve()
      }
      this.redis.once('ready', onReady)
    })
  }

  async close(): Promise<void> {
    this.redis.disconnect()
  }
}
