import { createHash } from 'node:crypto'

import { CapiscioError } from '../errors.js'
import { readTextFile } from '../io.js'

import type { ServedCard } from '../card/serve.js'

/**
 * Loads `--card FILE` once at start: it must be one JSON object, as `card validate` asks (an array
 * or a string would be served to every client as the agent's card); its strong ETag is the body's
 * SHA-256.
 */
export async function loadCard(path: string): Promise<ServedCard> {
  const text = await readTextFile(path)
  let card: unknown
  try {
    card = JSON.parse(text)
  } catch (err) {
    throw new CapiscioError('CARD_UNREADABLE', `${path} is not valid JSON`, { cause: err })
  }
  if (typeof card !== 'object' || card === null || Array.isArray(card))
    throw new CapiscioError('CARD_UNREADABLE', `${path} is not a JSON object`)
  const body = Buffer.from(text)
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url')}"` }
}
