/**
 * The first member name that appears twice in one object of a JSON text, or undefined. JSON.parse
 * keeps the last of them silently, so a card with `"name":"a","name":"b"` would be signed as "b"
 * while a reader that keeps the first sees "a"; RFC 8785 canonicalization is defined for I-JSON
 * only, which forbids duplicates (RFC 7493 §2.3). Names are compared decoded: "a" and "\u0061"
 * are one name. The text must already have parsed (this walks it without checking its grammar).
 */
export function firstDuplicateName(text: string): string | undefined {
  // One entry per open container: the names seen so far in an object, null for an array.
  const open: (Set<string> | null)[] = []
  let expectName = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      const start = i
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++
      const names = open.at(-1)
      if (expectName && names) {
        const name = JSON.parse(text.slice(start, i + 1)) as string
        if (names.has(name)) return name
        names.add(name)
        expectName = false
      }
    } else if (c === 0x7b /* { */) {
      open.push(new Set())
      expectName = true
    } else if (c === 0x5b /* [ */) {
      open.push(null)
      expectName = false
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      open.pop()
      expectName = false
    } else if (c === 0x2c /* , */) {
      expectName = (open.at(-1) ?? null) !== null
    }
  }
  return undefined
}
