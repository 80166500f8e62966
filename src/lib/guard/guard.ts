import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { KeyObject } from 'node:crypto'

import { isIssuer } from '../badge/claims.js'
import { CapiscioError } from '../errors.js'
import type { ReplayStore } from '../gateway/types.js'
import { didKeyOf } from '../keys/didkey.js'
import { generateKey } from '../keys/generate.js'
import { TrustStoreKeySource } from '../keysource/truststore.js'
import { KEY_FILES, readSigningKey, writeKeyDir } from '../store/keydir.js'
import { TrustStore } from '../store/truststore.js'
import { agentIdFromCard, findProjectRoot } from './project.js'
import {
  GUARD_CLOCK_SKEW_SECONDS,
  GUARD_TOKEN_TTL_SECONDS,
  signGuardToken,
  verifyGuardToken,
  type Body,
  type GuardClaims,
  type LazyBody,
} from './token.js'

export interface SimpleGuardOptions {
  /** Where the search for the project root starts (default: the working directory). */
  baseDir?: string
  /** Creates the key pair, and trusts it, when the project has none. Refused in production. */
  devMode?: boolean
  /** Dev mode even with NODE_ENV=production or CAPISCIO_ENV=prod: only for a deliberate exception. */
  forceDevMode?: boolean
  /** The trust store (default: capiscio_keys/trusted under the project root). */
  trustDir?: string
  /** The agent's id, the tokens' iss (default: agent-card.json's agent_id, else the key's did:key). */
  agentId?: string
  /** The kid the tokens name (default: the key's kid, as `capiscio key gen` wrote it). */
  signingKid?: string
  clockSkewSeconds?: number
  maxTokenAgeSeconds?: number
  replayStore?: ReplayStore
  /** The clock, in milliseconds (default Date.now). */
  now?: () => number
  /** The environment consulted for the production check (default process.env). */
  env?: NodeJS.ProcessEnv
}

interface Identity {
  privateKey: KeyObject
  kid: string
  agentId: string
}

/**
 * The Node twin of the Python SDK's SimpleGuard (DESIGN §8): signs outbound requests over their
 * exact body and verifies inbound ones against `capiscio_keys/trusted/`. Keys live in
 * `capiscio_keys/` under the project root, the nearest ancestor of baseDir holding
 * `agent-card.json` (else baseDir itself), as the Python SDK finds them.
 */
export class SimpleGuard {
  readonly projectRoot: string
  readonly keysDir: string
  readonly trustDir: string
  private readonly options: SimpleGuardOptions
  private readonly trust: TrustStoreKeySource
  private identity?: Promise<Identity>

  constructor(options: SimpleGuardOptions = {}) {
    this.options = options
    const env = options.env ?? process.env
    if (
      options.devMode &&
      !options.forceDevMode &&
      (env.NODE_ENV === 'production' || env.CAPISCIO_ENV === 'prod')
    ) {
      throw new CapiscioError(
        'USAGE',
        `SimpleGuard dev mode is refused in production (${env.NODE_ENV === 'production' ? 'NODE_ENV=production' : 'CAPISCIO_ENV=prod'}): it would create and trust its own key`,
        { hint: 'mount the agent key into capiscio_keys/ and turn dev mode off (or pass forceDevMode)' },
      )
    }
    this.projectRoot = findProjectRoot(resolve(options.baseDir ?? process.cwd()))
    this.keysDir = join(this.projectRoot, 'capiscio_keys')
    this.trustDir = options.trustDir ?? join(this.keysDir, KEY_FILES.trustDir)
    this.trust = new TrustStoreKeySource(new TrustStore(this.trustDir), { now: options.now })
  }

  /** The agent id (iss) and kid this guard signs with, once its key is loaded. */
  async whoami(): Promise<{ agentId: string; kid: string }> {
    const { agentId, kid } = await this.load()
    return { agentId, kid }
  }

  /** A token for an outbound request: the caller's claims, bound to the exact body (DESIGN §8). */
  async signOutbound(claims: Record<string, unknown> = {}, body?: Body): Promise<string> {
    const { privateKey, kid, agentId } = await this.load()
    return signGuardToken({ privateKey, kid, iss: agentId, claims, body, now: this.options.now })
  }

  /**
   * The claims of a valid inbound token over this body; a GUARD_* CapiscioError otherwise. The body
   * may be a function that reads it, called only once the token itself verified (LazyBody).
   */
  async verifyInbound(token: string, body?: LazyBody): Promise<GuardClaims> {
    const { claims } = await verifyGuardToken(token, body, {
      keys: this.trust,
      clockSkewSeconds: this.options.clockSkewSeconds ?? GUARD_CLOCK_SKEW_SECONDS,
      maxTokenAgeSeconds: this.options.maxTokenAgeSeconds ?? GUARD_TOKEN_TTL_SECONDS,
      replayStore: this.options.replayStore,
      now: this.options.now,
    })
    return claims
  }

  /** Loads the key once (creating it in dev mode); a failure is not remembered, so a fixed key dir works next time. */
  private load(): Promise<Identity> {
    this.identity ??= this.loadKey().catch((err: unknown) => {
      this.identity = undefined
      throw err
    })
    return this.identity
  }

  private async loadKey(): Promise<Identity> {
    const named = this.options.agentId ?? agentIdFromCard(this.projectRoot)
    const hasKey = [KEY_FILES.privateJwk, KEY_FILES.privatePem].some((f) => existsSync(join(this.keysDir, f)))
    if (!hasKey) {
      if (!this.options.devMode) {
        throw new CapiscioError('FILE_NOT_FOUND', `no private key in ${this.keysDir}`, {
          hint: `generate the agent key into ${this.keysDir} (capiscio key gen), or use devMode while developing`,
        })
      }
      const key = await generateKey('EdDSA', this.options.signingKid)
      await writeKeyDir(this.keysDir, key)
      // Dev mode trusts itself, so that a local agent can call itself or a twin, as the issuer it
      // signs as: a key trusted without issuers speaks only as its kid or did:key, so one that
      // signs as the card's agent_id (or agentId) is bound to it. An id that cannot be an issuer
      // (not a DID or https URL) is not bound, as trust add would refuse it.
      const bound = named !== undefined && named !== key.kid && isIssuer(named) ? [named] : []
      await new TrustStore(this.trustDir).add(key.publicKey, key.kid, { issuers: bound })
    }
    const signing = await readSigningKey(this.keysDir)
    const kid = this.options.signingKid ?? signing.kid
    const agentId = named ?? didKeyOf(signing.privateKey) ?? kid
    return { privateKey: signing.privateKey, kid, agentId }
  }
}

export { findProjectRoot }
