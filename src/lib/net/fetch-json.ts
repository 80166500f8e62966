import { CapiscioError } from '../errors.js'
import { redactUrl } from './redact.js'

export type FetchLike = typeof fetch

export interface FetchJsonOptions {
  fetch?: FetchLike
  /** Response bodies above this are refused (default 1 MiB). */
  maxBytes?: number
  timeoutMs?: number
  /** Reads the body's bytes (default: UTF-8 JSON); its coded errors pass through. */
  parse?: (bytes: Buffer, shown: string) => unknown
}

export const MAX_REMOTE_BYTES = 1024 * 1024

/** Loopback hosts may be fetched over plain http (local registries, tests); everything else needs https. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '')
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
}

/** Parses and checks a URL the toolkit will fetch keys from: https, or http on loopback only. */
export function checkFetchUrl(raw: string): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new CapiscioError('USAGE', `"${redactUrl(raw)}" is not a URL`)
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))) return url
  throw new CapiscioError(
    'USAGE',
    `${url.origin} is not https; plain http is allowed only for loopback hosts`,
  )
}

/**
 * GETs a JSON document with the limits every remote read needs: a timeout, a size cap enforced
 * while streaming (a lying Content-Length does not help), no redirects (a redirect could leave
 * https), and coded errors that name the URL but never echo the body.
 */
export async function fetchJson(url: URL, options: FetchJsonOptions = {}): Promise<unknown> {
  const maxBytes = options.maxBytes ?? MAX_REMOTE_BYTES
  const doFetch = options.fetch ?? fetch
  // Messages name the URL without its credentials or query string (issue 7 item 4).
  const shown = redactUrl(url)
  let res: Response
  try {
    // fetch() refuses a URL with user-info; send `user:pass@` as HTTP Basic credentials instead.
    const headers: Record<string, string> = { accept: 'application/json, application/jwk-set+json' }
    let target = url
    if (url.username !== '' || url.password !== '') {
      const user = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
      headers.authorization = 'Basic ' + Buffer.from(user).toString('base64')
      target = new URL(url.href)
      target.username = ''
      target.password = ''
    }
    res = await doFetch(target, {
      // Not followed, but seen: 'error' would make a redirect look like a connection failure.
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
      headers,
    })
  } catch (err) {
    const reason = (err as Error)?.name === 'TimeoutError' ? 'timed out' : 'could not connect'
    throw new CapiscioError('NETWORK_ERROR', `${shown}: ${reason}`, { cause: err })
  }
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel().catch(() => undefined)
    const location = res.headers.get('location')
    let to = ''
    try {
      if (location) to = ` to ${redactUrl(new URL(location, url))}`
    } catch {
      // a Location that is no URL: named by its status alone
    }
    throw new CapiscioError(
      'NETWORK_ERROR',
      `${shown} redirects (HTTP ${res.status})${to}; redirects are not followed`,
      { hint: 'give the address it redirects to, if that is where the document really lives' },
    )
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined)
    throw new CapiscioError('NETWORK_ERROR', `${shown} answered HTTP ${res.status}`)
  }
  const declared = Number(res.headers.get('content-length') ?? 0)
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined)
    throw new CapiscioError('NETWORK_ERROR', `${shown} sent ${declared} bytes; the limit is ${maxBytes}`)
  }
  const chunks: Uint8Array[] = []
  let size = 0
  if (res.body) {
    const reader = res.body.getReader()
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>
      try {
        chunk = await reader.read()
      } catch (err) {
        throw new CapiscioError('NETWORK_ERROR', `${shown}: the response broke off`, { cause: err })
      }
      if (chunk.done) break
      size += chunk.value.length
      if (size > maxBytes) {
        await reader.cancel().catch(() => undefined)
        throw new CapiscioError('NETWORK_ERROR', `${shown} sent more than ${maxBytes} bytes`)
      }
      chunks.push(chunk.value)
    }
  }
  if (options.parse) return options.parse(Buffer.concat(chunks), shown)
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch (err) {
    throw new CapiscioError('NETWORK_ERROR', `${shown} did not answer with JSON`, { cause: err })
  }
}
