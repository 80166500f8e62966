import { decodeJws } from './jws.js'

export interface DecodedBadge {
  header: Record<string, unknown>
  /** The payload as written: not validated, not verified. */
  claims: Record<string, unknown>
}

/** Decodes a badge without verifying anything (for `badge inspect` and for logs). */
export function decodeBadge(token: string): DecodedBadge {
  const { header, payload } = decodeJws(token.trim())
  return { header, claims: payload }
}
