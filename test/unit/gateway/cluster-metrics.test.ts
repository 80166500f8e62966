import { EventEmitter } from 'node:events'

import { describe, expect, it } from '@jest/globals'
import { collectDefaultMetrics, Registry } from 'prom-client'

import {
  addCounters,
  AGGREGATION,
  aggregateText,
  ClusterMetricsPrimary,
  ClusterWorkerMetrics,
  encodeReport,
  readReport,
  WORKERS_MISSING,
  type MetricJson,
  type WorkerLike,
} from '../../../src/lib/gateway/cluster-metrics.js'
import { GatewayMetrics } from '../../../src/lib/gateway/metrics.js'
import { promtoolCheck, sampleValue } from '../../helpers/metrics.js'

/** What the cluster IPC channel does to a message: JSON (Node's default serialization) and a later turn. */
const wire = (m: unknown) => JSON.parse(JSON.stringify(m)) as unknown

/** A report as it arrives at the primary. */
async function reportOf(registry: Registry): Promise<MetricJson[]> {
  const report = readReport(wire(await encodeReport(registry)))
  if (!report) throw new Error('a registry report did not read back')
  return report
}

function gatewayMetrics(requests: number, inFlight = 0): GatewayMetrics {
  const m = new GatewayMetrics({ processMetrics: false })
  for (let i = 0; i < requests; i++) {
    m.requests.inc({ code: '200', method: 'GET' })
    m.duration.child('GET').observe(0.003 * (i + 1))
  }
  m.inFlight.set(inFlight)
  return m
}

const REQ = 'capiscio_gateway_requests_total{code="200",method="GET"}'
const COUNT = 'capiscio_gateway_request_duration_seconds_count{method="GET"}'

describe('cluster metrics: aggregation', () => {
  it('sums counters, histograms and the in-flight gauge over workers, label set by label set', async () => {
    const a = gatewayMetrics(3, 1)
    const b = gatewayMetrics(4, 2)
    b.requests.inc({ code: '403', method: 'POST' })
    const text = await aggregateText([await reportOf(a.registry), await reportOf(b.registry)])
    expect(sampleValue(text, REQ)).toBe(7)
    expect(sampleValue(text, 'capiscio_gateway_requests_total{code="403",method="POST"}')).toBe(1)
    expect(sampleValue(text, COUNT)).toBe(7)
    // Observations 3, 6, 9 ms (a) and 3, 6, 9, 12 ms (b): the 5 ms bucket holds one of each.
    expect(
      sampleValue(text, 'capiscio_gateway_request_duration_seconds_bucket{le="0.005",method="GET"}'),
    ).toBe(2)
    expect(
      sampleValue(text, 'capiscio_gateway_request_duration_seconds_bucket{le="+Inf",method="GET"}'),
    ).toBe(7)
    expect(sampleValue(text, 'capiscio_gateway_request_duration_seconds_sum{method="GET"}')).toBeCloseTo(
      0.048,
      9,
    )
    expect(sampleValue(text, 'capiscio_gateway_in_flight_requests')).toBe(3)
    expect(text.match(/^# TYPE capiscio_gateway_requests_total counter$/gm)).toHaveLength(1)
  })

  it('combines the process metrics per metric: a version once, the youngest start, the busiest fds, memory summed', async () => {
    const gauge = (name: string, value: number, labels = {}): MetricJson => ({
      name,
      help: name,
      type: 'gauge',
      values: [{ value, labels }],
    })
    const worker = (start: number, fds: number, maxFds: number, rss: number) => [
      gauge('nodejs_version_info', 1, { version: 'v20.20.2', major: 20 }),
      gauge('process_start_time_seconds', start),
      gauge('process_open_fds', fds),
      gauge('process_max_fds', maxFds),
      gauge('process_resident_memory_bytes', rss),
      gauge('nodejs_eventloop_lag_max_seconds', start / 1000),
      gauge('nodejs_eventloop_lag_mean_seconds', NaN),
    ]
    const text = await aggregateText([worker(1000, 20, 1024, 5e7), worker(2000, 30, 512, 6e7)])
    expect(sampleValue(text, 'nodejs_version_info{version="v20.20.2",major="20"}')).toBe(1)
    expect(sampleValue(text, 'process_start_time_seconds')).toBe(2000)
    expect(sampleValue(text, 'process_open_fds')).toBe(30)
    expect(sampleValue(text, 'process_max_fds')).toBe(512)
    expect(sampleValue(text, 'process_resident_memory_bytes')).toBe(1.1e8)
    expect(sampleValue(text, 'nodejs_eventloop_lag_max_seconds')).toBe(2)
    expect(sampleValue(text, 'nodejs_eventloop_lag_mean_seconds')).toBeNaN()
  })

  it("follows prom-client's own choice for every default metric except the three it decides otherwise", async () => {
    const registry = new Registry()
    collectDefaultMetrics({ register: registry })
    const differ: Record<string, [string, string]> = {}
    for (const m of (await registry.getMetricsAsJSON()) as unknown as {
      name: string
      aggregator: string
    }[]) {
      const ours = AGGREGATION[m.name] ?? 'sum'
      if (ours !== m.aggregator) differ[m.name] = [m.aggregator, ours]
    }
    expect(differ).toEqual({
      process_start_time_seconds: ['omit', 'max'],
      process_open_fds: ['sum', 'max'],
      process_max_fds: ['sum', 'min'],
    })
  })

  it('gives text that promtool accepts, process metrics included, with non-finite values carried over the wire', async () => {
    const a = new GatewayMetrics()
    const b = new GatewayMetrics()
    a.requests.inc({ code: '200', method: 'GET' })
    b.duration.child('GET').observe(0.02)
    b.inFlight.set(NaN)
    const text = await aggregateText([await reportOf(a.registry), await reportOf(b.registry)])
    expect(sampleValue(text, 'capiscio_gateway_in_flight_requests')).toBeNaN()
    expect(text).toMatch(/^process_cpu_seconds_total /m)
    expect(text).toMatch(/^nodejs_heap_space_size_used_bytes\{space="new"\} /m)
    const { code, output } = await promtoolCheck(text)
    expect([code, output]).toEqual([0, ''])
  })

  it('keeps the counters and histograms of a worker that exited, not its gauges', async () => {
    const kept = addCounters([], await reportOf(gatewayMetrics(2, 5).registry))
    const twice = addCounters(kept, await reportOf(gatewayMetrics(3, 5).registry))
    const text = await aggregateText([twice])
    expect(sampleValue(text, REQ)).toBe(5)
    expect(sampleValue(text, COUNT)).toBe(5)
    expect(sampleValue(text, 'capiscio_gateway_in_flight_requests')).toBeUndefined()
    // addCounters copies: the first result is unchanged.
    expect(sampleValue(await aggregateText([kept]), REQ)).toBe(2)
  })
})

describe('cluster metrics: what a worker may send', () => {
  const good = { name: 'x_total', help: 'h', type: 'counter', values: [{ value: 1, labels: { a: 'b' } }] }
  const withValue = (v: object) => ({ ...good, values: [{ value: 1, labels: {}, ...v }] })

  it('reads back what a worker sends', async () => {
    const registry = gatewayMetrics(2).registry
    const report = await reportOf(registry)
    expect(report.map((m) => m.name)).toEqual(
      ((await registry.getMetricsAsJSON()) as { name: string }[]).map((m) => m.name),
    )
    const nan = readReport(
      wire([withValue({ value: 'NaN' }), { ...withValue({ value: '+Inf' }), name: 'y' }]),
    )
    expect(nan?.map((m) => m.values[0]!.value)).toEqual([NaN, Infinity])
  })

  it.each([
    ['not a list', { metrics: [] }],
    ['a list of strings', ['x']],
    ['an invalid name', [{ ...good, name: 'x-total' }]],
    ['a metric the primary owns', [{ ...good, name: WORKERS_MISSING, type: 'gauge' }]],
    ['a metric twice', [good, good]],
    ['an unknown type', [{ ...good, type: 'untyped' }]],
    ['a help that is not a string', [{ ...good, help: 1 }]],
    ['a value that is not a number', [withValue({ value: '1' })]],
    ['a null value', [withValue({ value: null })]],
    ['an invalid label name', [withValue({ labels: { 'a-b': 'c' } })]],
    ['a label value that is an object', [withValue({ labels: { a: { b: 1 } } })]],
    ['a series name of another metric', [withValue({ metricName: 'other_total' })]],
    ['too many metrics', Array.from({ length: 1001 }, (_, i) => ({ ...good, name: `m${i}` }))],
  ])('refuses a report with %s', (_what, report) => {
    expect(readReport(wire(report))).toBeUndefined()
  })
})

// The cluster's IPC, in memory: every message goes through JSON and arrives in a later turn, as over
// the real channel. The primary and the workers are the real classes.
class Cluster extends EventEmitter {
  workers: Record<string, WorkerLike> = {}
  private next = 0

  /** A worker process: its metrics answer the primary unless `silent` (a stopped process). */
  add(options: { silent?: boolean; send?: (m: unknown) => unknown } = {}) {
    const id = String(++this.next)
    const toWorker = new EventEmitter()
    let connected = true
    const collects: unknown[] = []
    let silent = options.silent ?? false
    const handle: WorkerLike = {
      send: (message, callback) => {
        if (!connected) return (setImmediate(callback, new Error('closed')), false)
        if ((message as { capiscio?: string }).capiscio === 'metrics-collect') collects.push(message)
        const m = wire(message)
        if (!silent) setImmediate(() => toWorker.emit('message', m))
        setImmediate(callback, null)
        return true
      },
      isConnected: () => connected,
    }
    const channel = Object.assign(toWorker, {
      send: (message: unknown, callback: (e: Error | null) => void) => {
        const m = wire(options.send ? options.send(message) : message)
        setImmediate(() => this.emit('message', handle, m))
        setImmediate(callback, null)
        return true
      },
    })
    const metrics = new ClusterWorkerMetrics(channel, { processMetrics: false })
    this.workers[id] = handle
    const exit = () => {
      connected = false
      delete this.workers[id]
      metrics.detach()
      this.emit('exit', handle, 1, null)
    }
    return { metrics, collects, exit, silence: () => (silent = true) }
  }
}

const time = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
  const t0 = Date.now()
  const r = await f()
  return [r, Date.now() - t0]
}

describe('cluster metrics: the primary and its workers', () => {
  it('answers any worker with the sum over all workers, and no worker missing', async () => {
    const cluster = new Cluster()
    const primary = new ClusterMetricsPrimary(cluster, 5000)
    const a = cluster.add()
    const b = cluster.add()
    a.metrics.requests.inc({ code: '200', method: 'GET' }, 3)
    b.metrics.requests.inc({ code: '200', method: 'GET' }, 4)
    b.metrics.inFlight.inc()
    for (const w of [a, b]) {
      const [text, ms] = await time(() => w.metrics.text())
      expect(sampleValue(text, REQ)).toBe(7)
      expect(sampleValue(text, 'capiscio_gateway_in_flight_requests')).toBe(1)
      expect(sampleValue(text, WORKERS_MISSING)).toBe(0)
      expect(sampleValue(text, 'capiscio_gateway_worker_restarts_total')).toBe(0)
      expect(ms).toBeLessThan(2500) // no waiting for the 5 s timeout
    }
    primary.close()
  })

  it('answers after the timeout without a worker that does not answer, using its last numbers and saying so', async () => {
    const cluster = new Cluster()
    const primary = new ClusterMetricsPrimary(cluster, 300)
    const a = cluster.add()
    const b = cluster.add()
    a.metrics.requests.inc({ code: '200', method: 'GET' }, 3)
    b.metrics.requests.inc({ code: '200', method: 'GET' }, 4)
    expect(sampleValue(await a.metrics.text(), REQ)).toBe(7)
    // b stops answering (a stopped process) after counting more; a third worker never answers at all.
    b.silence()
    b.metrics.requests.inc({ code: '200', method: 'GET' }, 10)
    cluster.add({ silent: true })
    a.metrics.requests.inc({ code: '200', method: 'GET' })
    const [text, ms] = await time(() => a.metrics.text())
    expect(sampleValue(text, REQ)).toBe(8)
    expect(sampleValue(text, WORKERS_MISSING)).toBe(2)
    expect(ms).toBeGreaterThanOrEqual(290)
    primary.close()
  })

  it('does not wait for a worker whose report is malformed, and keeps its last good numbers', async () => {
    const cluster = new Cluster()
    const primary = new ClusterMetricsPrimary(cluster, 5000)
    const a = cluster.add()
    let corrupt = false
    const b = cluster.add({
      send: (m) =>
        corrupt && (m as { capiscio: string }).capiscio === 'metrics-report'
          ? { ...(m as object), metrics: [1] }
          : m,
    })
    a.metrics.requests.inc({ code: '200', method: 'GET' })
    b.metrics.requests.inc({ code: '200', method: 'GET' }, 2)
    expect(sampleValue(await a.metrics.text(), REQ)).toBe(3)
    corrupt = true
    b.metrics.requests.inc({ code: '200', method: 'GET' }, 10)
    const [text, ms] = await time(() => a.metrics.text())
    expect([sampleValue(text, REQ), sampleValue(text, WORKERS_MISSING)]).toEqual([3, 1])
    expect(ms).toBeLessThan(2500)
    primary.close()
  })

  it('keeps what a worker that exited had counted, so the sum never drops', async () => {
    const cluster = new Cluster()
    const primary = new ClusterMetricsPrimary(cluster, 5000)
    const a = cluster.add()
    const b = cluster.add()
    a.metrics.requests.inc({ code: '200', method: 'GET' }, 3)
    b.metrics.requests.inc({ code: '200', method: 'GET' }, 4)
    b.metrics.inFlight.inc(2)
    expect(sampleValue(await a.metrics.text(), REQ)).toBe(7)
    b.metrics.requests.inc({ code: '200', method: 'GET' }, 100) // after its last report: lost
    b.exit()
    primary.restarts.inc()
    const c = cluster.add()
    c.metrics.requests.inc({ code: '200', method: 'GET' })
    const text = await c.metrics.text()
    expect(sampleValue(text, REQ)).toBe(8)
    expect(sampleValue(text, 'capiscio_gateway_in_flight_requests')).toBe(0)
    expect(sampleValue(text, 'capiscio_gateway_worker_restarts_total')).toBe(1)
    expect(sampleValue(text, WORKERS_MISSING)).toBe(0)
    primary.close()
  })

  it('does not count a worker that exits during a collection as missing, nor wait for it', async () => {
    const cluster = new Cluster()
    const primary = new ClusterMetricsPrimary(cluster, 5000)
    const a = cluster.add()
    const b = cluster.add({ silent: true })
    a.metrics.requests.inc({ code: '200', method: 'GET' })
    const pending = time(() => a.metrics.text())
    setTimeout(b.exit, 100)
    const [text, ms] = await pending
    expect([sampleValue(text, REQ), sampleValue(text, WORKERS_MISSING)]).toEqual([1, 0])
    expect(ms).toBeLessThan(2500)
    primary.close()
  })

  it('collects once for scrapes that arrive together', async () => {
    const cluster = new Cluster()
    const primary = new ClusterMetricsPrimary(cluster, 5000)
    const a = cluster.add()
    const b = cluster.add()
    a.metrics.requests.inc({ code: '200', method: 'GET' })
    const texts = await Promise.all([a.metrics.text(), b.metrics.text(), a.metrics.text()])
    expect(texts.map((t) => sampleValue(t, REQ))).toEqual([1, 1, 1])
    expect([a.collects.length, b.collects.length]).toEqual([1, 1])
    await a.metrics.text()
    expect([a.collects.length, b.collects.length]).toEqual([2, 2])
    primary.close()
  })

  it('ignores messages that are not its own, and answers only the worker that asked', async () => {
    const cluster = new Cluster()
    const primary = new ClusterMetricsPrimary(cluster, 5000)
    const a = cluster.add()
    const b = cluster.add()
    const [handleA] = Object.values(cluster.workers)
    const sent: unknown[] = []
    const send = handleA!.send
    handleA!.send = (m, cb) => (sent.push(m), send(m, cb))
    // prom-client's own cluster request, and ours with a bad id: neither starts a collection.
    cluster.emit('message', handleA, { type: 'prom-client:getMetricsReq', requestId: 1 })
    cluster.emit('message', handleA, { capiscio: 'metrics-request', id: 'x' })
    // A report nobody asked for is not taken.
    cluster.emit('message', handleA, { capiscio: 'metrics-report', id: 99, metrics: [] })
    await new Promise((r) => setTimeout(r, 50))
    expect(sent).toEqual([])
    await b.metrics.text()
    expect(sent.map((m) => (m as { capiscio: string }).capiscio)).toEqual(['metrics-collect'])
    void a
    primary.close()
  })

  it('fails a scrape when the primary does not answer, rather than serving one worker as the sum', async () => {
    const channel = Object.assign(new EventEmitter(), {
      send: (_m: unknown, cb: (e: Error | null) => void) => (setImmediate(cb, null), true),
    })
    const metrics = new ClusterWorkerMetrics(channel, { timeoutMs: 200, processMetrics: false })
    await expect(metrics.text()).rejects.toThrow(/the cluster primary did not answer/)
    const closed = Object.assign(new EventEmitter(), {
      send: (_m: unknown, cb: (e: Error | null) => void) => (
        setImmediate(cb, new Error('channel closed')),
        false
      ),
    })
    const quiet = { processMetrics: false }
    await expect(new ClusterWorkerMetrics(closed, quiet).text()).rejects.toThrow(/closed/)
    await expect(new ClusterWorkerMetrics(new EventEmitter(), quiet).text()).rejects.toThrow(/no channel/)
  })
})
