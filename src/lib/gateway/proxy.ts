import type { IncomingMessage, ServerResponse } from 'node:http'
import { Transform, pipeline } from 'node:stream'

import type { Dispatcher } from 'undici'

import { downstreamHeaders, type OutgoingHeaders } from './headers.js'

export class BodyTooLarge extends Error {}

/** The request body on its way to the target, failing with BodyTooLarge past `max` bytes. */
export function limitedBody(req: IncomingMessage, max: number): Transform {
  let seen = 0
  const body = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length
      done(seen > max ? new BodyTooLarge() : null, chunk)
    },
  })
  pipeline(req, body, () => undefined)
  return body
}

export type ForwardOutcome =
  | { status: number; upstreamMs: number }
  | { failure: 'timeout' | 'unavailable' | 'too-large' | 'client-gone'; detail: string }

export interface ForwardOptions {
  path: string
  headers: OutgoingHeaders
  /** The request body, already wrapped by the size limiter, or read whole; null for none. */
  body: Transform | Buffer | null
  /** Told when the target dies after the response has started (the client is cut off). */
  onBrokenResponse: (detail: string) => void
}

const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT'])

/**
 * Sends a request to the target and streams the answer straight into the client's response with
 * undici's dispatch API: no intermediate stream objects on the hot path, and backpressure both ways
 * (the target's data is paused while the client is slow; the request body is read only as fast as
 * the target takes it). Calls `resolve` once: when response headers arrive, or with the reason there
 * are none (a callback, not a promise: it runs for every request).
 */
export function forward(
  pool: Dispatcher,
  req: IncomingMessage,
  res: ServerResponse,
  o: ForwardOptions,
  resolve: (outcome: ForwardOutcome) => void,
): void {
  const start = performance.now()
  let controller: Dispatcher.DispatchController | undefined
  let started = false
  res.once('close', () => {
    if (!res.writableFinished) controller?.abort(new Error('client closed the connection'))
  })
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(c) {
      controller = c
      if (res.destroyed) c.abort(new Error('client closed the connection'))
    },
    onResponseStart(_c, statusCode, headers) {
      if (statusCode < 200) return // 1xx informational: wait for the final answer
      started = true
      res.writeHead(statusCode, downstreamHeaders(headers as Record<string, string | string[] | undefined>))
      // An event stream's first event may be a while coming: send the headers now. Other answers
      // go out with their first chunk, in one packet.
      if (String(headers['content-type'] ?? '').startsWith('text/event-stream')) res.flushHeaders()
      resolve({ status: statusCode, upstreamMs: performance.now() - start })
    },
    onResponseData(c, chunk) {
      if (!res.write(chunk)) {
        c.pause()
        res.once('drain', () => c.resume())
      }
    },
    onResponseEnd() {
      res.end()
    },
    onResponseError(_c, err) {
      const code = (err as { code?: string }).code
      if (started) {
        o.onBrokenResponse(`upstream aborted the response (${code ?? err.message})`)
        res.destroy()
        return
      }
      if (res.destroyed) return resolve({ failure: 'client-gone', detail: 'client closed the connection' })
      if (
        err instanceof BodyTooLarge ||
        (o.body && 'errored' in o.body && o.body.errored instanceof BodyTooLarge)
      ) {
        return resolve({ failure: 'too-large', detail: 'request body too large' })
      }
      if (code && TIMEOUTS.has(code))
        return resolve({ failure: 'timeout', detail: `upstream timeout (${code})` })
      resolve({ failure: 'unavailable', detail: `upstream unavailable (${code ?? err.message})` })
    },
  }
  try {
    pool.dispatch(
      {
        path: o.path,
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: o.headers,
        body: o.body,
      },
      handler,
    )
  } catch (err) {
    resolve({ failure: 'unavailable', detail: `upstream request refused (${(err as Error).message})` })
  }
}
