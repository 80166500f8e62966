import { createRequire } from 'node:module'

import type { Ajv, ErrorObject, ValidateFunction } from 'ajv'

import { AGENT_CARD_SCHEMA_V03 } from './schema-v03.js'

/** A place where a card departs from the A2A 0.3.0 JSON Schema. */
export interface SchemaIssue {
  /** A `required` member is absent ("missing"), or anything else is wrong ("violation"). */
  kind: 'missing' | 'violation'
  /** In the findings' format: `skills[0].tags`, `securitySchemes["odd key"]`. */
  path: string
  message: string
}

type Json = Record<string, unknown>
type Schema = { [key: string]: unknown }
const DEFINITIONS = AGENT_CARD_SCHEMA_V03.definitions as unknown as Record<string, Schema>
const ID = 'urn:capiscio:a2a-v0.3.0:agent-card'
const nodeRequire = createRequire(import.meta.url)
let loaded: { ajv: Ajv; validate: ValidateFunction } | undefined

/**
 * The card validator, compiled on first use. ajv is loaded then too (it is external to the CLI
 * bundle), so commands that never check a 0.3 card never load it. The generated schema is checked
 * against draft-07 by its unit test, so it is not validated again here (a third of the compile time).
 */
function compiled(): { ajv: Ajv; validate: ValidateFunction } {
  if (!loaded) {
    const { Ajv } = nodeRequire('ajv') as { Ajv: typeof import('ajv').Ajv }
    const ajv = new Ajv({
      allErrors: true,
      verbose: true,
      messages: false,
      logger: false,
      validateSchema: false,
    })
    loaded = { ajv, validate: ajv.compile({ ...AGENT_CARD_SCHEMA_V03, $id: ID }) }
  }
  return loaded
}

/**
 * Checks a card object against the A2A 0.3.0 AgentCard schema: one issue per problem, an `anyOf`
 * that no branch matches as one issue at its own path. The schema does not recurse, so the work is
 * bounded by the card's size, however deeply it nests.
 */
export function checkCardSchema03(card: Json): SchemaIssue[] {
  const { validate } = compiled()
  if (validate(card)) return []
  return collapseAnyOf(validate.errors ?? []).map((e) => toIssue(card, e))
}

/**
 * ajv reports every failing branch of an anyOf just before the anyOf's own error; those branch
 * errors (the trailing ones at or below its path) are dropped for the one anyOf error.
 */
function collapseAnyOf(errors: ErrorObject[]): ErrorObject[] {
  const out: ErrorObject[] = []
  for (const e of errors) {
    if (e.keyword === 'anyOf')
      while (out.length > 0 && within(out[out.length - 1]!.instancePath, e.instancePath)) out.pop()
    out.push(e)
  }
  return out
}

const within = (path: string, base: string) => path === base || path.startsWith(`${base}/`)

/** An ajv error as an issue; `whole` names the root value in messages. */
function toIssue(root: unknown, e: ErrorObject, whole = 'the card'): SchemaIssue {
  const at = segments(root, e.instancePath)
  const name = label(at) || whole
  const p = e.params as Record<string, unknown>
  switch (e.keyword) {
    case 'required': {
      const member = String(p.missingProperty)
      return {
        kind: 'missing',
        path: format([...at, member]),
        message: `${name} has no ${member}, which the A2A 0.3 schema requires`,
      }
    }
    case 'additionalProperties': {
      const member = String(p.additionalProperty)
      return { kind: 'violation', path: format([...at, member]), message: `${name} may not have ${member}` }
    }
    case 'anyOf':
      return { kind: 'violation', path: format(at), message: `${name} ${noShape(e)}` }
    default:
      return { kind: 'violation', path: format(at), message: `${name} ${violation(e)}` }
  }
}

/** What a keyword wanted, against what the value is. */
function violation(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>
  const is = describe(e.data)
  switch (e.keyword) {
    case 'type':
      return `must be ${expectedType(p.type, e.parentSchema)}, not ${is}`
    case 'enum':
      return `must be ${oneOf((e.schema as unknown[]).map(quote))}, not ${is}`
    case 'const':
      return `must be ${quote(p.allowedValue)}, not ${is}`
    default:
      return `does not meet the A2A 0.3 schema's ${e.keyword} rule`
  }
}

/**
 * An anyOf that no branch matched. When the branches are told apart by a `type` constant (the
 * security schemes) and the value names one, the message says what that branch is missing.
 */
function noShape(e: ErrorObject): string {
  const branches = (e.schema as { $ref?: string }[]).map(
    (b, i) => b.$ref?.replace('#/definitions/', '') ?? `shape ${i + 1}`,
  )
  const kinds = branches.map((b) => (DEFINITIONS[b]?.properties as Schema | undefined)?.type as Schema)
  const head = 'matches none of the allowed shapes'
  if (!kinds.every((k) => k && typeof k.const === 'string')) return `${head}: ${branches.join(', ')}`
  const names = kinds.map((k) => k.const as string)
  const v = e.data
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    return `${head}: an object with type ${oneOf(names.map(quote))}, not ${describe(v)}`
  const type = (v as Json).type
  const branch = typeof type === 'string' ? names.indexOf(type) : -1
  if (branch === -1)
    return type === undefined
      ? `${head}: it has no type (${oneOf(names.map(quote))})`
      : `${head}: type must be ${oneOf(names.map(quote))}, not ${describe(type)}`
  const check = compiled().ajv.getSchema(`${ID}#/definitions/${branches[branch]}`)
  if (!check || check(v)) return `${head}: as type ${quote(type)}, it does not fit`
  const why = collapseAnyOf(check.errors ?? [])
    .slice(0, 3)
    .map((x) => toIssue(v, x, 'it').message.replace(/, which the A2A 0.3 schema requires$/, ''))
  return `${head}: as type ${quote(type)}, ${why.join('; ')}`
}

function expectedType(type: unknown, schema: Schema | undefined): string {
  const one = (t: string): string => {
    if (t !== 'array') return article(t)
    const items = (schema?.items as Schema | undefined)?.type
    return typeof items === 'string' ? `an array of ${items}s` : 'an array'
  }
  return Array.isArray(type) ? type.map((t) => one(String(t))).join(' or ') : one(String(type))
}

const article = (t: string) => (t === 'object' || t === 'array' || t === 'integer' ? `an ${t}` : `a ${t}`)

/** A value's kind, with the value itself when it is short: `a string ("yes")`, `an object`. */
function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') return 'an object'
  if (typeof v === 'undefined') return 'absent'
  return `${article(typeof v)} (${quote(v)})`
}

/** A primitive as JSON, a string cut to about 40 characters; never a whole object or array. */
function quote(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(cut(v, 40))
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object'
  return String(v)
}

function cut(s: string, max: number): string {
  if (s.length <= max) return s
  let end = max - 1
  if (/[\uD800-\uDBFF]/.test(s[end - 1]!)) end-- // not half of a surrogate pair
  return `${s.slice(0, end)}…`
}

const oneOf = (xs: string[]) =>
  xs.length < 2 ? xs.join('') : `${xs.slice(0, -1).join(', ')} or ${xs.at(-1)}`

type Segment = string | number

/** A JSON pointer as keys and array indices, told apart by walking the value it points into. */
function segments(root: unknown, pointer: string): Segment[] {
  if (pointer === '') return []
  let node = root
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => {
      const key = raw.replace(/~1/g, '/').replace(/~0/g, '~')
      const isIndex = Array.isArray(node)
      const next =
        typeof node === 'object' && node !== null && Object.hasOwn(node, key)
          ? (node as Record<string, unknown>)[key]
          : undefined
      node = next
      return isIndex ? Number(key) : key
    })
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/
const MAX_KEY = 64
const plain = (key: string) => IDENTIFIER.test(key) && key.length <= MAX_KEY
const quoted = (key: string) => JSON.stringify(cut(key, MAX_KEY))

/** `skills[0].tags`, `securitySchemes["odd key"]`; a key longer than 64 characters is cut. */
function format(at: Segment[]): string {
  return at
    .map((s, i) =>
      typeof s === 'number' ? `[${s}]` : plain(s) ? `${i === 0 ? '' : '.'}${s}` : `[${quoted(s)}]`,
    )
    .join('')
}

/** The member a message names: the last key with the indices after it (`defaultInputModes[0]`). */
function label(at: Segment[]): string {
  let i = at.length - 1
  while (i > 0 && typeof at[i] === 'number') i--
  const key = at[i]
  if (typeof key !== 'string' || plain(key)) return format(at.slice(i))
  return quoted(key) + format(at.slice(i + 1))
}
