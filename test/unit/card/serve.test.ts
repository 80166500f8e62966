import { createPublicKey } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

import { afterEach, describe, expect, it } from '@jest/globals'
import express from 'express'
import { verifyAgentCardSignature, type AgentCard as SdkCard } from '@a2a-js/sdk'
import { ClientFactory } from '@a2a-js/sdk/client'

import { cardHandler } from '../../../src/lib/card/serve.js'
import { signAgentCard, type AgentCard } from '../../../src/lib/card/sign.js'
import { v1Card } from '../../helpers/cards.js'
import { keyPair } from '../../helpers/keypair.js'

const servers: Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
})
async function listen(server: Server): Promise<string> {
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const card = (url: string): AgentCard =>
  v1Card({ name: 'Served Agent', capabilities: { streaming: false } }, url)
const LEGACY = {
  name: 'Served Agent',
  url: 'http://legacy.example/a2a',
  version: '1.0.0',
  protocolVersion: '0.3.0',
}

describe('cardHandler', () => {
  it('serves both well-known paths with ETag and Cache-Control; If-None-Match → 304; HEAD has no body; 404 and 405 elsewhere', async () => {
    const base = await listen(createServer(cardHandler(card('http://x/'))))
    const a = await fetch(`${base}/.well-known/agent-card.json`)
    const b = await fetch(`${base}/.well-known/agent.json?x=1`)
    expect([a.status, b.status]).toEqual([200, 200])
    const etag = a.headers.get('etag')!
    expect(etag).toMatch(/^"[\w-]{43}"$/)
    expect(a.headers.get('cache-control')).toBe('public, max-age=300')
    expect(await a.json()).toEqual(card('http://x/'))
    const again = await fetch(`${base}/.well-known/agent-card.json`, {
      headers: { 'if-none-match': `W/${etag}, "other"` },
    })
    expect(again.status).toBe(304)
    const head = await fetch(`${base}/.well-known/agent-card.json`, { method: 'HEAD' })
    expect([head.status, await head.text()]).toEqual([200, ''])
    expect((await fetch(`${base}/other`)).status).toBe(404)
    expect((await fetch(`${base}/.well-known/agent-card.json`, { method: 'POST' })).status).toBe(405)
  })

  it('with a legacy card: no A2A-Version or < 1.0 gets 0.3, 1.0 gets the 1.0 card, always Vary: A2A-Version', async () => {
    const base = await listen(createServer(cardHandler(card('http://x/'), { legacy: LEGACY })))
    const url = `${base}/.well-known/agent-card.json`
    const none = await fetch(url)
    const old = await fetch(url, { headers: { 'A2A-Version': '0.3' } })
    const v1 = await fetch(url, { headers: { 'A2A-Version': '1.0' } })
    expect(await none.json()).toEqual(LEGACY)
    expect(await old.json()).toEqual(LEGACY)
    expect(await v1.json()).toEqual(card('http://x/'))
    for (const r of [none, old, v1]) expect(r.headers.get('vary')).toBe('A2A-Version')
    expect(none.headers.get('etag')).not.toBe(v1.headers.get('etag'))
  })

  it('in Express: next() for other paths; a card function is read per request, and the ETag follows it', async () => {
    let version = '1.0.0'
    const app = express()
    app.use(cardHandler(() => ({ ...card('http://x/'), version })))
    app.get('/ping', (_req, res) => {
      res.send('pong')
    })
    const base = await listen(createServer(app))
    const first = await fetch(`${base}/.well-known/agent-card.json`)
    version = '1.1.0'
    const second = await fetch(`${base}/.well-known/agent-card.json`)
    expect(((await second.json()) as { version: string }).version).toBe('1.1.0')
    expect(first.headers.get('etag')).not.toBe(second.headers.get('etag'))
    expect(await (await fetch(`${base}/ping`)).text()).toBe('pong')
  })

  it('the official A2A JS SDK client loads a card we signed and serve, and its signature verifies with the SDK', async () => {
    const { privateKey } = keyPair('ed25519')
    const served: { card?: AgentCard } = {}
    const server = createServer(cardHandler(() => served.card!))
    const base = await listen(server)
    served.card = signAgentCard(card(`${base}/a2a`), { privateKey, kid: 'agent-key' })
    const client = await new ClientFactory().createFromUrl(base)
    const loaded = (await client.getAgentCard()) as unknown as SdkCard
    expect(loaded.name).toBe('Served Agent')
    await expect(
      verifyAgentCardSignature(async () => createPublicKey(privateKey))(loaded),
    ).resolves.toBeUndefined()
  })
})
