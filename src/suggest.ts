/** The candidate closest to what was typed (edit distance), if it is close enough to be a typo. */
export function closest(typed: string, candidates: Iterable<string>): string | undefined {
  let best: { c: string; d: number } | undefined
  for (const c of candidates) {
    const d = distance(typed, c)
    if (!best || d < best.d) best = { c, d }
  }
  return best && isTypo(best.d, best.c) ? best.c : undefined
}

/** Close enough to be a slip of the fingers: two edits, or a quarter of a long word. */
export function isTypo(d: number, candidate: string): boolean {
  return d <= Math.max(2, Math.floor(candidate.length / 4))
}

/** Levenshtein distance. */
export function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = row
  }
  return prev[b.length]!
}

/**
 * Flags that name the same thing under another command's name for it: `--local-key` is gateway
 * start's trusted key and `--key` badge verify's; `--registry-url` beside `--jwks`; `--aud` beside
 * `--audience`. Spelled far apart, so no edit distance would find them.
 */
const SYNONYMS: ReadonlyMap<string, readonly string[]> = new Map(
  Object.entries({
    'local-key': ['key'],
    key: ['local-key'],
    'registry-url': ['jwks'],
    jwks: ['registry-url'],
    audience: ['aud'],
    aud: ['audience'],
    issuer: ['iss'],
    iss: ['issuer'],
    'secret-file': ['jwt-secret-file'],
    'jwt-secret-file': ['secret-file'],
    'trust-store': ['trust-dir'],
    body: ['body-file'],
  }),
)

/** What a command calls a flag that another command spells differently, if it has it. */
export function synonymOf(typed: string, flags: readonly string[]): string | undefined {
  return SYNONYMS.get(typed)?.find((name) => flags.includes(name))
}
