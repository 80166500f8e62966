import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'

import { afterAll, afterEach, describe, expect, it } from '@jest/globals'

import { discoverCard } from '../../../src/lib/card/discover.js'
import { parseCard } from '../../../src/lib/card/load.js'
import { CARD_RULES, validateAgentCard } from '../../../src/lib/card/validate.js'
import { CONFORMANCE, ROOT } from '../../helpers/paths.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'

const CARDS = join(CONFORMANCE, 'cards')
const codes = (file: string) => {
  const r = validateAgentCard(parseCard(readFileSync(join(CARDS, file), 'utf8'), file))
  return { r, errors: r.errors.map((e) => e.code), warnings: r.warnings.map((w) => w.code) }
}

describe('validateAgentCard on ../shared/conformance/cards (the expectations of its README)', () => {
  it.each(readdirSync(join(CARDS, 'valid')))('valid/%s passes (warnings allowed)', (file) => {
    const { r, errors } = codes(join('valid', file))
    expect(errors).toEqual([])
    expect(r.valid).toBe(true)
  })

  it.each<[string, string[]]>([
    ['invalid-url.json', ['INVALID_URL_SCHEME']],
    ['invalid-version.json', ['INVALID_PROTOCOL_VERSION']],
    ['missing-required.json', ['MISSING_VERSION', 'MISSING_URL', 'MISSING_PROTOCOL_VERSION']],
    ['mixed-issues.json', ['INVALID_URL_SCHEME', 'INVALID_PROTOCOL_VERSION', 'INVALID_TRANSPORT']],
    ['node-e2e-invalid.json', ['MISSING_DESCRIPTION', 'MISSING_URL', 'MISSING_PROTOCOL_VERSION']],
  ])('invalid/%s fails with a code per problem', (file, expected) => {
    const { r, errors } = codes(join('invalid', file))
    expect(r.valid).toBe(false)
    for (const code of expected) expect(errors).toContain(code)
  })

  it('every file in invalid/ is covered: malformed.txt is an input error, not a finding', () => {
    expect(() =>
      parseCard(readFileSync(join(CARDS, 'invalid', 'malformed.txt'), 'utf8'), 'malformed.txt'),
    ).toThrow(expect.objectContaining({ code: 'CARD_UNREADABLE' }) as unknown as Error)
  })

  it('legacy/legacy-agent.json is LEGACY_CARD_SHAPE, named in the message, and nothing crashes on any JSON value', () => {
    const { r, errors } = codes(join('legacy', 'legacy-agent.json'))
    expect([r.valid, r.version, errors]).toEqual([false, 'legacy', ['LEGACY_CARD_SHAPE']])
    expect(r.errors[0]!.message).toMatch(/0\.2-era card \(capabilities as an array, endpoints\)/)
    for (const v of [null, 1, 'x', [], { capabilities: 'x' }, { skills: [null, 1] }, { signatures: {} }])
      expect(() => validateAgentCard(v)).not.toThrow()
  })

  it('a 1.0 card built to the spec has no errors; strict fails on a warning', () => {
    const card = {
      name: 'A',
      description: 'B',
      version: '1.0.0',
      supportedInterfaces: [
        { url: 'https://a.example/a2a', protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
      ],
      capabilities: { streaming: true },
      defaultInputModes: ['text/plain'],
      defaultOutputModes: ['text/plain'],
      skills: [{ id: 's', name: 'S', description: 'd', tags: ['t'] }],
    }
    const r = validateAgentCard(card)
    expect([r.version, r.errors, r.warnings.map((w) => w.code)]).toEqual(['1.0', [], ['NO_SIGNATURES']])
    expect(validateAgentCard(card, { strict: true }).valid).toBe(false)
  })

  it('docs/card-rules.md lists exactly the codes the validator has, with their severities', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'card-rules.md'), 'utf8')
    const rows = [...doc.matchAll(/^\| `([A-Z_]+)` *\| (error|warning) *\|/gm)].map((m) => [m[1], m[2]])
    expect(Object.fromEntries(rows)).toEqual(CARD_RULES)
  })
})

describe('discovery', () => {
  afterAll(cleanupTmp)
  let server: Server | undefined
  afterEach(async () => {
    server?.closeAllConnections()
    await new Promise((r) => (server ? server.close(r) : r(undefined)))
  })
  it('an origin tries /.well-known/agent-card.json, then the legacy agent.json with a warning', async () => {
    const served: Record<string, string> = { '/.well-known/agent.json': '{"name":"Legacy path agent"}' }
    server = createServer((req, res) => {
      const body = served[req.url ?? '']
      res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' })
      res.end(body ?? '{}')
    })
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    // Neither path serves a card: the message names both, the current one first.
    const served0 = served['/.well-known/agent.json']!
    delete served['/.well-known/agent.json']
    await expect(discoverCard(origin)).rejects.toMatchObject({
      code: 'NETWORK_ERROR',
      message: `no agent card at ${origin}/.well-known/agent-card.json (nor at the legacy /.well-known/agent.json): HTTP 404`,
    })
    served['/.well-known/agent.json'] = served0
    const legacy = await discoverCard(origin)
    expect(legacy.source).toBe(`${origin}/.well-known/agent.json`)
    expect(legacy.findings.map((f) => f.code)).toEqual(['LEGACY_DISCOVERY_ENDPOINT'])
    served['/.well-known/agent-card.json'] = '{"name":"Current path agent"}'
    const current = await discoverCard(origin)
    expect([current.card.name, current.findings]).toEqual(['Current path agent', []])
    // A bare loopback host:port is a local agent over plain http.
    const bare = await discoverCard(origin.slice('http://'.length))
    expect([bare.source, bare.card.name]).toEqual([
      `${origin}/.well-known/agent-card.json`,
      'Current path agent',
    ])
  })

  it('an existing file is read as a file whatever its name looks like; a host is asked for only when no such file exists', async () => {
    const dir = tmpDir()
    const asked: string[] = []
    const fetch = (async (url: string | URL) => {
      asked.push(String(url))
      return new Response('{"name":"Fetched"}', { headers: { 'content-type': 'application/json' } })
    }) as typeof globalThis.fetch
    writeFileSync(join(dir, 'card.txt'), '{"name":"From the file"}')
    const file = await discoverCard(join(dir, 'card.txt'), { fetch })
    expect([file.card.name, asked]).toEqual(['From the file', []])
    const cwd = process.cwd()
    process.chdir(dir)
    try {
      expect((await discoverCard('card.txt', { fetch })).card.name).toBe('From the file')
      expect(asked).toEqual([])
      expect((await discoverCard('agent.example.com', { fetch })).source).toBe(
        'https://agent.example.com/.well-known/agent-card.json',
      )
      expect(asked).toEqual(['https://agent.example.com/.well-known/agent-card.json'])
      // A directory named like the host (a checkout) is no card file: the host is asked.
      mkdirSync('agent.example.com')
      expect((await discoverCard('agent.example.com', { fetch })).card.name).toBe('Fetched')
      // Host names are case-insensitive: LOCALHOST is loopback, asked over plain http.
      expect((await discoverCard('LOCALHOST:3000', { fetch })).source).toBe(
        'http://localhost:3000/.well-known/agent-card.json',
      )
    } finally {
      process.chdir(cwd)
    }
  })

  it('reads a fetched card as strictly as a file: a member twice is CARD_INVALID, bytes that are not UTF-8 CARD_UNREADABLE', async () => {
    const answer = (body: string | Uint8Array) =>
      (async () =>
        new Response(body, { headers: { 'content-type': 'application/json' } })) as unknown as typeof fetch
    await expect(
      discoverCard('agent.example.com', { fetch: answer('{"name":"a","name":"b"}') }),
    ).rejects.toMatchObject({ code: 'CARD_INVALID' })
    await expect(
      discoverCard('https://agent.example.com/card.json', {
        fetch: answer(new Uint8Array([0x7b, 0xff, 0x7d])),
      }),
    ).rejects.toMatchObject({ code: 'CARD_UNREADABLE' })
  })
})
