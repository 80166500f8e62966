import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createNetServer, type AddressInfo } from 'node:net'

export interface Upstream {
  url: string
  port: number
  server: Server
  /** Headers of every request the upstream saw. */
  seen: IncomingMessage['headers'][]
  close(): Promise<void>
}

/** A real HTTP server on a loopback port chosen by the OS, playing the protected agent. */
export async function startUpstream(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  port = 0,
): Promise<Upstream> {
  const seen: IncomingMessage['headers'][] = []
  const server = createServer((req, res) => {
    seen.push(req.headers)
    handler(req, res)
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const p = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${p}`,
    port: p,
    server,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** An agent that answers JSON describing what it received. */
export const echoAgent = (req: IncomingMessage, res: ServerResponse) => {
  let size = 0
  req.on('data', (d: Buffer) => (size += d.length))
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ path: req.url, method: req.method, size, headers: req.headers }))
  })
}

/** A free loopback port (for child processes that must be told their port). */
export async function freePort(): Promise<number> {
  const srv = createNetServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as AddressInfo
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

/** Polls a URL until it answers (any status), or fails after `ms`. */
export async function waitForHttp(url: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    try {
      await fetch(url)
      return
    } catch {
      if (Date.now() > until) throw new Error(`${url} did not come up`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
}
