import { CapiscioError } from '../errors.js'
import type { HeaderBag } from './headers.js'
import type { Identity } from './identity.js'

/** An OpenAPI / A2A security scheme object, as an agent card's securitySchemes lists it. */
export type SecurityScheme = Record<string, unknown>

/**
 * Turns a request's headers into an Identity (docs/architecture.md §7). `authenticate` never
 * throws: a missing or invalid credential is null. It may answer synchronously or with a promise.
 */
export interface Authenticator {
  authenticate(headers: HeaderBag): Identity | null | Promise<Identity | null>
  /** The schemes to declare in an agent card's securitySchemes. */
  securitySchemes(): Record<string, SecurityScheme>
}

/** Hands a refusal to an authenticator's onError hook; a hook that throws changes nothing. */
export function reportRefusal(
  onError: ((error: CapiscioError) => void) | undefined,
  err: unknown,
  what: string,
): void {
  if (!onError) return
  try {
    onError(
      err instanceof CapiscioError
        ? err
        : new CapiscioError('INTERNAL_ERROR', `${what} verification failed`, { cause: err }),
    )
  } catch {
    // A failing logger must not turn a refusal into a crash.
  }
}
