// The official A2A JS SDK (@a2a-js/sdk) on both ends. The SDK's types are matched by shape, not
// imported: the library must load without the SDK installed.
import type { Authenticator } from './authenticator.js'
import { getIdentity } from './context.js'
import type { HeaderBag } from './headers.js'
import { asIdentity, type Identity } from './identity.js'

/**
 * The SDK's `User` (isAuthenticated, userName) carrying the verified Identity: an AgentExecutor
 * reaches it as `requestContext.context.user.identity`.
 */
export class CapiscioUser {
  readonly identity: Identity | null
  constructor(identity: Identity | null) {
    // Anything but an Identity is no one: isAuthenticated never says yes to undefined or {}.
    this.identity = asIdentity(identity)
  }

  get isAuthenticated(): boolean {
    return this.identity !== null
  }

  /** The identity's id ("" when anonymous, as the SDK's UnauthenticatedUser). */
  get userName(): string {
    return this.identity?.id ?? ''
  }
}

/**
 * The SDK's `UserBuilder` (`jsonRpcHandler({ userBuilder })`, `restHandler`): the caller verified
 * by authMiddleware in front (no second verification), else by the authenticator given here. A
 * request without a valid credential becomes an unauthenticated user; put authMiddleware in
 * front to refuse it with a 401 instead.
 */
export function a2aUserBuilder(
  authenticator?: Authenticator,
): (req: { headers: HeaderBag }) => Promise<CapiscioUser> {
  return async (req) => {
    let identity = getIdentity()
    if (identity === null && authenticator) {
      try {
        identity = asIdentity(await authenticator.authenticate(req.headers))
      } catch {
        identity = null
      }
    }
    return new CapiscioUser(identity)
  }
}

/** What an interceptor's `before` receives from the SDK client, reduced to what is used here. */
interface BeforeArgs {
  options?: { serviceParameters?: Record<string, string> }
}

export interface CredentialInterceptorOptions {
  /**
   * Where each call's credential comes from: a BadgeKeeper (its current() renews a badge before
   * it expires) or any function returning a token.
   */
  credential: { current(): Promise<string> } | (() => string | Promise<string>)
  /** The header it travels in: "authorization" (as a Bearer token, the default) or "x-capiscio-badge". */
  header?: 'authorization' | 'x-capiscio-badge'
}

/**
 * A `CallInterceptor` for the SDK client (`new ClientFactory(ClientFactoryOptions.createFrom(
 * ClientFactoryOptions.default, { clientConfig: { interceptors: [credentialInterceptor(…)] } }))`)
 * that puts a fresh credential on every call, so a long-running client keeps calling a protected
 * agent past any one badge's lifetime.
 */
export function credentialInterceptor(options: CredentialInterceptorOptions): {
  before(args: BeforeArgs): Promise<void>
  after(): Promise<void>
} {
  const source = options.credential
  const next = typeof source === 'function' ? source : () => source.current()
  const header = options.header ?? 'authorization'
  return {
    async before(args) {
      const token = await next()
      const opts = (args.options ??= {})
      const params = (opts.serviceParameters ??= {})
      // One credential header: drop any spelling of it set earlier, then set ours.
      for (const name of Object.keys(params)) if (name.toLowerCase() === header) delete params[name]
      params[header === 'authorization' ? 'Authorization' : 'X-Capiscio-Badge'] =
        header === 'authorization' ? `Bearer ${token}` : token
    },
    async after() {},
  }
}
