import { execFileSync } from 'node:child_process'

let found: string | undefined

/**
 * A Python interpreter that has `cryptography` (the library the Python SDK uses): the first of
 * $PYTHON, python3 on PATH, and Debian's /usr/bin/python3 (.ci/run installs python3-cryptography).
 */
export function pythonWithCryptography(): string {
  if (found) return found
  for (const candidate of [process.env.PYTHON, 'python3', '/usr/bin/python3']) {
    if (!candidate) continue
    try {
      execFileSync(candidate, ['-c', 'import cryptography'], { stdio: 'ignore' })
      return (found = candidate)
    } catch {
      // try the next one
    }
  }
  throw new Error('no python3 with the cryptography package; install python3-cryptography')
}
