/**
 * Comma lists as every setting reads them (a flag, a variable, a config value): `a,b` and repeated
 * values alike, each item trimmed. An empty item (`badge,,jwt`, a trailing comma) is a slip to point
 * out, never one to drop unseen; the caller names the setting and picks the error code.
 */
export function commaItems(values: string | readonly string[]): string[] {
  return (typeof values === 'string' ? [values] : values).flatMap((v) => v.split(',')).map((v) => v.trim())
}

/** Why these items are no list: all empty, or one of them empty; undefined when they are one. */
export function commaListProblem(items: readonly string[]): 'empty' | 'empty item' | undefined {
  if (items.every((x) => x === '')) return 'empty'
  return items.includes('') ? 'empty item' : undefined
}

export const EMPTY_ITEM = 'has an empty item (two commas in a row, or one at either end)'
