import { statSync } from 'node:fs'

import { CapiscioError } from '../errors.js'
import { checkFetchUrl, fetchJson, isLoopbackHost, type FetchLike } from '../net/fetch-json.js'
import { redactUrl } from '../net/redact.js'
import { cardFromBytes, loadCard } from './load.js'
import type { AgentCard } from './sign.js'
import type { CardFinding } from './validate.js'

export interface DiscoveredCard {
  card: AgentCard
  /** Where it was read from. */
  source: string
  /** Findings about how it was found (the legacy well-known path). */
  findings: CardFinding[]
}

/**
 * A card from a file, a card URL, or a domain or origin (`agent.example.com`,
 * `https://agent.example.com`): well-known discovery tries `/.well-known/agent-card.json`, then the
 * legacy `/.well-known/agent.json` (reported as LEGACY_DISCOVERY_ENDPOINT).
 */
export async function discoverCard(
  input: string,
  options: { fetch?: FetchLike } = {},
): Promise<DiscoveredCard> {
  const isUrl = /^https?:\/\//i.test(input)
  // A file that exists is read, whatever its name looks like: `card.txt` is not a host to ask DNS
  // for. A directory named `agent.example.com` (a checkout) is no card: that name is a host.
  const host =
    isUrl || statSync(input, { throwIfNoEntry: false })?.isFile() ? undefined : HOST_PORT.exec(input)
  if (!isUrl && !host) return { card: await loadCard(input), source: input, findings: [] }
  // A bare loopback host is a local agent, served over plain http (the only host http is allowed for).
  const scheme = host && isLoopbackHost(host[1]!.toLowerCase()) ? 'http' : 'https'
  const base = checkFetchUrl(isUrl ? input : `${scheme}://${input}`)
  if (base.pathname !== '/' && base.pathname !== '') {
    return { card: await loadCard(base.href, options), source: base.href, findings: [] }
  }
  const primary = new URL('/.well-known/agent-card.json', base)
  try {
    return {
      card: (await fetchJson(primary, { ...options, parse: cardFromBytes })) as AgentCard,
      source: primary.href,
      findings: [],
    }
  } catch (err) {
    // Only a missing card moves on to the legacy path; an outage or a bad answer is reported.
    if (!(err instanceof CapiscioError && / answered HTTP 404$/.test(err.message))) throw err
  }
  const legacy = new URL('/.well-known/agent.json', base)
  let card: AgentCard
  try {
    card = (await fetchJson(legacy, { ...options, parse: cardFromBytes })) as AgentCard
  } catch (err) {
    // Neither path has a card: say so of both, not only of the legacy one tried last.
    if (!(err instanceof CapiscioError && / answered HTTP 404$/.test(err.message))) throw err
    throw new CapiscioError(
      err.code,
      `no agent card at ${redactUrl(primary)} (nor at the legacy ${legacy.pathname}): HTTP 404`,
      {
        hint: 'serve the card at /.well-known/agent-card.json, or give the card URL or a file',
        cause: err,
      },
    )
  }
  return {
    card,
    source: legacy.href,
    findings: [
      {
        code: 'LEGACY_DISCOVERY_ENDPOINT',
        severity: 'warning',
        path: '',
        message: `found only at the legacy ${legacy.pathname}; serve it at /.well-known/agent-card.json`,
      },
    ],
  }
}

/**
 * A host for discovery: a domain (`agent.example.com`, a letter TLD), `localhost`, an IPv4 address
 * or a bracketed IPv6 one, with an optional port. Not `card.json`: that is a file name.
 */
const HOST_PORT =
  /^((?!.*\.json(?::|$))[a-z0-9.-]+\.[a-z]{2,}|localhost|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i
