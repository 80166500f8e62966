import { createHash } from 'node:crypto'

import { CapiscioError } from '../errors.js'
import { readTextFile } from '../io.js'

import type { ServedCard } from '../card/serve.js'

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
