import { execFileSync } from 'node:child_process'

const found = new Map<string, string>()

/**
 * A Python interpreter that can import every module named (e.g. "cryptography", "jwt"): the first
 * of $PYTHON, python3 on PATH, and Debian's /usr/bin/python3 (.ci/run installs python3-cryptography
 * and python3-jwt there).
 */
export function pythonWith(...modules: string[]): string {
  const key = modules.join(',')
  const known = found.get(key)
  if (known) return known
  for (const candidate of [process.env.PYTHON, 'python3', '/usr/bin/python3']) {
    if (!candidate) continue
    try {
      execFileSync(candidate, ['-c', `import ${key}`], { stdio: 'ignore' })
      found.set(key, candidate)
      return candidate
    } catch {
      // try the next one
    }
  }
  throw new Error(`no python3 that can import ${key}; install the Debian packages .ci/run names`)
}

/** A Python interpreter that has `cryptography` (the library the Python SDK uses). */
export function pythonWithCryptography(): string {
  return pythonWith('cryptography')
}
