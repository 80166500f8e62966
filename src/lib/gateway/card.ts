import { createHash } from 'node:crypto'

import { CapiscioError } from '../errors.js'
import { readTextFile } from '../io.js'

export const CARD_PATHS = new Set(['/.well-known/agent-card.json', '/.well-known/agent.json'])

export interface ServedCard {
  body: Buffer
  etag: string
}

/** Loads `--card FILE` once at start: it must be JSON; its strong ETag is the body's SHA-256. */
export async function loadCard(path: string): Promise<ServedCard> {
  const text = await readTextFile(path)
  try {
    JSON.parse(text)
  } catch (err) {
    throw new CapiscioError('FILE_UNREADABLE', `${path} is not valid JSON`, { cause: err })
  }
  const body = Buffer.from(text)
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url')}"` }
}
