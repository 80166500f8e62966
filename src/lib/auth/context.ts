import { AsyncLocalStorage } from 'node:async_hooks'

import type { Identity } from './identity.js'

/**
 * The caller's identity for the request being handled. AsyncLocalStorage carries it through every
 * await and callback started inside the request, and nowhere else: two requests in flight at once
 * each see their own.
 */
const storage = new AsyncLocalStorage<Identity | null>()

/** The identity of the request this code runs for, or null (anonymous, or outside any request). */
export function getIdentity(): Identity | null {
  return storage.getStore() ?? null
}

/** Runs fn with identity as the current request's identity. */
export function runWithIdentity<T>(identity: Identity | null, fn: () => T): T {
  return storage.run(identity, fn)
}
