import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

import { describe, expect, it } from '@jest/globals'

import { ROOT } from '../helpers/paths.js'

// Node 20's crypto can deadlock when a freshly generated key is exported as a JWK while the garbage
// collector frees the job that generated it (both take the key's lock): the process hangs for good.
// generateKey hands out keys read back from DER, which share nothing with that job. This runs the
// built library in a child process, with a deadline, since a deadlocked process cannot fail a test
// itself. A stress test, not a deterministic one: before the fix, this loop (run alone) hung in about
// half the runs, somewhere between 2,000 and 12,000 keys.
const SCRIPT = `
import { generateKey } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'index.js')).href)}
const garbage = []
for (let n = 0; n < 20000; n++) {
  const key = await generateKey('EdDSA')
  key.privateKey.export({ format: 'jwk' })
  key.publicKey.export({ format: 'jwk' })
  // Allocation between keys, so that collections run often (as in any busy process).
  garbage.push('x'.repeat(100) + n)
  if (garbage.length > 5000) garbage.length = 0
}
console.log('done')
`

describe('generateKey', () => {
  it('does not deadlock when many fresh keys are exported as JWKs under collection pressure', () => {
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], {
      encoding: 'utf8',
      timeout: 120_000,
      killSignal: 'SIGKILL',
      env: { ...process.env, NODE_ENV: 'production' },
    })
    expect(run.signal).toBeNull() // SIGKILL: it hung past the deadline
    expect(run.stderr).toBe('')
    expect(run.stdout.trim()).toBe('done')
  }, 150_000)
})
