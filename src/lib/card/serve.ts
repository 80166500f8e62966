import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'

/** Where agents publish their card: the A2A path, and the legacy one older clients still ask for. */
export const CARD_PATHS: ReadonlySet<string> = new Set([
  '/.well-known/agent-card.json',
  '/.well-known/agent.json',
])

/** A card ready to serve: its bytes and their strong ETag (the SHA-256 of the bytes). */
export interface ServedCard {
  body: Buffer
  etag: string
}

export function servedCard(card: unknown): ServedCard {
  const body = Buffer.from(JSON.stringify(card), 'utf8')
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url')}"` }
}

/** If-None-Match (RFC 9110 §13.1.2): `*`, or a list of tags, compared weakly (W/ ignored). */
function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false
  if (header.trim() === '*') return true
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)
}

/** The version a request asks for in A2A-Version ("1.0", "0.3"…); absent means a pre-1.0 client. */
function wantsV1(req: IncomingMessage): boolean {
  const raw = req.headers['a2a-version']
  const value = Array.isArray(raw) ? raw[0] : raw
  if (!value) return false
  const major = Number.parseInt(value.trim(), 10)
  return Number.isFinite(major) && major >= 1
}

/**
 * Answers GET or HEAD for a card: 200 with ETag and Cache-Control, or 304 when If-None-Match
 * matches. With a legacy (0.3) card as well, a request without `A2A-Version` or below 1.0 gets
 * the legacy one, and every answer says `Vary: A2A-Version`. Shared by cardHandler and the gateway.
 */
export function answerCard(
  req: IncomingMessage,
  res: ServerResponse,
  cards: { v1: ServedCard; legacy?: ServedCard },
): void {
  const { body, etag } = cards.legacy && !wantsV1(req) ? cards.legacy : cards.v1
  const headers: Record<string, string | number> = {
    etag,
    'cache-control': 'public, max-age=300',
    'content-type': 'application/json',
  }
  if (cards.legacy) headers.vary = 'A2A-Version'
  if (matches(req.headers['if-none-match'], etag)) {
    res.writeHead(304, headers)
    res.end()
    return
  }
  res.writeHead(200, { ...headers, 'content-length': body.length })
  res.end(req.method === 'HEAD' ? undefined : body)
}

type CardSource = object | (() => object | Promise<object>)

/**
 * Serves an agent card at both well-known paths, for node:http (`createServer(cardHandler(card))`,
 * 404 elsewhere) and connect/Express (`app.use(cardHandler(card))`, next() elsewhere). A function
 * is called per request, so a card that changes (a new signature) is served at once; its ETag
 * follows its bytes. Other methods on those paths get 405.
 */
export function cardHandler(
  card: CardSource,
  options: { legacy?: CardSource } = {},
): (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void {
  const cache = new WeakMap<object, ServedCard>()
  const resolve = async (source: CardSource): Promise<ServedCard> => {
    const value = typeof source === 'function' ? await source() : source
    let served = cache.get(value)
    if (!served) cache.set(value, (served = servedCard(value)))
    return served
  }
  return (req, res, next) => {
    const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/'
    const end = url.search(/[?#]/)
    if (!CARD_PATHS.has(end < 0 ? url : url.slice(0, end))) {
      if (next) return next()
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end('{"error":"not found"}')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' })
      res.end('{"error":"method not allowed"}')
      return
    }
    Promise.all([resolve(card), options.legacy ? resolve(options.legacy) : undefined]).then(
      ([v1, legacy]) => answerCard(req, res, legacy ? { v1, legacy } : { v1 }),
      (err: unknown) => {
        if (next) return next(err)
        res.writeHead(500, { 'content-type': 'application/json' })
        res.end('{"error":"card unavailable"}')
      },
    )
  }
}
