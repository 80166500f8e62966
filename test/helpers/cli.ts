import { spawn } from 'node:child_process'
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'

import { BIN } from './paths.js'
import { tmpDir } from './tmp.js'

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

export interface CliOptions {
  cwd?: string
  env?: Record<string, string | undefined>
  input?: string
  timeoutMs?: number
}

/**
 * Runs the built CLI (bin/run.js) as a user would: a real child process, NODE_ENV=production, no
 * TTY, colour off unless a test asks. Stdin is closed (or fed `input`), as in CI.
 */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries({ ...process.env, NODE_ENV: 'production', ...options.env })) {
    if (v !== undefined && !k.startsWith('CAPISCIO_')) env[k] = v
  }
  for (const [k, v] of Object.entries(options.env ?? {})) if (v !== undefined) env[k] = v
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    // A CLI that stops reading an oversized input early closes the pipe; that is not a test failure.
    child.stdin.on('error', () => undefined)
    child.stdin.end(options.input ?? '')
  })
}

/** A fresh directory holding a client key pair in client/, with client-private.jwk beside it as our docs show. */
export async function clientKeyDir(): Promise<string> {
  const cwd = tmpDir()
  const r = await runCli(['key', 'gen', '--out', 'client', '-q'], { cwd })
  if (r.code !== 0) throw new Error(`key gen failed: ${r.stderr}`)
  copyFileSync(join(cwd, 'client', 'private.jwk'), join(cwd, 'client-private.jwk'))
  return cwd
}

/** The badge issue line from our documentation, run from a clientKeyDir(). */
export const DOC_ISSUE_ARGS = [
  'badge',
  'issue',
  '--sub',
  'did:capiscio:agent:client',
  '--domain',
  'client.example.com',
  '--key',
  './client-private.jwk',
]
