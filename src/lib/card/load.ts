import { CapiscioError } from '../errors.js'
import { readFileBytes } from '../io.js'
import { nestsWithin } from '../json-depth.js'
import { firstDuplicateName } from '../json-duplicates.js'
import { checkFetchUrl, fetchJson, MAX_REMOTE_BYTES, type FetchLike } from '../net/fetch-json.js'
import { MAX_JCS_DEPTH } from './canonicalize.js'
import type { AgentCard } from './sign.js'

/** A card's JSON text as a card object: depth checked on the text first, then parsed. */
export function parseCard(text: string, from: string): AgentCard {
  if (!nestsWithin(text, MAX_JCS_DEPTH))
    throw new CapiscioError('CARD_INVALID', `${from} nests deeper than ${MAX_JCS_DEPTH} levels`)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new CapiscioError('CARD_UNREADABLE', `${from} is not JSON`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CapiscioError('CARD_UNREADABLE', `${from} is not a JSON object`)
  const twice = firstDuplicateName(text)
  if (twice !== undefined)
    throw new CapiscioError(
      'CARD_INVALID',
      `${from} has the member ${JSON.stringify(twice)} twice in one object (JSON readers disagree on which one counts)`,
      { hint: 'keep one of them' },
    )
  return value as AgentCard
}

/** A card from a file or an https URL (http on loopback), at most 1 MiB. */
export async function loadCard(source: string, options: { fetch?: FetchLike } = {}): Promise<AgentCard> {
  if (/^https?:\/\//i.test(source)) {
    return (await fetchJson(checkFetchUrl(source), {
      fetch: options.fetch,
      maxBytes: MAX_REMOTE_BYTES,
      parse: cardFromBytes,
    })) as AgentCard
  }
  return cardFromBytes(await readFileBytes(source, MAX_REMOTE_BYTES), source)
}

/** A card's bytes, from a file or a response: strict UTF-8, then parseCard. */
export function cardFromBytes(bytes: Buffer, from: string): AgentCard {
  let text: string
  try {
    // Strictly: a lenient decode would turn bad bytes into U+FFFD, and `card sign` sign that instead.
    text = STRICT_UTF8.decode(bytes)
  } catch {
    throw new CapiscioError('CARD_UNREADABLE', `${from} is not UTF-8 text`)
  }
  return parseCard(text, from)
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true })
