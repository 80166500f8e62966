import { afterEach } from '@jest/globals'

// oclif sets process.exitCode when a command fails; a failing test must not leak it into the next.
afterEach(() => {
  process.exitCode = undefined
})
