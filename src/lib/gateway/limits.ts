/**
 * The gateway's limits on what clients send, the raw answers for requests Node cannot parse, and
 * listening (what a failed listen means).
 */
import type { Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

import { CapiscioError } from '../errors.js'

/** Largest request head (request line and headers): room for a 16 KiB badge sent twice (X-Capiscio-Badge and Authorization). */
export const MAX_HEADER_BYTES = 64 * 1024

/**
 * Node's header and request timeouts, and how often it checks them (its default, 30 s, would let a
 * 10 s header timeout run to 40 s). The header timeout may not exceed the request timeout.
 */
export function serverTimeouts(headersTimeout: number, requestTimeout: number) {
  const headers = requestTimeout > 0 ? Math.min(headersTimeout, requestTimeout) : headersTimeout
  const shortest = headers > 0 ? headers : requestTimeout > 0 ? requestTimeout : 4000
  return {
    headersTimeout: headers,
    requestTimeout,
    connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(shortest / 4))),
  }
}

const CLIENT_ERRORS: Record<400 | 408 | 431 | 501, { phrase: string; error: string }> = {
  400: { phrase: 'Bad Request', error: 'bad request' },
  408: { phrase: 'Request Timeout', error: 'request timeout' },
  431: { phrase: 'Request Header Fields Too Large', error: 'request headers too large' },
  // CONNECT: the gateway is no tunnel (nor a forward proxy).
  501: { phrase: 'Not Implemented', error: 'method not supported' },
}

/**
 * The whole HTTP answer for a request Node refused before the handler saw it (a bad request line,
 * headers too large or too slow), or that never reaches it (CONNECT): written straight to the
 * socket, then the connection closes.
 */
export function clientErrorAnswer(status: 400 | 408 | 431 | 501): string {
  const { phrase, error } = CLIENT_ERRORS[status]
  const text = JSON.stringify({ error })
  return `HTTP/1.1 ${status} ${phrase}\r\ncontent-type: application/json\r\ncontent-length: ${text.length}\r\nconnection: close\r\n\r\n${text}`
}

/** Writes such an answer and closes the connection, without waiting long for the client to read it (a slowloris never does). */
export function answerRaw(socket: Socket, status: 400 | 408 | 431 | 501): void {
  socket.end(clientErrorAnswer(status))
  setTimeout(() => socket.destroy(), 1000).unref()
}

/** The answer and the log line's reason for a request head the parser refused. */
export function clientErrorOf(err: NodeJS.ErrnoException): { status: 400 | 408 | 431; reason: string } {
  if (err.code === 'HPE_HEADER_OVERFLOW') return { status: 431, reason: 'request headers too large' }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return { status: 408, reason: 'request headers too slow (headers timeout)' }
  return { status: 400, reason: `malformed request (${err.code ?? 'parse error'})` }
}

/** What to do when the gateway cannot listen, by errno (the generic network hint talks of URLs). */
const LISTEN_HINTS: Record<string, string> = {
  EADDRINUSE: 'another process is listening there: stop it, or choose another port',
  EACCES: 'numbers below 1024 need privileges: choose a port of 1024 or more',
  EADDRNOTAVAIL: 'host is not an address of this machine: use 127.0.0.1, 0.0.0.0 or one of its own',
}

/** Listens, and resolves the gateway's URL (a wildcard address as loopback), or rejects with a coded error. */
export function listen(server: Server, proto: string, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, host, port)))
    server.listen(port, host, () => {
      server.removeAllListeners('error')
      // Accept errors (EMFILE at the descriptor limit) must not crash a listening gateway.
      server.on('error', () => undefined)
      const addr = server.address() as AddressInfo
      const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
      resolve(`${proto}://${h === '0.0.0.0' ? '127.0.0.1' : h === '[::]' ? '[::1]' : h}:${addr.port}`)
    })
  })
}

export function listenError(err: NodeJS.ErrnoException, host: string, port: number): CapiscioError {
  return new CapiscioError('NETWORK_ERROR', `cannot listen on ${host}:${port} (${err.code ?? err.message})`, {
    cause: err,
    hint: LISTEN_HINTS[err.code ?? ''] ?? 'check host and port',
    options: ['host', 'port'],
  })
}
