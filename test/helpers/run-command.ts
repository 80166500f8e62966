import { ROOT } from './paths.js'

const NODE_WARNING = /^\(node:\d+\) \[?\w*\]? ?\w*Warning: /

export interface CommandResult {
  stdout: string
  stderr: string
  exitCode: number
  /** What run() returned (the --json data), if it returned. */
  result: unknown
}

/**
 * Runs a command class in-process with stdout/stderr captured, the working directory and
 * CAPISCIO_* environment set for the call and restored after it.
 */
export async function runCommand(
  cmd: { run(argv: string[], root: string): Promise<unknown> },
  argv: string[],
  options: { cwd?: string; env?: Record<string, string | undefined> } = {},
): Promise<CommandResult> {
  const out: string[] = []
  const err: string[] = []
  const origOut = process.stdout.write.bind(process.stdout)
  const origErr = process.stderr.write.bind(process.stderr)
  const origCwd = process.cwd()
  const savedEnv = { ...process.env }
  for (const k of Object.keys(process.env)) if (k.startsWith('CAPISCIO_')) delete process.env[k]
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  process.stdout.write = ((chunk: string | Uint8Array) => (
    out.push(String(chunk)),
    true
  )) as typeof process.stdout.write
  process.stderr.write = ((chunk: string | Uint8Array) => {
    // Node's own process warnings (jest's VM-modules notice, oclif's development-mode notices) come
    // once per process, during whichever test first triggers them: they are not the command's output.
    if (!NODE_WARNING.test(String(chunk))) err.push(String(chunk))
    return true
  }) as typeof process.stderr.write
  if (options.cwd) process.chdir(options.cwd)
  let result: unknown
  try {
    result = await cmd.run(argv, ROOT)
  } finally {
    process.stdout.write = origOut
    process.stderr.write = origErr
    process.chdir(origCwd)
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k]
    Object.assign(process.env, savedEnv)
  }
  const exitCode = typeof process.exitCode === 'number' ? process.exitCode : 0
  process.exitCode = undefined
  return { stdout: out.join(''), stderr: err.join(''), exitCode, result }
}
