import { isLoopbackHost } from '../net/fetch-json.js'
import { checkCardSchema03 } from './schema-check.js'
import { parseCardSignatureHeader } from './sign.js'

/** Every finding code `validateAgentCard` may report, with its severity (docs/card-rules.md). */
export const CARD_RULES = {
  LEGACY_CARD_SHAPE: 'error',
  NOT_AN_OBJECT: 'error',
  MISSING_NAME: 'error',
  MISSING_DESCRIPTION: 'error',
  MISSING_VERSION: 'error',
  MISSING_URL: 'error',
  MISSING_PROTOCOL_VERSION: 'error',
  MISSING_INTERFACES: 'error',
  MISSING_PROTOCOL_BINDING: 'error',
  INVALID_URL_SCHEME: 'error',
  INVALID_PROTOCOL_VERSION: 'error',
  INVALID_TRANSPORT: 'error',
  MISSING_SKILL_FIELD: 'error',
  INVALID_SIGNATURE: 'error',
  SCHEMA_VIOLATION: 'error',
  INSECURE_URL: 'warning',
  NON_SEMVER_VERSION: 'warning',
  MISSING_CAPABILITIES: 'warning',
  MISSING_INPUT_MODES: 'warning',
  MISSING_OUTPUT_MODES: 'warning',
  NO_SKILLS: 'warning',
  MISSING_SKILL_TAGS: 'warning',
  NO_SIGNATURES: 'warning',
  SCHEMA_MISSING_MEMBER: 'warning',
  LEGACY_DISCOVERY_ENDPOINT: 'warning',
} as const

export type CardRule = keyof typeof CARD_RULES

export interface CardFinding {
  code: CardRule
  severity: 'error' | 'warning'
  /** Where in the card (a JSON path such as `skills[0].tags`), or "" for the card itself. */
  path: string
  message: string
}

export interface CardValidation {
  /** No errors (and, with strict, no warnings). */
  valid: boolean
  /** The shape the rules were applied for: "1.0", "0.3", or "legacy". */
  version: '1.0' | '0.3' | 'legacy'
  /** 100 minus 20 per error and 5 per warning, never below 0. */
  score: number
  errors: CardFinding[]
  warnings: CardFinding[]
}

const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/
const TRANSPORTS = ['JSONRPC', 'GRPC', 'HTTP+JSON']

/**
 * Lints an agent card (docs/card-rules.md): the A2A 1.0 rules when it has `supportedInterfaces`
 * (or version "1.0" is asked for), else the 0.3 rules; a 0.2-era card (capabilities as an
 * array, `endpoints`, protocolVersion below 0.3) is reported as LEGACY_CARD_SHAPE and not
 * linted further. A 0.3 card is also checked against the A2A 0.3.0 JSON Schema (schema-check.ts):
 * what the rules already report stays theirs, any other absent required member is
 * SCHEMA_MISSING_MEMBER (a warning), anything else the schema refuses SCHEMA_VIOLATION (an error).
 * Never throws on any JSON value.
 */
export function validateAgentCard(
  card: unknown,
  options: { version?: '1.0' | '0.3'; strict?: boolean; extra?: CardFinding[] } = {},
): CardValidation {
  const findings: CardFinding[] = [...(options.extra ?? [])]
  const add = (code: CardRule, path: string, message: string) =>
    findings.push({ code, severity: CARD_RULES[code], path, message })
  let version: CardValidation['version'] = options.version ?? '0.3'

  if (typeof card !== 'object' || card === null || Array.isArray(card)) {
    add('NOT_AN_OBJECT', '', 'the card is not a JSON object')
  } else {
    const c = card as Record<string, unknown>
    // The 0.2 era: capabilities as a list of names, and endpoints instead of url.
    const legacy = Array.isArray(c.capabilities) || Array.isArray(c.endpoints)
    if (legacy) {
      version = 'legacy'
      add(
        'LEGACY_CARD_SHAPE',
        '',
        `a 0.2-era card (${[Array.isArray(c.capabilities) && 'capabilities as an array', c.endpoints !== undefined && 'endpoints'].filter(Boolean).join(', ')}); A2A 0.3 and 1.0 cards have a capabilities object and url or supportedInterfaces`,
      )
    } else {
      if (!options.version && Array.isArray(c.supportedInterfaces)) version = '1.0'
      lintCommon(c, add)
      if (version === '1.0') lint10(c, add)
      else {
        lint03(c, add)
        schema03(c, findings, add)
      }
    }
  }
  const errors = findings.filter((f) => f.severity === 'error')
  const warnings = findings.filter((f) => f.severity === 'warning')
  return {
    valid: errors.length === 0 && !(options.strict && warnings.length > 0),
    version,
    score: Math.max(0, 100 - 20 * errors.length - 5 * warnings.length),
    errors,
    warnings,
  }
}

type Add = (code: CardRule, path: string, message: string) => void

const present = (v: unknown) => typeof v === 'string' && v.trim() !== ''

function checkUrl(value: unknown, path: string, add: Add): void {
  if (!present(value)) return
  let url: URL
  try {
    url = new URL(value as string)
  } catch {
    add('INVALID_URL_SCHEME', path, `${JSON.stringify(value)} is not an absolute URL`)
    return
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    add('INVALID_URL_SCHEME', path, `${url.protocol} URLs are not allowed; use https`)
  else if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
    add('INSECURE_URL', path, `${url.origin} is plain http; use https`)
}

function lintCommon(c: Record<string, unknown>, add: Add): void {
  if (!present(c.name)) add('MISSING_NAME', 'name', 'the card has no name')
  if (!present(c.description)) add('MISSING_DESCRIPTION', 'description', 'the card has no description')
  if (!present(c.version)) add('MISSING_VERSION', 'version', 'the card has no version')
  else if (!SEMVER.test(c.version as string))
    add('NON_SEMVER_VERSION', 'version', `version ${JSON.stringify(c.version)} is not semantic (x.y.z)`)
  for (const key of ['iconUrl', 'documentationUrl'] as const) checkUrl(c[key], key, add)
  if (typeof c.provider === 'object' && c.provider !== null)
    checkUrl((c.provider as Record<string, unknown>).url, 'provider.url', add)
  if (typeof c.capabilities !== 'object' || c.capabilities === null)
    add('MISSING_CAPABILITIES', 'capabilities', 'the card declares no capabilities')
  if (!Array.isArray(c.defaultInputModes) || c.defaultInputModes.length === 0)
    add('MISSING_INPUT_MODES', 'defaultInputModes', 'the card declares no input modes')
  if (!Array.isArray(c.defaultOutputModes) || c.defaultOutputModes.length === 0)
    add('MISSING_OUTPUT_MODES', 'defaultOutputModes', 'the card declares no output modes')
  const skills = c.skills
  if (!Array.isArray(skills) || skills.length === 0) add('NO_SKILLS', 'skills', 'the card lists no skills')
  else
    skills.forEach((s, i) => {
      const skill = (typeof s === 'object' && s !== null ? s : {}) as Record<string, unknown>
      for (const f of ['id', 'name', 'description'])
        if (!present(skill[f])) add('MISSING_SKILL_FIELD', `skills[${i}].${f}`, `skill ${i + 1} has no ${f}`)
      if (!Array.isArray(skill.tags) || skill.tags.length === 0)
        add('MISSING_SKILL_TAGS', `skills[${i}].tags`, `skill ${i + 1} has no tags`)
    })
  const sigs = c.signatures
  if (sigs === undefined || (Array.isArray(sigs) && sigs.length === 0))
    add('NO_SIGNATURES', 'signatures', 'the card is not signed (capiscio card sign)')
  else if (!Array.isArray(sigs)) add('INVALID_SIGNATURE', 'signatures', 'signatures is not an array')
  else
    sigs.forEach((s, i) => {
      try {
        parseCardSignatureHeader(s)
      } catch (err) {
        add('INVALID_SIGNATURE', `signatures[${i}]`, (err as Error).message)
      }
    })
}

function lint03(c: Record<string, unknown>, add: Add): void {
  if (!present(c.url)) add('MISSING_URL', 'url', 'the card has no url')
  else checkUrl(c.url, 'url', add)
  if (!present(c.protocolVersion))
    add('MISSING_PROTOCOL_VERSION', 'protocolVersion', 'the card has no protocolVersion')
  else if (!SEMVER.test(c.protocolVersion as string))
    add(
      'INVALID_PROTOCOL_VERSION',
      'protocolVersion',
      `protocolVersion ${JSON.stringify(c.protocolVersion)} is not semantic (x.y.z)`,
    )
  else if (/^0\.[0-2]\./.test(c.protocolVersion as string))
    add(
      'INVALID_PROTOCOL_VERSION',
      'protocolVersion',
      `protocolVersion ${String(c.protocolVersion)} predates A2A 0.3`,
    )
  if (c.preferredTransport !== undefined && !TRANSPORTS.includes(c.preferredTransport as string))
    add(
      'INVALID_TRANSPORT',
      'preferredTransport',
      `preferredTransport ${JSON.stringify(c.preferredTransport)} is not one of ${TRANSPORTS.join(', ')}`,
    )
  if (Array.isArray(c.additionalInterfaces))
    c.additionalInterfaces.forEach((x, i) => {
      const iface = (typeof x === 'object' && x !== null ? x : {}) as Record<string, unknown>
      checkUrl(iface.url, `additionalInterfaces[${i}].url`, add)
      if (!TRANSPORTS.includes(iface.transport as string))
        add(
          'INVALID_TRANSPORT',
          `additionalInterfaces[${i}].transport`,
          `transport ${JSON.stringify(iface.transport)} is not one of ${TRANSPORTS.join(', ')}`,
        )
    })
}

/**
 * The schema's findings where the rules have none: a missing member a rule already reports (name,
 * url, skills[0].tags…) is left to that rule, and a violation at a path where a rule found an error
 * (`name: 42` is MISSING_NAME) is not reported twice.
 */
function schema03(c: Record<string, unknown>, lint: readonly CardFinding[], add: Add): void {
  const anyAt = new Set(lint.map((f) => f.path))
  const errorAt = new Set(lint.filter((f) => f.severity === 'error').map((f) => f.path))
  for (const issue of checkCardSchema03(c)) {
    if (issue.kind === 'missing') {
      if (!anyAt.has(issue.path)) add('SCHEMA_MISSING_MEMBER', issue.path, issue.message)
    } else if (!errorAt.has(issue.path)) add('SCHEMA_VIOLATION', issue.path, issue.message)
  }
}

function lint10(c: Record<string, unknown>, add: Add): void {
  const ifaces = c.supportedInterfaces
  if (!Array.isArray(ifaces) || ifaces.length === 0) {
    add('MISSING_INTERFACES', 'supportedInterfaces', 'the card lists no supportedInterfaces')
    return
  }
  ifaces.forEach((x, i) => {
    const iface = (typeof x === 'object' && x !== null ? x : {}) as Record<string, unknown>
    const p = `supportedInterfaces[${i}]`
    if (!present(iface.url)) add('MISSING_URL', `${p}.url`, `interface ${i + 1} has no url`)
    else checkUrl(iface.url, `${p}.url`, add)
    if (!present(iface.protocolBinding))
      add('MISSING_PROTOCOL_BINDING', `${p}.protocolBinding`, `interface ${i + 1} has no protocolBinding`)
    else if (!TRANSPORTS.includes(iface.protocolBinding as string))
      add(
        'INVALID_TRANSPORT',
        `${p}.protocolBinding`,
        `protocolBinding ${JSON.stringify(iface.protocolBinding)} is not one of ${TRANSPORTS.join(', ')}`,
      )
    if (!present(iface.protocolVersion))
      add('MISSING_PROTOCOL_VERSION', `${p}.protocolVersion`, `interface ${i + 1} has no protocolVersion`)
    else if (!/^\d+\.\d+(\.\d+)?$/.test(iface.protocolVersion as string))
      add(
        'INVALID_PROTOCOL_VERSION',
        `${p}.protocolVersion`,
        `protocolVersion ${JSON.stringify(iface.protocolVersion)} is not a version (e.g. "1.0")`,
      )
  })
}
