import { spawn, type ChildProcess } from 'node:child_process'

import { BIN } from './paths.js'

export interface Running {
  child: ChildProcess
  /** Everything written to stderr so far. */
  stderr(): string
  /** Resolves with the exit code. */
  exited: Promise<number | null>
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

const running = new Set<Running>()

/** Starts the built CLI as a long-running child process (gateway start, badge keep). */
export function startCli(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; detached?: boolean } = {},
): Running {
  return startProgram(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    env: { ...process.env, NODE_ENV: 'production', ...options.env },
    detached: options.detached,
  })
}

/** Starts any program (redis-server, the CLI) as a child process that stopAll() ends. */
export function startProgram(
  cmd: string,
  args: string[],
  /** detached: a process group of its own, for a signal to the whole group (`kill -- -pgid`). */
  options: { cwd?: string; env?: NodeJS.ProcessEnv; detached?: boolean } = {},
): Running {
  const child = spawn(cmd, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  child.stdout!.resume()
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  const r: Running = {
    child,
    stderr: () => err,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      const code = await exited
      running.delete(r)
      return code
    },
  }
  running.add(r)
  return r
}

/** A real redis-server on loopback `port`, keeping nothing on disk; stopAll() ends it. */
export function startRedis(port: number): Running {
  return startProgram('redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ])
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((r) => r.stop('SIGKILL')))
}

/** Waits until a child's stderr matches, or fails after `ms` showing what it printed. */
export async function waitForOutput(r: Running, pattern: RegExp, ms = 15_000): Promise<void> {
  const until = Date.now() + ms
  while (!pattern.test(r.stderr())) {
    if (Date.now() > until || r.child.exitCode !== null)
      throw new Error(`timed out waiting for ${pattern}; stderr:\n${r.stderr()}`)
    await new Promise((res) => setTimeout(res, 50))
  }
}

/** Peak resident memory (VmHWM) of a process in MiB, from /proc. */
export async function peakRssMiB(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN)
  return kb / 1024
}
