/**
 * One `/metrics` for `--workers N` (docs/deployment.md, "Workers"). The worker that gets the scrape
 * asks the primary over the cluster IPC channel; the primary asks every live worker for its registry
 * as JSON, waits at most COLLECT_TIMEOUT_MS, sums the answers (prom-client's
 * `AggregatorRegistry.aggregate`) and sends the text back. The primary listens on no port.
 *
 * Messages are plain objects whose `capiscio` field names their kind, so they cannot be taken for
 * prom-client's or anybody else's cluster messages:
 *
 *   worker → primary   {capiscio: 'metrics-request', id}           the sum, please (id: the worker's own)
 *   primary → workers  {capiscio: 'metrics-collect', id}           your numbers, please (id: the primary's)
 *   worker → primary   {capiscio: 'metrics-report', id, metrics}   getMetricsAsJSON(), values encoded
 *   primary → worker   {capiscio: 'metrics-answer', id, text}      the Prometheus text
 *
 * A worker's message is never more than data for the sum: a report that is not a well-formed list of
 * metrics is dropped (that worker counts as missing), a worker cannot name a metric the primary owns,
 * and how each metric is combined is the primary's choice by name (AGGREGATION), never the report's.
 *
 * Summed counters stay monotonic, so `rate()` sees no false resets: a worker that does not answer in
 * time is represented by its last answer, and when a worker exits its last counters and histograms
 * are kept and added to every later sum (what it counted after its last answer is lost).
 */
import type { EventEmitter } from 'node:events'

import { AggregatorRegistry, Counter, Registry, type Aggregator } from 'prom-client'

import { GatewayMetrics } from './metrics.js'

/** How long the primary waits for each worker's numbers before answering without them. */
export const COLLECT_TIMEOUT_MS = 1000
/** How long a worker waits for the primary's sum before failing the scrape. */
export const ANSWER_TIMEOUT_MS = 3000

export const WORKERS_MISSING = 'capiscio_gateway_metrics_workers_missing'
export const WORKER_RESTARTS = 'capiscio_gateway_worker_restarts_total'
/** Names only the primary may report. */
const PRIMARY_OWNED = new Set([WORKERS_MISSING, WORKER_RESTARTS])

/**
 * How a metric is combined over workers, by name; every other metric (all counters and histograms,
 * `capiscio_gateway_in_flight_requests`, memory, handles, heap) is summed. The event-loop and version
 * entries are prom-client's own choices for its default metrics; the rest are ours:
 * `process_start_time_seconds` is the youngest worker's start (prom-client omits it; a change marks a
 * worker restart), and file descriptors are per process, so the busiest worker's count is shown
 * against the (per-process) limit and `process_open_fds / process_max_fds` keeps its meaning.
 */
export const AGGREGATION: Readonly<Record<string, Aggregator>> = {
  nodejs_version_info: 'first',
  nodejs_eventloop_lag_seconds: 'average',
  nodejs_eventloop_lag_min_seconds: 'min',
  nodejs_eventloop_lag_max_seconds: 'max',
  nodejs_eventloop_lag_mean_seconds: 'average',
  nodejs_eventloop_lag_stddev_seconds: 'average',
  nodejs_eventloop_lag_p50_seconds: 'average',
  nodejs_eventloop_lag_p90_seconds: 'average',
  nodejs_eventloop_lag_p99_seconds: 'average',
  process_start_time_seconds: 'max',
  process_open_fds: 'max',
  process_max_fds: 'min',
}

type MetricKind = 'counter' | 'gauge' | 'histogram' | 'summary'
const KINDS = new Set<string>(['counter', 'gauge', 'histogram', 'summary'])

/** One sample: a value, its labels, and for histograms the series name (`…_bucket`, `…_sum`, `…_count`). */
export interface SampleJson {
  value: number
  labels: Record<string, string | number>
  metricName?: string
}

/** One metric as `Registry.getMetricsAsJSON()` gives it (prom-client types `type` as an enum; it is this string). */
export interface MetricJson {
  name: string
  help: string
  type: MetricKind
  values: SampleJson[]
}

/** On the wire, non-finite values are strings: the channel's JSON would turn them into null. */
type WireValue = number | 'NaN' | '+Inf' | '-Inf'

function encodeValue(v: number): WireValue {
  if (Number.isFinite(v)) return v
  return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf'
}

function decodeValue(v: unknown): number | undefined {
  if (typeof v === 'number') return v
  return v === 'NaN' ? NaN : v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : undefined
}

/** A registry's metrics as a worker sends them. */
export async function encodeReport(registry: Registry): Promise<unknown[]> {
  const metrics = (await registry.getMetricsAsJSON()) as unknown as MetricJson[]
  return metrics.map((m) => ({
    name: m.name,
    help: m.help,
    type: m.type,
    values: m.values.map((s) => ({
      value: encodeValue(s.value),
      labels: s.labels,
      ...(s.metricName === undefined ? {} : { metricName: s.metricName }),
    })),
  }))
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const LIMITS = { metrics: 1000, samples: 10_000, labels: 32, text: 1024 }

const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x)

function readSample(x: unknown, name: string): SampleJson | undefined {
  if (!isRecord(x) || !isRecord(x.labels)) return undefined
  const value = decodeValue(x.value)
  if (value === undefined) return undefined
  const entries = Object.entries(x.labels)
  if (entries.length > LIMITS.labels) return undefined
  const labels: Record<string, string | number> = {}
  for (const [k, v] of entries) {
    if (!LABEL_NAME.test(k)) return undefined
    if (typeof v === 'number' || (typeof v === 'string' && v.length <= LIMITS.text)) labels[k] = v
    else return undefined
  }
  const sample: SampleJson = { value, labels }
  if (x.metricName !== undefined) {
    const metricName = x.metricName
    if (typeof metricName !== 'string' || !metricName.startsWith(name) || !METRIC_NAME.test(metricName))
      return undefined
    sample.metricName = metricName
  }
  return sample
}

/**
 * A worker's report, checked: a list of metrics with valid names, known types, bounded sizes and
 * numeric values, none owned by the primary and none twice; anything else gives undefined.
 */
export function readReport(x: unknown): MetricJson[] | undefined {
  if (!Array.isArray(x) || x.length > LIMITS.metrics) return undefined
  const seen = new Set<string>()
  const out: MetricJson[] = []
  for (const m of x as unknown[]) {
    if (!isRecord(m)) return undefined
    const { name, help, type, values } = m
    if (typeof name !== 'string' || !METRIC_NAME.test(name) || PRIMARY_OWNED.has(name) || seen.has(name))
      return undefined
    if (typeof help !== 'string' || help.length > LIMITS.text) return undefined
    if (typeof type !== 'string' || !KINDS.has(type)) return undefined
    if (!Array.isArray(values) || values.length > LIMITS.samples) return undefined
    const samples: SampleJson[] = []
    for (const v of values as unknown[]) {
      const sample = readSample(v, name)
      if (!sample) return undefined
      samples.push(sample)
    }
    seen.add(name)
    out.push({ name, help, type: type as MetricKind, values: samples })
  }
  return out
}

/**
 * The sum of several registries' metrics as Prometheus text: each metric combined over the reports
 * as AGGREGATION says (default: sum), samples matched by series name and labels. A metric whose type
 * differs from the first report's is left out of that report.
 */
export async function aggregateText(reports: readonly (readonly MetricJson[])[]): Promise<string> {
  const kinds = new Map<string, MetricKind>()
  const agrees = (m: MetricJson) => {
    if (!kinds.has(m.name)) kinds.set(m.name, m.type)
    return kinds.get(m.name) === m.type
  }
  const lists = reports.map((report) =>
    report.filter(agrees).map((m) => ({ ...m, aggregator: AGGREGATION[m.name] ?? 'sum' })),
  )
  return AggregatorRegistry.aggregate(lists).metrics()
}

const sampleKey = (s: SampleJson) =>
  `${s.metricName ?? ''}\n${JSON.stringify(Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : 1)))}`

/** `kept` plus a report's counters and histograms, summed sample by sample (for workers that exited). */
export function addCounters(kept: readonly MetricJson[], report: readonly MetricJson[]): MetricJson[] {
  const out = new Map<string, MetricJson>()
  for (const m of kept) out.set(m.name, { ...m, values: m.values.map((s) => ({ ...s })) })
  for (const m of report) {
    if (m.type !== 'counter' && m.type !== 'histogram') continue
    let acc = out.get(m.name)
    if (!acc) out.set(m.name, (acc = { name: m.name, help: m.help, type: m.type, values: [] }))
    if (acc.type !== m.type) continue
    const index = new Map(acc.values.map((s) => [sampleKey(s), s]))
    for (const s of m.values) {
      const found = index.get(sampleKey(s))
      if (found) found.value += s.value
      else acc.values.push({ ...s })
    }
  }
  return [...out.values()]
}

// ---------------------------------------------------------------------------------------------------
// The channel

type Message =
  | { capiscio: 'metrics-request'; id: number }
  | { capiscio: 'metrics-collect'; id: number }
  | { capiscio: 'metrics-report'; id: number; metrics: unknown }
  | { capiscio: 'metrics-answer'; id: number; text: string }

/** Our messages only: an object with a known `capiscio` kind and an integer id. */
function ours(x: unknown): Message | undefined {
  if (!isRecord(x) || typeof x.capiscio !== 'string' || !Number.isSafeInteger(x.id) || (x.id as number) < 0)
    return undefined
  switch (x.capiscio) {
    case 'metrics-request':
    case 'metrics-collect':
    case 'metrics-report':
      return x as Message
    case 'metrics-answer':
      return typeof x.text === 'string' ? (x as Message) : undefined
    default:
      return undefined
  }
}

/** A sent message's outcome: an error (the channel closed) is the same as no answer. */
const ignore = () => undefined

/** What the primary needs of a cluster worker (`cluster.Worker` is one). */
export interface WorkerLike {
  send(message: unknown, callback: (error: Error | null) => void): boolean
  isConnected(): boolean
}

/** What the primary needs of the cluster (`node:cluster` is one): its workers and their events. */
export interface ClusterLike extends Pick<EventEmitter, 'on' | 'off'> {
  readonly workers?: NodeJS.Dict<WorkerLike>
}

/** What a worker needs of its IPC channel to the primary (`process` in a cluster worker). */
export interface ChannelLike extends Pick<EventEmitter, 'on' | 'off'> {
  send?(message: unknown, callback: (error: Error | null) => void): boolean
}

interface Collection {
  /** Workers asked that have not answered yet. */
  waiting: Set<WorkerLike>
  /** Workers whose answer was not a well-formed report. */
  bad: Set<WorkerLike>
  done(): void
}

/**
 * The primary's side: answers each worker's `metrics-request` with the sum over all workers (and its
 * own metrics: worker restarts, and how many workers did not answer this time). Concurrent requests
 * share one collection.
 */
export class ClusterMetricsPrimary {
  /** Metrics only the primary knows; `restarts` is counted by whoever restarts workers. */
  readonly registry = new Registry()
  readonly restarts = new Counter({
    name: WORKER_RESTARTS,
    help: 'Workers that exited and were replaced (the summed worker metrics keep what they had counted).',
    registers: [this.registry],
  })
  /** Each live worker's latest good report. */
  private readonly last = new Map<WorkerLike, MetricJson[]>()
  /** The counters and histograms of workers that exited. */
  private kept: MetricJson[] = []
  private readonly collections = new Map<number, Collection>()
  private seq = 0
  private current?: Promise<string>

  constructor(
    private readonly cluster: ClusterLike,
    private readonly timeoutMs = COLLECT_TIMEOUT_MS,
  ) {
    cluster.on('message', this.onMessage)
    cluster.on('exit', this.onExit)
  }

  close(): void {
    this.cluster.off('message', this.onMessage)
    this.cluster.off('exit', this.onExit)
    for (const c of this.collections.values()) c.done()
  }

  /** The sum over all workers as Prometheus text; never rejects, answers within about the timeout. */
  text(): Promise<string> {
    this.current ??= this.collect().finally(() => (this.current = undefined))
    return this.current
  }

  private readonly onMessage = (worker: WorkerLike, raw: unknown): void => {
    const message = ours(raw)
    if (message?.capiscio === 'metrics-request') {
      // text() does not fail; if it ever did, the worker's own timeout answers its scrape.
      void this.text().then((text) => {
        if (worker.isConnected()) worker.send({ capiscio: 'metrics-answer', id: message.id, text }, ignore)
      }, ignore)
    } else if (message?.capiscio === 'metrics-report') {
      // Only an answer to a collection the primary started, and only from a worker it asked.
      if (message.id > this.seq || !this.last.has(worker)) return
      const report = readReport(message.metrics)
      if (report) this.last.set(worker, report)
      const c = this.collections.get(message.id)
      if (!c?.waiting.delete(worker)) return
      if (!report) c.bad.add(worker)
      if (c.waiting.size === 0) c.done()
    }
  }

  private readonly onExit = (worker: WorkerLike): void => {
    const report = this.last.get(worker)
    if (report) this.kept = addCounters(this.kept, report)
    this.last.delete(worker)
    for (const c of this.collections.values()) if (c.waiting.delete(worker) && c.waiting.size === 0) c.done()
  }

  private async collect(): Promise<string> {
    const id = ++this.seq
    const waiting = new Set<WorkerLike>()
    const bad = new Set<WorkerLike>()
    for (const worker of Object.values(this.cluster.workers ?? {})) {
      if (!worker?.isConnected()) continue
      // A worker that has never answered is known by an empty report until it does.
      if (!this.last.has(worker)) this.last.set(worker, [])
      waiting.add(worker)
      worker.send({ capiscio: 'metrics-collect', id }, ignore)
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => done(), this.timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.collections.delete(id)
        resolve()
      }
      this.collections.set(id, { waiting, bad, done })
      if (waiting.size === 0) done()
    })
    // Workers that exited meanwhile are not missing: what they counted is in `kept`.
    const missing = [...waiting, ...bad].filter((w) => this.last.has(w)).length
    const own = (await this.registry.getMetricsAsJSON()) as unknown as MetricJson[]
    own.push({
      name: WORKERS_MISSING,
      help: `Workers that did not answer this scrape within ${this.timeoutMs / 1000} s (their last numbers are used).`,
      type: 'gauge',
      values: [{ value: missing, labels: {} }],
    })
    return aggregateText([...this.last.values(), this.kept, own])
  }
}

/**
 * A worker's metrics: counted here as in one process, but `text()` (what `/metrics` serves) is the
 * cluster's sum, asked of the primary. Also answers the primary's collections with this registry.
 */
export class ClusterWorkerMetrics extends GatewayMetrics {
  private seq = 0
  private readonly waiting = new Map<number, (text: string) => void>()

  private readonly timeoutMs: number

  constructor(
    private readonly channel: ChannelLike,
    options: { timeoutMs?: number; processMetrics?: boolean } = {},
  ) {
    super({ processMetrics: options.processMetrics })
    this.timeoutMs = options.timeoutMs ?? ANSWER_TIMEOUT_MS
    channel.on('message', this.onMessage)
  }

  /** Stops answering the primary (before the worker lets go of its channel). */
  detach(): void {
    this.channel.off('message', this.onMessage)
  }

  /**
   * The sum over all workers. Rejects when the primary does not answer within the timeout: a failed
   * scrape leaves a gap that `rate()` bridges, where this worker's numbers alone would look like a
   * counter reset.
   */
  override text(): Promise<string> {
    const id = ++this.seq
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer)
        this.waiting.delete(id)
        reject(new Error(`metrics: ${why}`))
      }
      const timer = setTimeout(() => fail('the cluster primary did not answer'), this.timeoutMs)
      this.waiting.set(id, (text) => {
        clearTimeout(timer)
        this.waiting.delete(id)
        resolve(text)
      })
      if (!this.channel.send) return fail('no channel to the cluster primary')
      this.channel.send({ capiscio: 'metrics-request', id }, (err) => {
        if (err) fail('the channel to the cluster primary is closed')
      })
    })
  }

  private readonly onMessage = (raw: unknown): void => {
    const message = ours(raw)
    if (message?.capiscio === 'metrics-answer') this.waiting.get(message.id)?.(message.text)
    else if (message?.capiscio === 'metrics-collect') void this.report(message.id)
  }

  private async report(id: number): Promise<void> {
    const metrics = await encodeReport(this.registry).catch(() => null)
    this.channel.send?.({ capiscio: 'metrics-report', id, metrics }, ignore)
  }
}
