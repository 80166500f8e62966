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
  readonly inFlight = new Gauge({
    name: 'capiscio_gateway_in_flight_requests',
    help: 'Requests being handled now.',
    registers: [this.registry],
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

  text(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }
}
