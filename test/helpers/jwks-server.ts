import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A local HTTP server that plays a registry's JWKS endpoint: it serves whatever body the test sets,
 * counts requests, can answer with an error status, stall, or be stopped to play an outage.
 */
export class JwksServer {
  body = '{"keys":[]}'
  status = 200
  delayMs = 0
  requests = 0
  private server?: Server
  port = 0

  async start(port = 0): Promise<this> {
    this.server = createServer((_req, res) => {
      this.requests++
      setTimeout(() => {
        res.writeHead(this.status, { 'content-type': 'application/json' })
        res.end(this.body)
      }, this.delayMs)
    })
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve))
    this.port = (this.server.address() as AddressInfo).port
    return this
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/.well-known/jwks.json`
  }

  setKeys(keys: unknown[]): void {
    this.body = JSON.stringify({ keys })
  }

  async stop(): Promise<void> {
    const s = this.server
    this.server = undefined
    if (!s) return
    s.closeAllConnections()
    await new Promise<void>((resolve) => s.close(() => resolve()))
  }
}
