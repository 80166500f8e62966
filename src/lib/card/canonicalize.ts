import { CapiscioError } from '../errors.js'
import { nestsWithin } from '../json-depth.js'

/**
 * How deep a card may nest, counted in open containers (the outermost is 1; an empty one counts):
 * the bound of `../shared/conformance/a2a/jcs_depth_vectors.json`. RFC 8785 states none, and
 * canonicalization runs before any signature check, so it is reachable without a key.
 */
export const MAX_JCS_DEPTH = 128

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

function fail(message: string): never {
  throw new CapiscioError('CARD_INVALID', message)
}

/**
 * RFC 8785 (JCS): object members sorted by their UTF-16 code units, no whitespace, strings and
 * numbers as ECMAScript serializes them (which is what the RFC specifies). Refused: nesting past
 * MAX_JCS_DEPTH, non-finite numbers, strings with lone surrogates (not I-JSON), and values JSON
 * cannot hold (undefined, functions, bigints).
 */
export function canonicalize(value: unknown): string {
  return write(value, 0)
}

function write(value: unknown, depth: number): string {
  switch (typeof value) {
    case 'string':
      if (LONE_SURROGATE.test(value)) fail('a string holds a lone surrogate (not I-JSON, RFC 8785 §3.1)')
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) fail('a number is not finite')
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object': {
      if (value === null) return 'null'
      if (depth + 1 > MAX_JCS_DEPTH) fail(`the JSON nests deeper than ${MAX_JCS_DEPTH} levels`)
      if (Array.isArray(value)) return `[${value.map((v) => write(v, depth + 1)).join(',')}]`
      const keys = Object.keys(value).sort()
      const parts: string[] = []
      for (const key of keys) {
        const member = (value as Record<string, unknown>)[key]
        if (member === undefined) continue
        parts.push(`${write(key, depth + 1)}:${write(member, depth + 1)}`)
      }
      return `{${parts.join(',')}}`
    }
    default:
      return fail(`a ${typeof value} cannot be canonicalized`)
  }
}

/**
 * JSON text → its canonical form. The nesting is checked on the text, iteratively, before it is
 * parsed, so ten million brackets are refused in one pass instead of exhausting a stack.
 */
export function canonicalizeText(text: string): string {
  if (!nestsWithin(text, MAX_JCS_DEPTH)) fail(`the JSON nests deeper than ${MAX_JCS_DEPTH} levels`)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    fail('the input is not JSON')
  }
  return canonicalize(value)
}
