import { expect } from '@jest/globals'

import { CapiscioError } from '../../src/lib/errors.js'

/** What a call throws synchronously (undefined if it returns): for verifiers that refuse at once. */
export function thrownBy(call: () => unknown): unknown {
  try {
    call()
  } catch (err) {
    return err
  }
  return undefined
}

/** The CapiscioError a promise rejects with; fails the test if it resolves or rejects with anything else. */
export async function rejection(p: Promise<unknown>): Promise<CapiscioError> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(CapiscioError)
    return err as CapiscioError
  }
  throw new Error('expected a CapiscioError')
}
