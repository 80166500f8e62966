import type { Cluster, Worker } from 'node:cluster'

import { ClusterMetricsPrimary, ClusterWorkerMetrics } from './lib/gateway/cluster-metrics.js'
import { checkGatewaySettings, startGateway, type GatewaySettings } from './lib/gateway/start.js'
import { formatLogLine } from './lib/gateway/log.js'
import { logTime } from './lib/time.js'

interface ProcessOptions {
  format: 'text' | 'json'
  /** A line per request (default); false for --log-format off. */
  requestLog?: boolean
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

/**
 * Waits for SIGTERM or SIGINT. A repeat does not cut the drain short: the handlers stay, so a second
 * signal is not the default action (death, with requests in flight and log lines unwritten). Repeats
 * are common and innocent: `kill` of a process group (systemd's control-group mode, `tini -g`, a
 * terminal's Ctrl-C) reaches every worker beside the primary's own SIGTERM. The drain timeout bounds
 * the wait; SIGKILL ends it at once.
 */
function signal(
  onRepeat?: (s: NodeJS.Signals) => void,
  /** Stops keeping the process alive for a signal once this settles (the primary's failed start). */
  until?: Promise<unknown>,
): Promise<NodeJS.Signals> {
  const keepAlive = setInterval(() => undefined, 1 << 30)
  void until?.finally(() => clearInterval(keepAlive))
  let first: NodeJS.Signals | undefined
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals) => {
      if (first !== undefined) return onRepeat?.(s)
      first = s
      clearInterval(keepAlive)
      resolve(s)
    }
    process.on('SIGTERM', on)
    process.on('SIGINT', on)
  })
}

/** What a signal after the first says: nothing in a worker of ours (the primary passes every signal on). */
function repeatNote(o: ProcessOptions): ((s: NodeJS.Signals) => void) | undefined {
  if (o.workers > 1 && o.cluster.isWorker) return undefined
  return (s) => note(o, 'info', `${s}: already draining (up to the drain timeout; SIGKILL stops at once)`)
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
  let gateway: Awaited<ReturnType<typeof startGateway>>
  try {
    gateway = await startGateway(settings, {
      // Off, the gateway is not even handed the entries: a request log costs a few per cent of the
      // CPU per proxied request (bench/RESULTS.md).
      onLog: o.requestLog === false ? undefined : (entry) => log.write(formatLogLine(entry, o.format) + '\n'),
      onWarning: (m) => note(o, 'warn', m),
      metrics,
    })
  } catch (err) {
    if (o.workers > 1 && o.cluster.isWorker) leaveAfterFailedStart(o, metrics)
    throw err
  }
  note(
    o,
    'info',
    `capiscio gateway ${gateway.summary}${o.cluster.isWorker ? ` [worker ${process.pid}]` : ''}`,
  )
  const sig = await signal(repeatNote(o))
  note(o, 'info', `${sig}: draining in-flight requests`)
  await gateway.close()
  log.flush()
  note(o, 'info', 'stopped')
  // A cluster worker's IPC channel would keep it alive; let go of it so the worker exits.
  metrics?.detach()
  o.cluster.worker?.disconnect()
}

/**
 * A worker that could not start (a missing key file, the port taken) lets go of its IPC channel,
 * which would otherwise keep it alive, listening nowhere: the command prints the error and sets the
 * exit code, and the process ends (at the latest after 2 s, should anything the failed start made
 * still hold it), which the primary sees.
 */
function leaveAfterFailedStart(o: ProcessOptions, metrics: ClusterWorkerMetrics | undefined): void {
  metrics?.detach()
  o.cluster.worker?.disconnect()
  setTimeout(() => process.exit(), 2000).unref()
}

/** The longest wait before starting a worker again after workers that failed before they listened. */
const MAX_RESTART_DELAY_MS = 30_000

async function runPrimary(o: ProcessOptions): Promise<void> {
  let stopping = false
  // Answers the workers' /metrics with the sum over all of them; the primary itself listens on no port.
  const metrics = new ClusterMetricsPrimary(o.cluster)
  const exits = new Map<Worker, Promise<void>>()
  /** Until every first worker has listened, a worker that cannot start stops the gateway. */
  let starting = o.workers
  let startFailed!: (exitCode: number) => void
  const failedStart = new Promise<number>((resolve) => (startFailed = resolve))
  let restartDelay = 500
  const fork = () => {
    const worker = o.cluster.fork()
    const pid = worker.process.pid
    let listening = false
    worker.once('listening', () => {
      listening = true
      restartDelay = 500
      if (starting > 0) starting--
    })
    exits.set(
      worker,
      new Promise((resolve) =>
        worker.once('exit', (code, sig) => {
          exits.delete(worker)
          if (stopping) return resolve()
          if (!listening && starting > 0) {
            startFailed(code || 1)
            return resolve()
          }
          const how = sig ? `killed by ${sig}` : `exit code ${code}`
          note(
            o,
            'warn',
            `worker ${pid} ${listening ? 'exited' : 'could not start'} (${how}); starting another${listening ? '' : ` in ${restartDelay / 1000} s`}`,
          )
          metrics.restarts.inc()
          setTimeout(fork, listening ? 500 : restartDelay).unref()
          // A replacement that cannot start (its key file gone since) is retried less and less often,
          // while the workers still up keep serving.
          if (!listening) restartDelay = Math.min(restartDelay * 2, MAX_RESTART_DELAY_MS)
          resolve()
        }),
      ),
    )
  }
  for (let i = 0; i < o.workers; i++) fork()
  note(o, 'info', `capiscio gateway primary ${process.pid}: ${o.workers} workers`)
  const ended = await Promise.race([
    signal(repeatNote(o), failedStart),
    failedStart.then((code) => ({ code })),
  ])
  stopping = true
  for (const w of exits.keys()) if (!w.isDead()) w.process.kill('SIGTERM')
  await Promise.all(exits.values())
  metrics.close()
  if (typeof ended === 'object') {
    // The worker printed why; the gateway exits as one process would have, with its exit code.
    note(o, 'warn', `a worker could not start (exit code ${ended.code}); stopped`)
    process.exitCode = ended.code
    return
  }
  note(o, 'info', `${ended}: all workers stopped`)
}
