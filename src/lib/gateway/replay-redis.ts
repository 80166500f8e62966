import { Redis, ReplyError } from 'ioredis'

import { CapiscioError } from '../errors.js'
import type { ReplayStore } from './types.js'

/**
 * Replay protection shared by every replica through Redis: `SET key 1 NX EXAT exp` keeps a jti until
 * its badge expires, atomically, so two replicas never both accept it. There is no offline queue:
 * when Redis is unreachable a claim fails at once and the gateway fails closed (503).
 *
 * A Redis that is connected but does not answer (stopped, overloaded, behind a partition) is an
 * outage too: every command has `commandTimeoutMs`, and once one has timed out the store is not
 * ready and claims fail at once, without being sent, until Redis answers again (a PING every
 * `pingIntervalMs` finds out, and also finds a stall while no requests come; three PINGs in a row without an
 * answer replace the connection, which may be dead without ever being closed). A SET already
 * written to the socket cannot be taken back: if Redis runs it late, that jti counts as used
 * (fail closed), so only the claims sent before the first timeout can be spent that way.
 */
export interface RedisReplayOptions {
  /** How long a command may wait for Redis' answer (default 1000). */
  commandTimeoutMs?: number
  /** How often Redis is PINGed, so that /ready follows it without traffic (default 1000). */
  pingIntervalMs?: number
}

/** How many PINGs in a row may go unanswered before the connection is replaced. */
const REPLACE_AFTER_PINGS = 3

/** The last second Redis EXAT takes on every platform we run on: 9999-12-31T23:59:59Z. */
const MAX_EXAT = 253_402_300_799

const outOfRange = () =>
  new CapiscioError('BADGE_CLAIMS_INVALID', 'the badge expiry is too far in the future to remember its jti')

export class RedisReplayStore implements ReplayStore {
  private readonly redis: Redis
  private lastError?: string
  /** Set when a command got no answer in time; cleared by the next answer (a claim's or a PING's). */
  private unanswered?: string
  /** PINGs in a row that got no answer on this connection. */
  private pingsUnanswered = 0
  private readonly timeoutMs: number
  private readonly pinger: NodeJS.Timeout
  private closed = false

  constructor(
    url: string,
    private readonly skewSeconds = 60,
    private readonly prefix = 'capiscio:jti:',
    options: RedisReplayOptions = {},
  ) {
    this.timeoutMs = options.commandTimeoutMs ?? 1000
    this.redis = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      // Without it a stalled Redis holds every badged request (and /ready stays 200) without limit.
      commandTimeout: this.timeoutMs,
      lazyConnect: false,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    })
    this.redis.on('error', (err: Error) => (this.lastError = err.message))
    // A new connection has answered its ready check: Redis is answering again.
    this.redis.on('ready', () => {
      this.lastError = this.unanswered = undefined
      this.pingsUnanswered = 0
    })
    this.pinger = setInterval(() => this.ping(), options.pingIntervalMs ?? 1000).unref()
  }

  /** One PING while connected: its answer (or its timeout) is what readiness goes by. */
  private ping(): void {
    if (this.redis.status !== 'ready') return
    this.redis.ping().then(
      () => {
        this.unanswered = undefined
        this.pingsUnanswered = 0
      },
      (err: Error) => {
        this.noAnswer(err)
        if (this.unanswered === undefined || ++this.pingsUnanswered < REPLACE_AFTER_PINGS) return
        // A connection that no longer answers may be dead without a FIN or RST ever coming (a
        // failed-over Redis, a NAT or load balancer that dropped it): ioredis would wait on it for
        // ever. After a few PINGs in a row (a short stall recovers on the same connection) a new
        // one is made, as go-redis drops a connection that timed out. Destroyed, not ended: an end
        // waits for the peer's FIN, which such a connection never sends.
        this.pingsUnanswered = 0
        if (!this.closed) this.redis.stream?.destroy()
      },
    )
  }

  /** A timeout marks Redis as not answering; other errors are the connection's (its status says so). */
  private noAnswer(err: Error): void {
    if (/timed out/i.test(err.message)) this.unanswered = `no answer within ${this.timeoutMs} ms`
    else this.lastError = err.message
  }

  async claim(jti: string, exp: number): Promise<boolean> {
    // A far-future exp is the badge's fault (403), not an outage: Redis would refuse the EXAT.
    const until = Math.ceil(exp + this.skewSeconds)
    if (!Number.isSafeInteger(until) || until > MAX_EXAT) throw outOfRange()
    // Not sent while Redis is not answering: it would only wait out its timeout, and might be run
    // once Redis catches up, using up the jti of a request that got 503.
    if (this.unanswered !== undefined)
      throw new CapiscioError(
        'NETWORK_ERROR',
        `the replay store (Redis) is not answering (${this.unanswered})`,
      )
    try {
      const res = await this.redis.set(this.prefix + jti, '1', 'EXAT', until, 'NX')
      this.unanswered = undefined
      return res === 'OK'
    } catch (err) {
      // Redis answered, but refused the expiry: still the badge's fault, not an outage.
      if (err instanceof ReplyError && /expire/i.test((err as Error).message)) throw outOfRange()
      this.noAnswer(err as Error)
      const what =
        this.unanswered === undefined ? 'is unreachable' : `did not answer within ${this.timeoutMs} ms`
      throw new CapiscioError('NETWORK_ERROR', `the replay store (Redis) ${what}`, { cause: err })
    }
  }

  ready(): boolean {
    return this.redis.status === 'ready' && this.unanswered === undefined
  }

  notReadyReason(): string | undefined {
    if (this.redis.status === 'ready')
      return this.unanswered === undefined ? undefined : `redis not answering: ${this.unanswered}`
    // Not connected: the connection's own state and its latest error (refused, DNS, auth) say more
    // than an earlier timeout, which is said only when there is nothing newer.
    const why =
      this.lastError ?? (this.unanswered === undefined ? undefined : `no answer within ${this.timeoutMs} ms`)
    return `redis ${this.redis.status}${why ? `: ${why}` : ''}`
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
    clearInterval(this.pinger)
    // Once: a second disconnect arms ioredis' 2 s destroy timer on a stream already closed, which
    // nothing clears (the gateway's close() closes its store, and so may its owner).
    if (this.closed) return
    this.closed = true
    this.redis.disconnect()
  }
}
