import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

import { describe, expect, it } from '@jest/globals'

import { CapiscioError } from '../../../src/lib/errors.js'
import { checkFetchUrl, fetchJson } from '../../../src/lib/net/fetch-json.js'
import { redactUrl } from '../../../src/lib/net/redact.js'

describe('redactUrl', () => {
  it.each([
    ['https://alice:pw@registry.example.com/jwks.json', 'https://***@registry.example.com/jwks.json'],
    ['https://registry.example.com/jwks.json?api_key=k1&x=2', 'https://registry.example.com/jwks.json?***'],
    ['https://u@h.example.com:8443/p?t=1#frag', 'https://***@h.example.com:8443/p?***'],
    [
      'https://registry.example.com/.well-known/jwks.json',
      'https://registry.example.com/.well-known/jwks.json',
    ],
    ['not a url user:pw@x?api_key=1', '***'],
    ['ftp//bob:pw@host/x', '***'],
    // Not URLs (a '/' or '#' in the password breaks the authority): nothing past the scheme is shown.
    ['https://admin:s3cr/et@reg.example.com/jwks', 'https://***'],
    ['https://admin:s3cr#et@reg.example.com/jwks', 'https://***'],
    ['not a url at all', 'not a url at all'],
    ['redis-ish://bob:pw@host/x?y', 'redis-ish://***@host/x?***'],
  ])('%s → %s', (input, shown) => {
    expect(redactUrl(input)).toBe(shown)
  })
})

describe('fetchJson and checkFetchUrl never show credentials', () => {
  it('names the URL, redacted, in every failure', async () => {
    const server = createServer((req, res) => {
      res.writeHead(req.url?.startsWith('/500') ? 500 : 200)
      res.end('not json')
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port
    try {
      for (const path of ['/500', '/text']) {
        const url = new URL(`http://bob:s3cret@127.0.0.1:${port}${path}?api_key=K-123`)
        const err = await fetchJson(url).catch((e: unknown) => e)
        expect(err).toBeInstanceOf(CapiscioError)
        expect((err as CapiscioError).message).toContain(`127.0.0.1:${port}${path}`)
        expect((err as CapiscioError).message).not.toMatch(/s3cret|K-123|bob/)
      }
    } finally {
      server.close()
    }
    const refused = (await fetchJson(new URL('http://bob:s3cret@127.0.0.1:9/x?api_key=K-123'), {
      timeoutMs: 2000,
    }).catch((e: unknown) => e)) as CapiscioError
    expect(refused.message).not.toMatch(/s3cret|K-123/)
    expect(() => checkFetchUrl('https//bob:s3cret@x?api_key=K-123')).toThrow(/^(?!.*(s3cret|K-123))/)
  })
})

describe('fetchJson with user-info in the URL', () => {
  it('sends user:pass@ as HTTP Basic credentials (fetch() itself refuses such a URL)', async () => {
    let seen: string | undefined
    const server = createServer((req, res) => {
      seen = req.headers.authorization
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"keys":[]}')
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port
    try {
      const doc = await fetchJson(new URL(`http://bob:s%40cret@127.0.0.1:${port}/jwks.json`))
      expect(doc).toEqual({ keys: [] })
      expect(seen).toBe('Basic ' + Buffer.from('bob:s@cret').toString('base64'))
    } finally {
      server.close()
    }
  })
})
