import { CapiscioError } from '../errors.js'
import { redactUrl } from '../net/redact.js'

/** The agent a proxying gateway protects: an absolute http(s) URL, a path prefix allowed. */
export function validateTarget(target: string): URL {
  let url: URL
  const invalid = (why?: string) =>
    new CapiscioError('USAGE', `invalid target URL: ${redactUrl(target)}${why ? ` (${why})` : ''}`, {
      options: ['target'],
    })
  try {
    url = new URL(target)
  } catch {
    throw invalid()
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('use http or https')
  if (url.search || url.hash) throw invalid('no query or fragment')
  // The proxy never sends them, and start-up lines show the target: refuse rather than drop them.
  if (url.username || url.password) throw invalid('no user:password@; the gateway sends no credentials')
  return url
}
