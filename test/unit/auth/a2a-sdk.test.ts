// The in-process example (examples/a2a-in-process) against the real @a2a-js/sdk, in this process,
// with one injected clock shared by the badge issuer, the BadgeKeeper and the agent's verifier, so
// that a badge's lifetime passes without waiting. `capiscio-toolkit` maps to src/ here (jest.config).
import { afterEach, describe, expect, it } from '@jest/globals'

import { agentCard, startAgent } from '../../../examples/a2a-in-process/agent.mjs'
import { ask, connect } from '../../../examples/a2a-in-process/client.mjs'
import { BadgeAuthenticator } from '../../../src/lib/auth/badge.js'
import { JWTAuthenticator } from '../../../src/lib/auth/jwt.js'
import type { Authenticator } from '../../../src/lib/auth/authenticator.js'
import { BadgeKeeper } from '../../../src/lib/badge/keeper.js'
import { issueBadge } from '../../../src/lib/badge/issue.js'
import { CapiscioError } from '../../../src/lib/errors.js'
import { generateKey } from '../../../src/lib/keys/generate.js'
import { StaticKeySource } from '../../../src/lib/keysource/static.js'
import { mintToken } from '../../../src/lib/token/mint.js'
import { createPublicKey } from 'node:crypto'

interface Answer {
  isAuthenticated: boolean
  userName: string
  identity: { id: string; type: string; roles: string[]; attrs: Record<string, unknown> } | null
  sameAsContext: boolean
}

type Agent = { url: string; close(): Promise<void> }
let agent: Agent | undefined
afterEach(async () => {
  await agent?.close()
  agent = undefined
})

const SUB = 'did:web:client.example.com'
const SECRET = 'a-shared-secret-for-the-jwt-variant-of-the-example'

async function badgeSetup(now: () => number, refused: CapiscioError[] = []) {
  const key = await generateKey('EdDSA')
  const keys = new StaticKeySource([{ publicKey: createPublicKey(key.privateKey), kid: key.kid }])
  // Replay protection off: a badge is presented on every call until it is renewed.
  const authenticator = new BadgeAuthenticator({
    keys,
    now,
    clockSkewSeconds: 0,
    onError: (e) => refused.push(e),
  })
  const issue = () => issueBadge({ privateKey: key.privateKey, kid: key.kid, sub: SUB, ttlSeconds: 60, now })
  return { authenticator, issue }
}

async function post(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'SendMessage', params: {} }),
  })
}

describe('examples/a2a-in-process with the real A2A SDK', () => {
  it('answers 401 with WWW-Authenticate: Bearer without a credential, and invalid_token with a bad one', async () => {
    const { authenticator } = await badgeSetup(Date.now)
    const { url } = (agent = await startAgent({ authenticator }))
    const missing = await post(url)
    expect(missing.status).toBe(401)
    expect(missing.headers.get('www-authenticate')).toBe('Bearer')
    expect(await missing.json()).toEqual({ error: 'Unauthorized', detail: 'Missing or invalid Bearer token' })
    const bad = await post(url, { authorization: 'Bearer not.a.badge' })
    expect(bad.status).toBe(401)
    expect(bad.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
  })

  it('keeps the agent card public, and the SDK client discovers the agent from it', async () => {
    const { authenticator } = await badgeSetup(Date.now)
    const { url } = (agent = await startAgent({ authenticator }))
    const res = await fetch(new URL('.well-known/agent-card.json', url))
    expect(res.status).toBe(200)
    const card = (await res.json()) as { name: string; supportedInterfaces: { url: string }[] }
    expect(card.name).toBe(agentCard(url, {}).name)
    expect(card.supportedInterfaces[0]!.url).toBe(url)
  })

  it('with a badge from a BadgeKeeper, the SDK handler sees the verified caller as its User, and getIdentity() agrees', async () => {
    const { authenticator, issue } = await badgeSetup(Date.now)
    const { url } = (agent = await startAgent({ authenticator }))
    const keeper = new BadgeKeeper({ issue })
    const client = await connect(url, keeper)
    const answer = JSON.parse((await ask(client, 'who am I?')) as string) as Answer
    expect(answer).toMatchObject({ isAuthenticated: true, userName: SUB, sameAsContext: true })
    expect(answer.identity).toMatchObject({ id: SUB, type: 'agent', roles: [], attrs: { trustLevel: '1' } })
  })

  it('keeps calling across badge renewals: a new badge before each one expires, the old one refused after', async () => {
    let clock = 1_900_000_000_000
    const now = () => clock
    const refused: CapiscioError[] = []
    const { authenticator, issue } = await badgeSetup(now, refused)
    const { url } = (agent = await startAgent({ authenticator }))
    const keeper = new BadgeKeeper({ issue, renewBeforeSeconds: 20, now })
    const presented: string[] = []
    const client = await connect(url, {
      current: async () => {
        const badge = await keeper.current()
        presented.push(badge)
        return badge
      },
    })
    const jtis: string[] = []
    // Five calls 25 s apart: 100 s in all, so a 60 s badge is outlived and renewed more than once.
    for (let i = 0; i < 5; i++) {
      const answer = JSON.parse((await ask(client, 'who am I?')) as string) as Answer
      expect(answer.isAuthenticated).toBe(true)
      jtis.push(answer.identity!.attrs.jti as string)
      clock += 25_000
    }
    expect(new Set(jtis).size).toBeGreaterThanOrEqual(2)
    expect(refused).toEqual([])
    // The first badge is long expired at the agent's clock now: presented again, it is refused.
    const stale = await post(url, { authorization: `Bearer ${presented[0]}` })
    expect(stale.status).toBe(401)
    expect(refused.map((e) => e.code)).toEqual(['BADGE_EXPIRED'])
    await keeper.stop()
  })

  it('the JWT variant: a token per call from a function, seen as the user with its type and roles', async () => {
    const authenticator: Authenticator = new JWTAuthenticator({ secret: SECRET })
    const { url } = (agent = await startAgent({ authenticator }))
    let minted = 0
    const client = await connect(url, () => {
      minted++
      return mintToken({ sub: 'alice', type: 'user', roles: ['reader'], secret: SECRET, ttlSeconds: 60 })
        .token
    })
    const answer = JSON.parse((await ask(client, 'who am I?')) as string) as Answer
    expect(answer).toMatchObject({ isAuthenticated: true, userName: 'alice', sameAsContext: true })
    expect(answer.identity).toEqual({ id: 'alice', type: 'user', roles: ['reader'], attrs: {} })
    // One token per SDK call (card discovery is not a call through the interceptor).
    await ask(client, 'again')
    expect(minted).toBe(2)
    const wrong = mintToken({ sub: 'mallory', secret: 'another-secret-of-at-least-thirty-two-bytes' }).token
    const refusedClient = await connect(url, () => wrong)
    await expect(ask(refusedClient, 'who am I?')).rejects.toThrow()
  })
})
