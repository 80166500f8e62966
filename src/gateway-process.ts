import type { Cluster, Worker } from 'node:cluster'

import { ClusterMetricsPrimary, ClusterWorkerMetrics } from './lib/gateway/cluster-metrics.js'
import { checkGatewaySettings, startGateway, type GatewaySettings } from './lib/gateway/start.js'
import { formatLogLine } from './lib/gateway/log.js'
import { logTime } from './lib/time.js'

interface ProcessOptions {
  format: 'text' | 'json'
  workers: number
  cluster: Cluster
  /** -q: no info lines (start, drain, stop); warnings and the request log stay. */
  quiet?: boolean
}

function note(o: Pick<ProcessOptions, 'format' | 'quiet'>, level: 'info' | 'warn', message: string): void {
  if (level === 'info' && o.quiet) return
  const line =
    o.format === 'json'
      ? JSON.stringify({ time: new Date().toISOString(), level, message })
      : `${logTime()} ${message}`
  process.stderr.write(line + '\n')
}

/**
 * Collects log lines and writes them once per event-loop turn: under load that is one write(2) for
 * many requests instead of one each (stderr to a file or pipe is synchronous in Node).
 */
function batchedWriter(stream: NodeJS.WriteStream): { write(line: string): void; flush(): void } {
  let pending: string[] = []
  const flush = () => {
    if (pending.length === 0) return
    const text = pending.join('')
    pending = []
    stream.write(text)
  }
  return {
    write(line) {
      if (pending.push(line) === 1) setImmediate(flush)
    },
    flush,
  }
}

/** Waits for SIGTERM or SIGINT. */
function signal(): Promise<NodeJS.Signals> {
  const keepAlive = setInterval(() => undefined, 1 << 30)
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals) => {
      clearInterval(keepAlive)
      resolve(s)
    }
    process.once('SIGTERM', on)
    process.once('SIGINT', on)
  })
}

/**
 * Runs the gateway as the process's job: one server, or with --workers N a primary that forks N
 * servers on one port, restarts any that die, and passes SIGTERM on for a graceful drain.
 */
export async function runGatewayProcess(settings: GatewaySettings, o: ProcessOptions): Promise<void> {
  if (o.workers > 1 && o.cluster.isPrimary) {
    // Fail on settings errors in the primary, rather than in N workers at once.
    await checkGatewaySettings(settings, o.workers)
    return runPrimary(o)
  }
  const log = batchedWriter(process.stderr)
  // A worker's /metrics is the sum over all workers, asked of the primary (cluster-metrics.ts). Only
  // under our own primary: a process that is a worker of somebody else's cluster (pm2) runs as one.
  const metrics = o.workers > 1 && o.cluster.isWorker ? new ClusterWorkerMetrics(process) : undefined
  const gateway = await startGateway(settings, {
    onLog: (entry) => log.write(formatLogLine(entry, o.format) + '\n'),
    onWarning: (m) => note(o, 'warn', m),
    metrics,
  })
  note(
    o,
    'info',
    `capiscio gateway ${gateway.summary}${o.cluster.isWorker ? ` [worker ${process.pid}]` : ''}`,
  )
  const sig = await signal()
  note(o, 'info', `${sig}: draining in-flight requests`)
  await gateway.close()
  log.flush()
  note(o, 'info', 'stopped')
  // A cluster worker's IPC channel would keep it alive; let go of it so the worker exits.
  metrics?.detach()
  o.cluster.worker?.disconnect()
}

async function runPrimary(o: ProcessOptions): Promise<void> {
  let stopping = false
  // Answers the workers' /metrics with the sum over all of them; the primary itself listens on no port.
  const metrics = new ClusterMetricsPrimary(o.cluster)
  const exits = new Map<Worker, Promise<void>>()
  const fork = () => {
    const worker = o.cluster.fork()
    exits.set(
      worker,
      new Promise((resolve) =>
        worker.once('exit', (code) => {
          exits.delete(worker)
          if (!stopping) {
            note(o, 'warn', `worker ${worker.process.pid} exited (${code}); starting another`)
            metrics.restarts.inc()
            setTimeout(fork, 500).unref()
          }
          resolve()
        }),
      ),
    )
  }
  for (let i = 0; i < o.workers; i++) fork()
  note(o, 'info', `capiscio gateway primary ${process.pid}: ${o.workers} workers`)
  const sig = await signal()
  stopping = true
  for (const w of exits.keys()) w.process.kill('SIGTERM')
  await Promise.all(exits.values())
  metrics.close()
  note(o, 'info', `${sig}: all workers stopped`)
}
