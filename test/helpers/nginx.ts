import { spawnSync } from 'node:child_process'
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { delimiter, join } from 'node:path'

import { startProgram, type Running } from './processes.js'
import { waitForHttp } from './servers.js'

/**
 * The nginx binary: NGINX if set, else `nginx` on PATH, else Debian's /usr/sbin/nginx (not on every
 * user's PATH). Missing, it is a failure that says how to install it, never a skipped test.
 */
export function nginxBinary(): string {
  const candidates = [
    ...(process.env.NGINX ? [process.env.NGINX] : []),
    ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'nginx')),
    '/usr/sbin/nginx',
  ]
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK)
      return c
    } catch {
      // next
    }
  }
  throw new Error('nginx not found (on PATH, or /usr/sbin/nginx): apt-get install -y nginx-light')
}

export interface Nginx {
  running: Running
  url: string
  prefix: string
  /** nginx's error log so far, for failure messages. */
  errors(): string
  /** Fast shutdown (SIGTERM: the master ends its worker), bounded; then SIGKILL to both. */
  stop(): Promise<void>
}

/**
 * Starts nginx in the foreground (daemon off, one worker) with its own prefix directory: its config,
 * pid, logs and temp paths all there, so it needs no /etc/nginx or /var/lib/nginx. `http` is the
 * body of the http block; it must listen on `port` (127.0.0.1). Root runs it with `user root;`, as
 * nginx would otherwise switch its worker to `nobody`, which cannot read the prefix.
 */
export async function startNginx(prefix: string, port: number, http: string): Promise<Nginx> {
  const bin = nginxBinary()
  mkdirSync(prefix, { recursive: true })
  const conf = join(prefix, 'nginx.conf')
  const errorLog = join(prefix, 'error.log')
  writeFileSync(
    conf,
    [
      process.getuid?.() === 0 ? 'user root;' : '',
      'worker_processes 1;',
      'daemon off;',
      `pid ${join(prefix, 'nginx.pid')};`,
      `error_log ${errorLog} info;`,
      'events { worker_connections 64; }',
      'http {',
      `  access_log ${join(prefix, 'access.log')};`,
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
        (t) => `  ${t}_temp_path ${join(prefix, t)};`,
      ),
      http,
      '}',
      '',
    ].join('\n'),
  )
  const args = ['-p', prefix, '-e', errorLog, '-c', conf]
  const check = spawnSync(bin, ['-t', '-q', ...args], { encoding: 'utf8', timeout: 10_000 })
  if (check.error)
    throw new Error(`cannot run ${bin}: ${check.error.message} (apt-get install -y nginx-light)`)
  if (check.status !== 0) throw new Error(`nginx -t refused the config:\n${check.stderr}\n${http}`)
  const running = startProgram(bin, args)
  const errors = () => {
    try {
      return readFileSync(errorLog, 'utf8')
    } catch {
      return ''
    }
  }
  const url = `http://127.0.0.1:${port}`
  try {
    await waitForHttp(`${url}/`, 10_000)
  } catch (err) {
    running.child.kill('SIGKILL')
    throw new Error(`${(err as Error).message}; nginx stderr:\n${running.stderr()}\n${errors()}`)
  }
  const pid = running.child.pid!
  return {
    running,
    url,
    prefix,
    errors,
    async stop() {
      if (running.child.exitCode !== null || running.child.signalCode !== null) return
      let workers: number[] = []
      try {
        workers = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).map(Number)
      } catch {
        // no /proc: the master's SIGTERM is the only way
      }
      const timer = setTimeout(() => {
        for (const w of workers.filter((w) => w > 0))
          try {
            process.kill(w, 'SIGKILL')
          } catch {
            // already gone
          }
        running.child.kill('SIGKILL')
      }, 5000)
      await running.stop('SIGTERM')
      clearTimeout(timer)
    },
  }
}
