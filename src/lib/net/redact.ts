/**
 * A URL as it may be shown in a log line or an error message: credentials in the user-info part
 * (`user:pass@`) and the whole query string (`?api_key=…`, signed-URL tokens) are replaced with
 * `***`, and the fragment is dropped. Works on text that does not parse as a URL, too.
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
    return url.replace(/[^/\s?#@]+@/g, '***@').replace(/[?#].*$/s, (m) => (m.startsWith('?') ? '?***' : ''))
  }
}
