/**
 * Whether two strings are equal, in time that depends on their length only: no early exit at the
 * first difference, which would let a caller find a valid MAC or body hash a character at a time.
 * Without the two Buffers that crypto.timingSafeEqual needs (they cost more than an HS256 HMAC's
 * hashing); UTF-16 code units are compared, so the answer is `a === b`'s.
 */
export function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}
