import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

import { afterEach, describe, expect, it } from '@jest/globals'

import { fetchJson } from '../../../src/lib/net/fetch-json.js'

let server: Server | undefined
afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)))
  server = undefined
})

/** A real server on loopback answering every request with `status` and `headers`. */
async function answering(
  status: number,
  headers: Record<string, string>,
  body = '{"keys":[]}',
): Promise<URL> {
  server = createServer((_req, res) => res.writeHead(status, headers).end(body))
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json?token=secret`)
}

describe('fetchJson and redirects', () => {
  it('does not follow one, and says it was a redirect and where to, not "could not connect"', async () => {
    const url = await answering(301, { location: 'https://elsewhere.example.com/keys.json?sig=abc' })
    const err = (await fetchJson(url).catch((e: unknown) => e)) as Error & { code: string }
    expect(err.code).toBe('NETWORK_ERROR')
    expect(err.message).toBe(
      `http://${url.host}/jwks.json?*** redirects (HTTP 301) to https://elsewhere.example.com/keys.json?***; redirects are not followed`,
    )
    // Neither query string leaks into the message.
    expect(err.message).not.toMatch(/secret|abc/)
  })

  it('resolves a relative Location against the URL, and names a redirect without one by its status', async () => {
    const relative = await answering(302, { location: '/v2/jwks.json' })
    await expect(fetchJson(relative)).rejects.toMatchObject({
      message: expect.stringContaining(`redirects (HTTP 302) to http://${relative.host}/v2/jwks.json;`),
    })
    await new Promise((resolve) => server!.close(resolve))
    const bare = await answering(307, {})
    await expect(fetchJson(bare)).rejects.toMatchObject({
      message: expect.stringMatching(/redirects \(HTTP 307\); redirects are not followed$/),
    })
  })

  it('still reads a 200', async () => {
    const url = await answering(200, { 'content-type': 'application/json' })
    expect(await fetchJson(url)).toEqual({ keys: [] })
  })
})
