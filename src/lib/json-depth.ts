/**
 * Whether JSON text opens at most `max` containers deep (brackets inside strings do not count).
 * Iterative, so hostile nesting costs one pass and never a stack: used before JSON.parse on
 * tokens (32 levels) and agent cards (128).
 */
export function nestsWithin(text: string, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return false
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return true
}
