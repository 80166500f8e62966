import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

/**
 * The gateway's Prometheus metrics, on a registry of its own (so several gateways in one process,
 * as in tests, never collide). Labels are bounded: status codes, methods, fixed reason codes.
 */
export class GatewayMetrics {
  readonly registry = new Registry()
  readonly requests = new Counter({
    name: 'capiscio_gateway_requests_total',
    help: 'Requests answered, by HTTP status code and method.',
    labelNames: ['code', 'method'] as const,
    registers: [this.registry],
  })
  readonly duration = new Histogram({
    name: 'capiscio_gateway_request_duration_seconds',
    help: 'Time from request to the end of the response (or the connection closing), gateway included.',
    labelNames: ['method'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  })
  readonly upstreamDuration = new Histogram({
    name: 'capiscio_gateway_upstream_duration_seconds',
    help: 'Time the target took to send response headers.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  })
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
  readonly auth = new Counter({
    name: 'capiscio_gateway_auth_total',
    help: 'Authentication decisions: allowed, or denied with the reason code; by credential kind (badge, jwt, guard, none).',
    labelNames: ['result', 'reason', 'credential'] as const,
    registers: [this.registry],
  })
  readonly verifyCache = new Counter({
    name: 'capiscio_gateway_verify_cache_total',
    help: 'Verified-credential cache lookups, by result (hit, miss).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  })
  readonly jwksFetches = new Counter({
    name: 'capiscio_gateway_jwks_fetch_total',
    help: 'JWKS fetches from the registry, by result (ok, error).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  })

  constructor(options: { processMetrics?: boolean } = {}) {
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

  /**
   * The labelled children in use, by their label values, so that the per-request path builds no key
   * and hashes no label set: requests by method then status, durations by method, decisions by
   * result, reason and credential.
   */
  private readonly answeredChildren = new Map<string, Map<number, { inc(): void }>>()
  private readonly durationChildren = new Map<string, { observe(v: number): void }>()
  private readonly decidedChildren = new Map<string, { inc(): void }>()

  /** Reports a gateway's in-flight count at every scrape; returns the function that stops it. */
  trackInFlight(count: () => number): () => void {
    this.inFlightSources.add(count)
    return () => this.inFlightSources.delete(count)
  }

  /** One answered request: counted by status and method, and timed. */
  answered(status: number, method: string, seconds: number): void {
    let byStatus = this.answeredChildren.get(method)
    if (byStatus === undefined) this.answeredChildren.set(method, (byStatus = new Map()))
    let counter = byStatus.get(status)
    if (counter === undefined) byStatus.set(status, (counter = this.requests.labels(String(status), method)))
    counter.inc()
    let timer = this.durationChildren.get(method)
    if (timer === undefined) this.durationChildren.set(method, (timer = this.duration.labels(method)))
    timer.observe(seconds)
  }

  /** One authentication decision (the reason is a code or a fixed phrase: a bounded set). */
  decided(result: 'allowed' | 'denied', reason: string, credential: string): void {
    // Allowed requests, the hot path, have one key per credential kind.
    const key = result === 'allowed' ? credential : `${reason} ${credential}`
    let counter = this.decidedChildren.get(key)
    if (counter === undefined)
      this.decidedChildren.set(key, (counter = this.auth.labels(result, reason, credential)))
    counter.inc()
  }

  text(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }
}
