import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client'

const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** One label set's buckets (not cumulative), sum and count. */
class Series {
  readonly counts: Float64Array
  sum = 0
  count = 0
  constructor(
    private readonly bounds: readonly number[],
    readonly labels: Readonly<Record<string, string>>,
  ) {
    this.counts = new Float64Array(bounds.length)
  }

  observe(value: number): void {
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && value > bounds[i]!) i++
    if (i < bounds.length) this.counts[i]!++
    this.sum += value
    this.count++
  }
}

/**
 * A histogram counted in plain arrays on the hot path (prom-client's Histogram hashes its label set
 * and checks its labels on every observe) and handed to the registry in prom-client's own shape when
 * scraped, so the registry prints it and the cluster aggregator sums it like any of its histograms.
 * At most one label, whose values are a bounded set (methods).
 */
export class FastHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  private readonly series = new Map<string, Series>()

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    private readonly labelName?: string,
  ) {}

  /** The series for a label value (none: the histogram has no label). */
  child(value = ''): Series {
    let series = this.series.get(value)
    if (series === undefined) {
      series = new Series(this.bounds, this.labelName === undefined ? {} : { [this.labelName]: value })
      this.series.set(value, series)
    }
    return series
  }

  observe(value: number): void {
    this.child().observe(value)
  }

  get(): Promise<{
    name: string
    help: string
    type: 'histogram'
    aggregator: 'sum'
    values: { labels: Record<string, string | number>; value: number; metricName: string }[]
  }> {
    const values = []
    for (const s of this.series.values()) {
      let cumulative = 0
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += s.counts[i]!
        values.push({
          labels: { le: this.bounds[i]!, ...s.labels },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        })
      }
      values.push(
        { labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` },
        { labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` },
        { labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` },
      )
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    })
  }

  reset(): void {
    this.series.clear()
  }
}

/** Counts kept as plain numbers on the hot path, added to their prom-client children when scraped. */
class Tally {
  n = 0
  constructor(readonly child: { inc(value: number): void }) {}
}

/** A counter whose hot-path counts are tallies, flushed into it whenever it is read. */
function talliedCounter<T extends string>(
  config: ConstructorParameters<typeof Counter<T>>[0],
  tallies: () => Iterable<Tally>,
): Counter<T> {
  return new Counter<T>({
    ...config,
    collect() {
      for (const t of tallies())
        if (t.n > 0) {
          t.child.inc(t.n)
          t.n = 0
        }
    },
  })
}

/**
 * The gateway's Prometheus metrics, on a registry of its own (so several gateways in one process,
 * as in tests, never collide). Labels are bounded: status codes, methods, fixed reason codes.
 */
export class GatewayMetrics {
  readonly registry = new Registry()
  /**
   * The tallies in use, by their label values, so that the per-request path builds no key and hashes
   * no label set: requests by method then status, decisions by result, reason and credential,
   * cache lookups by result.
   */
  private readonly answeredTallies = new Map<string, Map<number, Tally>>()
  private readonly decidedTallies = new Map<string, Tally>()
  private readonly cacheTallies = new Map<string, Tally>()

  readonly requests = talliedCounter(
    {
      name: 'capiscio_gateway_requests_total',
      help: 'Requests answered, by HTTP status code and method.',
      labelNames: ['code', 'method'] as const,
      registers: [this.registry],
    },
    () => [...this.answeredTallies.values()].flatMap((byStatus) => [...byStatus.values()]),
  )
  readonly duration = new FastHistogram(
    'capiscio_gateway_request_duration_seconds',
    'Time from request to the end of the response (or the connection closing), gateway included.',
    DURATION_BUCKETS,
    'method',
  )
  readonly upstreamDuration = new FastHistogram(
    'capiscio_gateway_upstream_duration_seconds',
    'Time the target took to send response headers.',
    DURATION_BUCKETS,
  )
  /** Each gateway's count of requests being handled (read at scrape time, not kept per request). */
  private readonly inFlightSources = new Set<() => number>()
  readonly inFlight = new Gauge({
    name: 'capiscio_gateway_in_flight_requests',
    help: 'Requests being handled now.',
    registers: [this.registry],
    collect: (() => {
      const sources = this.inFlightSources
      return function (this: Gauge) {
        if (sources.size === 0) return
        let n = 0
        for (const count of sources) n += count()
        this.set(n)
      }
    })(),
  })
  readonly auth = talliedCounter(
    {
      name: 'capiscio_gateway_auth_total',
      help: 'Authentication decisions: allowed, or denied with the reason code; by credential kind (badge, jwt, guard, none).',
      labelNames: ['result', 'reason', 'credential'] as const,
      registers: [this.registry],
    },
    () => this.decidedTallies.values(),
  )
  readonly verifyCache = talliedCounter(
    {
      name: 'capiscio_gateway_verify_cache_total',
      help: 'Verified-credential cache lookups, by result (hit, miss).',
      labelNames: ['result'] as const,
      registers: [this.registry],
    },
    () => this.cacheTallies.values(),
  )
  readonly jwksFetches = new Counter({
    name: 'capiscio_gateway_jwks_fetch_total',
    help: 'JWKS fetches from the registry, by result (ok, error).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  })

  constructor(options: { processMetrics?: boolean } = {}) {
    // Registered as they are: the registry asks a metric only for get() and reset().
    this.registry.registerMetric(this.duration as unknown as Metric)
    this.registry.registerMetric(this.upstreamDuration as unknown as Metric)
    if (options.processMetrics !== false) {
      collectDefaultMetrics({ register: this.registry })
      // prom-client names these gauges *_total, which `promtool check metrics` rejects (a _total
      // suffix promises a counter); the unsuffixed nodejs_active_* gauges carry the same numbers.
      for (const name of [
        'nodejs_active_handles_total',
        'nodejs_active_requests_total',
        'nodejs_active_resources_total',
      ]) {
        this.registry.removeSingleMetric(name)
      }
    }
  }

  /** Reports a gateway's in-flight count at every scrape; returns the function that stops it. */
  trackInFlight(count: () => number): () => void {
    this.inFlightSources.add(count)
    return () => this.inFlightSources.delete(count)
  }

  /** One answered request: counted by status and method, and timed. */
  answered(status: number, method: string, seconds: number): void {
    let byStatus = this.answeredTallies.get(method)
    if (byStatus === undefined) this.answeredTallies.set(method, (byStatus = new Map()))
    let tally = byStatus.get(status)
    if (tally === undefined)
      byStatus.set(status, (tally = new Tally(this.requests.labels(String(status), method))))
    tally.n++
    this.duration.child(method).observe(seconds)
  }

  /** One authentication decision (the reason is a code or a fixed phrase: a bounded set). */
  decided(result: 'allowed' | 'denied', reason: string, credential: string): void {
    // Allowed requests, the hot path, have one key per credential kind.
    const key = result === 'allowed' ? credential : `${reason} ${credential}`
    let tally = this.decidedTallies.get(key)
    if (tally === undefined)
      this.decidedTallies.set(key, (tally = new Tally(this.auth.labels(result, reason, credential))))
    tally.n++
  }

  /** One lookup in a verified-credential cache. */
  cacheLookup(result: 'hit' | 'miss'): void {
    let tally = this.cacheTallies.get(result)
    if (tally === undefined)
      this.cacheTallies.set(result, (tally = new Tally(this.verifyCache.labels(result))))
    tally.n++
  }

  text(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }
}
