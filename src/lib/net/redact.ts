/**
 * A URL as it may be shown in a log line or an error message: credentials in the user-info part
 * (`user:pass@`) and the whole query string (`?api_key=…`, signed-URL tokens) are replaced with
 * `***`, and the fragment is dropped. Text that does not parse as a URL is shown only up to its
 * scheme when it holds an `@`, `?` or `#`.
 */
export function redactUrl(url: URL | string): string {
  if (typeof url !== 'string') {
    const copy = new URL(url.href)
    const hadQuery = copy.search !== ''
    if (copy.username !== '' || copy.password !== '') {
      copy.username = '***'
      copy.password = ''
    }
    copy.search = ''
    copy.hash = ''
    return copy.href + (hadQuery ? '?***' : '')
  }
  try {
    return redactUrl(new URL(url))
  } catch {
    // Text that is not a URL cannot be taken apart safely (a password may hold '/', '#' or '?'): past
    // the scheme, show it only when nothing in it could be user-info, a query or a fragment.
    if (!/[@?#]/.test(url)) return url
    return `${/^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0] ?? ''}***`
  }
}
