// The official A2A JS SDK on both ends with `capiscio gateway start --target` between them: an SDK
// agent that trusts the gateway's identity headers (test/fixtures/a2a-gateway-agent.mjs) and the
// gateway as child processes, and the SDK's ClientFactory client here, calling through the gateway
// with a trust badge, a bearer JWT and a SimpleGuard token over the exact bytes the SDK sends.
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import {
  ClientFactory,
  ClientFactoryOptions,
  DefaultAgentCardResolver,
  JsonRpcTransportFactory,
  type Client,
} from '@a2a-js/sdk/client'

import { ask } from '../../examples/a2a-in-process/client.mjs'
import { credentialInterceptor } from '../../src/lib/auth/a2a.js'
import { issueBadge } from '../../src/lib/badge/issue.js'
import { signGuardToken } from '../../src/lib/guard/token.js'
import { readSigningKey } from '../../src/lib/store/keydir.js'
import { TrustStore } from '../../src/lib/store/truststore.js'
import { mintToken } from '../../src/lib/token/mint.js'
import { edKey } from '../helpers/badges.js'
import { runCli } from '../helpers/cli.js'
import { ROOT } from '../helpers/paths.js'
import { startCli, startProgram, stopAll, waitForOutput, type Running } from '../helpers/processes.js'
import { freePort } from '../helpers/servers.js'
import { cleanupTmp, tmpDir } from '../helpers/tmp.js'

const AGENT = join(ROOT, 'test', 'fixtures', 'a2a-gateway-agent.mjs')
const SECRET = 'a2a-gateway-secret-of-at-least-thirty-two-bytes'
const BADGE_SUB = 'did:web:client.example.com'
const guardSigner = edKey()

interface Answer {
  isAuthenticated: boolean
  subject: string
  credential: string
  trustLevel: string
  text: string | null
}

interface AgentLine {
  method: string
  path: string
  status: number
  credential: string | null
  subject: string | null
  forwardedHost: string | null
  authorization: boolean
  bodySha256: string | null
  rpcMethod: string | null
}

let cwd: string
let agent: Running
let gateway: Running
let gatewayUrl: string
let agentUrl: string
let badge: string

/** What the agent logged, one object per request. */
const agentLines = (): AgentLine[] =>
  agent
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as AgentLine)

/** Waits (bounded) for the agent to log a request matching `pred`, its stderr arriving a little later. */
async function agentLine(pred: (l: AgentLine) => boolean, from = 0, ms = 5000): Promise<AgentLine> {
  const until = Date.now() + ms
  for (;;) {
    const found = agentLines().slice(from).find(pred)
    if (found) return found
    if (Date.now() > until) throw new Error(`the agent logged no such request; it logged:\n${agent.stderr()}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

let sentinels = 0
/** Sends a sentinel (a card request with a unique query) and waits for the agent to log it. */
async function sentinel(from: number): Promise<number> {
  const path = `/.well-known/agent-card.json?sentinel=${++sentinels}`
  expect((await fetch(`${gatewayUrl}${path}`)).status).toBe(200)
  await agentLine((l) => l.path === path, from)
  return agentLines().findIndex((l, i) => i >= from && l.path === path)
}

/**
 * A place in the agent's log after every request it has answered so far: the agent logs each
 * request as it answers it, so once a sentinel sent now is logged, all earlier lines are in.
 */
const mark = async (): Promise<number> => (await sentinel(0)) + 1

/** The requests the agent answered from a mark until now. */
async function agentLinesSince(from: number): Promise<AgentLine[]> {
  return agentLines().slice(from, await sentinel(from))
}

beforeAll(async () => {
  cwd = tmpDir()
  // One trust store for both kinds of key: the badge issuer's (trust add, as a partner's key is
  // added) and the SimpleGuard signer's.
  expect((await runCli(['key', 'gen', '--out', 'client', '-q'], { cwd })).code).toBe(0)
  expect(
    (await runCli(['trust', 'add', 'client/public.jwk', '--trust-dir', 'trusted', '-q'], { cwd })).code,
  ).toBe(0)
  await new TrustStore(join(cwd, 'trusted')).add(guardSigner.publicKey, guardSigner.did)
  writeFileSync(join(cwd, 'jwt.secret'), SECRET)
  const { privateKey, kid } = await readSigningKey(join(cwd, 'client'))
  badge = (await issueBadge({ privateKey, kid, sub: BADGE_SUB, ttlSeconds: 300 })).token

  // The gateway's port first: the agent's card must name the gateway, not the agent.
  const gatewayPort = await freePort()
  gatewayUrl = `http://127.0.0.1:${gatewayPort}`
  agent = startProgram(process.execPath, [AGENT], {
    env: { ...process.env, NODE_ENV: 'production', PUBLIC_URL: `${gatewayUrl}/` },
  })
  agentUrl = await firstStdoutLine(agent, 15_000)
  gateway = startCli(
    [
      'gateway',
      'start',
      '--host',
      '127.0.0.1',
      '--port',
      String(gatewayPort),
      '--target',
      agentUrl,
      '--verify',
      'badge,jwt,guard',
      '--trust-dir',
      'trusted',
      '--jwt-secret-file',
      'jwt.secret',
    ],
    { cwd },
  )
  await waitForOutput(gateway, /listening on/)
}, 60_000)

afterAll(async () => {
  await stopAll()
  cleanupTmp()
})

/** The first line a child prints on stdout (the agent's URL), bounded. */
function firstStdoutLine(r: Running, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`no URL within ${ms} ms: ${r.stderr()}`)), ms)
    r.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (out.includes('\n')) {
        clearTimeout(timer)
        resolve(out.split('\n')[0]!)
      }
    })
    void r.exited.then((code) => reject(new Error(`agent exited ${code}: ${r.stderr()}`)))
  })
}

/** Every URL the SDK fetched, card and calls alike. */
const fetched: string[] = []
const recording =
  (inner: typeof fetch): typeof fetch =>
  (input, init) => {
    fetched.push(String(input instanceof Request ? input.url : input))
    return inner(input, init)
  }

/** An SDK client made from the card it reads through the gateway, with the given interceptors and fetch. */
async function connect(
  o: { interceptors?: ReturnType<typeof credentialInterceptor>[]; fetchImpl?: typeof fetch } = {},
): Promise<Client> {
  const fetchImpl = recording(o.fetchImpl ?? fetch)
  const factory = new ClientFactory(
    ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
      transports: [new JsonRpcTransportFactory({ fetchImpl })],
      cardResolver: new DefaultAgentCardResolver({ fetchImpl: recording(fetch) }),
      clientConfig: { interceptors: o.interceptors ?? [] },
    }),
  )
  return factory.createFromUrl(gatewayUrl)
}

/**
 * A fetch for the SDK's transport that signs the exact bytes it sends: the JSON-RPC body the
 * SDK serialised, hashed into the SimpleGuard token's bh, in X-Capiscio-Badge.
 */
const signed: string[] = []
const guardFetch: typeof fetch = (input, init = {}) => {
  if (init.body !== undefined && init.body !== null && typeof init.body !== 'string')
    throw new Error(`the SDK sent a ${typeof init.body} body; this fetch signs strings`)
  const body = init.body ?? undefined
  if (body !== undefined) signed.push(createHash('sha256').update(body).digest('base64url'))
  const headers = new Headers(init.headers)
  headers.set(
    'X-Capiscio-Badge',
    signGuardToken({ privateKey: guardSigner.privateKey, kid: guardSigner.did, iss: guardSigner.did, body }),
  )
  return fetch(input, { ...init, headers })
}

const answerOf = async (client: Client, text: string) => JSON.parse((await ask(client, text))!) as Answer

describe('A2A JS SDK client → capiscio gateway --target → A2A JS SDK agent (child processes)', () => {
  it('the SDK reads the card through the gateway, unauthenticated, and the card names the gateway', async () => {
    const card = await new DefaultAgentCardResolver().resolve(gatewayUrl)
    expect(card.supportedInterfaces.map((i) => i.url)).toEqual([`${gatewayUrl}/`])
    const line = await agentLine((l) => l.path === '/.well-known/agent-card.json')
    // The agent answered it, reached through the gateway (which set X-Forwarded-Host), with no identity.
    expect(line).toMatchObject({
      status: 200,
      credential: null,
      subject: null,
      forwardedHost: `127.0.0.1:${new URL(gatewayUrl).port}`,
    })
  })

  it('(a) a trust badge on every call through credentialInterceptor: the agent sees its subject, as a badge', async () => {
    fetched.length = 0
    const before = await mark()
    const client = await connect({ interceptors: [credentialInterceptor({ credential: () => badge })] })
    expect(await answerOf(client, 'who am I?')).toEqual({
      isAuthenticated: true,
      subject: BADGE_SUB,
      credential: 'badge',
      trustLevel: expect.stringMatching(/^[0-4]$/),
      text: 'who am I?',
    })
    // The card and the call both went to the gateway, never to the agent's own address.
    expect(fetched).toEqual([`${gatewayUrl}/.well-known/agent-card.json`, `${gatewayUrl}/`])
    const call = await agentLine((l) => l.method === 'POST', before)
    expect(call).toMatchObject({ method: 'POST', path: '/', credential: 'badge', authorization: false })
    expect(call.rpcMethod).toBe('SendMessage')
  })

  it('(a) the same badge in X-Capiscio-Badge', async () => {
    const client = await connect({
      interceptors: [credentialInterceptor({ credential: () => badge, header: 'x-capiscio-badge' })],
    })
    expect(await answerOf(client, 'again')).toMatchObject({ subject: BADGE_SUB, credential: 'badge' })
  })

  it('(b) a bearer JWT minted per call by mintToken: the agent sees its subject, as a jwt', async () => {
    const client = await connect({
      interceptors: [
        credentialInterceptor({ credential: () => mintToken({ sub: 'alice', secret: SECRET }).token }),
      ],
    })
    expect(await answerOf(client, 'who am I?')).toEqual({
      isAuthenticated: true,
      subject: 'alice',
      credential: 'jwt',
      trustLevel: '',
      text: 'who am I?',
    })
  })

  it('(c) a SimpleGuard token over the exact body the SDK sends: the agent gets those bytes, as guard', async () => {
    signed.length = 0
    const before = await mark()
    const client = await connect({ fetchImpl: guardFetch })
    expect(await answerOf(client, 'signed héllo')).toEqual({
      isAuthenticated: true,
      subject: guardSigner.did,
      credential: 'guard',
      trustLevel: '',
      text: 'signed héllo',
    })
    expect(signed).toHaveLength(1)
    expect(await agentLine((l) => l.method === 'POST', before)).toMatchObject({
      credential: 'guard',
      bodySha256: signed[0],
    })
  })

  it('(c) a SimpleGuard token over other bytes than those sent is refused: the SDK call fails with 403', async () => {
    // Signs the body it would have liked to send, and sends the SDK's.
    const tampering: typeof fetch = (input, init = {}) => {
      const headers = new Headers(init.headers)
      headers.set(
        'X-Capiscio-Badge',
        signGuardToken({
          privateKey: guardSigner.privateKey,
          kid: guardSigner.did,
          iss: guardSigner.did,
          body: String(init.body).replace('tampered', 'innocent'),
        }),
      )
      return fetch(input, { ...init, headers })
    }
    const before = await mark()
    const client = await connect({ fetchImpl: tampering })
    await expect(ask(client, 'tampered')).rejects.toThrow(/403[\s\S]*GUARD_BODY_MISMATCH/)
    expect((await agentLinesSince(before)).filter((l) => l.method === 'POST')).toEqual([])
  })

  it('without a credential the SDK call fails with a 401 from the gateway, and the agent is not reached', async () => {
    const before = await mark()
    const client = await connect()
    await expect(ask(client, 'who am I?')).rejects.toThrow(/401/)
    // Only the (public) card request reached the agent.
    expect((await agentLinesSince(before)).map((l) => l.path)).toEqual(['/.well-known/agent-card.json'])
    await waitForOutput(gateway, /\[401\] POST \/ - missing authorization header/, 5000)
  })
})
