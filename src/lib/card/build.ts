import { CapiscioError } from '../errors.js'
import type { AgentCard } from './sign.js'

export interface SkillInput {
  id: string
  name: string
  description: string
  tags: string[]
  examples?: string[]
}

/** What `card build` asks for: everything a card needs, flat, from flags, a file, config or prompts. */
export interface CardInput {
  name?: string
  description?: string
  /** The agent's A2A endpoint (JSON-RPC). */
  url?: string
  version?: string
  skills?: SkillInput[]
  inputModes?: string[]
  outputModes?: string[]
  streaming?: boolean
  pushNotifications?: boolean
  providerOrganization?: string
  providerUrl?: string
  documentationUrl?: string
  iconUrl?: string
  /** How callers authenticate: a CapiscIO badge, a bearer JWT, a SimpleGuard token, or nothing. */
  auth?: 'badge' | 'jwt' | 'guard' | 'none'
}

export type CardVersion = '1.0' | '0.3'

/** The fields without which no card is built. */
export const REQUIRED_CARD_FIELDS = ['name', 'description', 'url', 'version'] as const

const DEFAULT_MODES = ['text/plain']

/** The security scheme each --auth choice declares, in the flat (0.3, OpenAPI) form. */
const AUTH_SCHEMES = {
  badge: {
    capiscioBadge: {
      type: 'apiKey',
      in: 'header',
      name: 'X-Capiscio-Badge',
      description: 'a CapiscIO trust badge (RFC-002); also accepted as Authorization: Bearer',
    },
  },
  jwt: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
  guard: {
    capiscioGuard: {
      type: 'apiKey',
      in: 'header',
      name: 'X-Capiscio-Badge',
      description: 'a SimpleGuard request token signed over the body; also accepted as Authorization: Bearer',
    },
  },
} as const

/** A flat scheme in the 1.0 proto3 one-of shape (a2a-v1.proto SecurityScheme). */
function schemeV1(flat: Record<string, string>): Record<string, unknown> {
  const described = (o: Record<string, string | undefined>) =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== ''))
  if (flat.type === 'http')
    return {
      httpAuthSecurityScheme: described({
        scheme: flat.scheme,
        bearerFormat: flat.bearerFormat,
        description: flat.description,
      }),
    }
  return {
    apiKeySecurityScheme: described({ location: flat.in, name: flat.name, description: flat.description }),
  }
}

/** The fields a card input still lacks, by their flag names' stems. */
export function missingCardFields(input: CardInput): string[] {
  return REQUIRED_CARD_FIELDS.filter((f) => typeof input[f] !== 'string' || input[f]!.trim() === '')
}

const clean = (list: string[] | undefined) => list?.map((s) => s.trim()).filter((s) => s !== '')

/**
 * Builds an agent card (DESIGN §10): the A2A 1.0 shape by default, or 0.3. It never emits an empty
 * string, array or object, since SDKs that strip them and RFC 8785 would then sign different bytes.
 * Security schemes come from `auth`; requirements are left out, since a requirement without scopes
 * is an empty list (the same disagreement), and the schemes are what a client reads to authenticate.
 */
export function buildAgentCard(input: CardInput, version: CardVersion = '1.0'): AgentCard {
  const missing = missingCardFields(input)
  if (missing.length > 0)
    throw new CapiscioError('USAGE', `missing ${missing.join(', ')}`, { options: [...missing] })
  // Every URL the card carries, checked as its validator will (INVALID_URL_SCHEME): a card this
  // builds must pass `card validate`.
  checkHttpUrl(input.url!, 'url')
  for (const name of ['providerUrl', 'documentationUrl', 'iconUrl'] as const)
    if (input[name] !== undefined && input[name] !== '') checkHttpUrl(input[name], name)
  if (input.providerUrl && !input.providerOrganization)
    throw new CapiscioError(
      'USAGE',
      'providerUrl needs providerOrganization (a provider is an organization)',
      {
        options: ['providerUrl', 'providerOrganization'],
      },
    )
  const skills = (input.skills ?? []).map((s, i) => {
    for (const f of ['id', 'name', 'description'] as const)
      if (typeof s[f] !== 'string' || s[f].trim() === '')
        throw new CapiscioError('USAGE', `skill ${i + 1} has no ${f}`, { options: ['skills'] })
    const skill: Record<string, unknown> = { id: s.id, name: s.name, description: s.description }
    const tags = clean(s.tags)
    if (tags?.length) skill.tags = tags
    const examples = clean(s.examples)
    if (examples?.length) skill.examples = examples
    return skill
  })
  const card: AgentCard = {}
  const set = (key: string, value: unknown) => {
    if (value === undefined || value === '' || (Array.isArray(value) && value.length === 0)) return
    if (
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      Object.keys(value).length === 0
    )
      return
    card[key] = value
  }
  if (version === '0.3') set('protocolVersion', '0.3.0')
  set('name', input.name!.trim())
  set('description', input.description!.trim())
  if (version === '0.3') {
    set('url', input.url!.trim())
    set('preferredTransport', 'JSONRPC')
  } else {
    set('supportedInterfaces', [
      { url: input.url!.trim(), protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
    ])
  }
  set('version', input.version!.trim())
  if (input.providerOrganization) {
    const provider: Record<string, string> = { organization: input.providerOrganization }
    if (input.providerUrl) provider.url = input.providerUrl
    set('provider', provider)
  }
  set('documentationUrl', input.documentationUrl)
  set('iconUrl', input.iconUrl)
  set('capabilities', {
    streaming: input.streaming ?? false,
    pushNotifications: input.pushNotifications ?? false,
  })
  const auth = input.auth ?? 'none'
  if (auth !== 'none') {
    const flat = AUTH_SCHEMES[auth] as Record<string, Record<string, string>>
    set(
      'securitySchemes',
      version === '0.3' ? flat : Object.fromEntries(Object.entries(flat).map(([k, v]) => [k, schemeV1(v)])),
    )
  }
  set('defaultInputModes', clean(input.inputModes)?.length ? clean(input.inputModes) : DEFAULT_MODES)
  set('defaultOutputModes', clean(input.outputModes)?.length ? clean(input.outputModes) : DEFAULT_MODES)
  set('skills', skills)
  return card
}

/** An absolute http(s) URL, or a usage error naming the option it came from. */
function checkHttpUrl(value: string, option: string): void {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new CapiscioError('USAGE', `${option} ${JSON.stringify(value)} is not an absolute URL`, {
      options: [option],
    })
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new CapiscioError('USAGE', `${option} must be http(s), not ${url.protocol}`, { options: [option] })
}

/** `--skill id:name:description:tag,tag` (a colon inside a part is written `\\:`). */
export function parseSkillSpec(spec: string): SkillInput {
  const parts = spec.split(/(?<!\\):/).map((p) => p.replace(/\\:/g, ':').trim())
  if (parts.length < 3 || parts.length > 4 || parts.slice(0, 3).some((p) => p === ''))
    throw new CapiscioError('USAGE', `a skill is id:name:description[:tag,tag], not ${JSON.stringify(spec)}`)
  const [id, name, description, tags] = parts as [string, string, string, string | undefined]
  return {
    id,
    name,
    description,
    tags: (tags ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean),
  }
}

/** The members inputFromPartialCard reads, and those the builder makes itself (so not "ignored"). */
const READ_MEMBERS = new Set([
  'name',
  'description',
  'version',
  'url',
  'supportedInterfaces',
  'defaultInputModes',
  'defaultOutputModes',
  'capabilities',
  'provider',
  'documentationUrl',
  'iconUrl',
  'skills',
  'auth',
  'protocolVersion',
  'preferredTransport',
])

export interface PartialCardOptions {
  /** Told the top-level members the builder does not carry over (it builds only what it knows). */
  onIgnored?: (members: string[]) => void
}

/**
 * A partial card (`--from FILE`, the config file's `card` section) as builder input. A member the
 * builder reads but of the wrong type is a usage error naming it, never silently left out (a card
 * that builds clean but lacks what the file said).
 */
export function inputFromPartialCard(
  partial: Record<string, unknown>,
  options: PartialCardOptions = {},
): CardInput {
  const wrong = (what: string, should: string): never => {
    throw new CapiscioError('USAGE', `${what} must be ${should}`)
  }
  const str = (v: unknown, what: string) => {
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'string') wrong(what, 'a string')
    return (v as string).trim() !== '' ? (v as string) : undefined
  }
  const strs = (v: unknown, what: string) => {
    if (v === undefined || v === null) return undefined
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) wrong(what, 'an array of strings')
    return v as string[]
  }
  const object = (v: unknown, what: string) => {
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'object' || Array.isArray(v)) wrong(what, 'an object')
    return v as Record<string, unknown>
  }
  const input: CardInput = {}
  const assign = <K extends keyof CardInput>(k: K, v: CardInput[K] | undefined) => {
    if (v !== undefined) input[k] = v
  }
  assign('name', str(partial.name, 'name'))
  assign('description', str(partial.description, 'description'))
  assign('version', str(partial.version, 'version'))
  const ifaces = partial.supportedInterfaces
  if (ifaces !== undefined && !Array.isArray(ifaces)) wrong('supportedInterfaces', 'an array')
  const first = Array.isArray(ifaces) ? object(ifaces[0], 'supportedInterfaces[0]') : undefined
  assign('url', str(partial.url, 'url') ?? str(first?.url, 'supportedInterfaces[0].url'))
  assign('inputModes', strs(partial.defaultInputModes, 'defaultInputModes'))
  assign('outputModes', strs(partial.defaultOutputModes, 'defaultOutputModes'))
  const caps = object(partial.capabilities, 'capabilities')
  for (const [name, key] of [
    ['streaming', 'streaming'],
    ['pushNotifications', 'pushNotifications'],
  ] as const) {
    const v = caps?.[name]
    if (v === undefined) continue
    if (typeof v !== 'boolean') wrong(`capabilities.${name}`, 'true or false')
    input[key] = v as boolean
  }
  const provider = object(partial.provider, 'provider')
  assign('providerOrganization', str(provider?.organization, 'provider.organization'))
  assign('providerUrl', str(provider?.url, 'provider.url'))
  assign('documentationUrl', str(partial.documentationUrl, 'documentationUrl'))
  assign('iconUrl', str(partial.iconUrl, 'iconUrl'))
  if (partial.skills !== undefined && !Array.isArray(partial.skills)) wrong('skills', 'an array of skills')
  if (Array.isArray(partial.skills))
    input.skills = partial.skills.map((s, i) => {
      const at = `skill ${i + 1}`
      const k = object(s, at) ?? wrong(at, 'an object')
      const examples = strs(k.examples, `${at} examples`)
      return {
        id: str(k.id, `${at} id`) ?? '',
        name: str(k.name, `${at} name`) ?? '',
        description: str(k.description, `${at} description`) ?? '',
        tags: strs(k.tags, `${at} tags`) ?? [],
        ...(examples ? { examples } : {}),
      }
    })
  if (partial.auth !== undefined) {
    if (typeof partial.auth !== 'string' || !['badge', 'jwt', 'guard', 'none'].includes(partial.auth))
      wrong('auth', 'one of badge, jwt, guard, none')
    input.auth = partial.auth as CardInput['auth']
  }
  const ignored = Object.keys(partial).filter((k) => !READ_MEMBERS.has(k))
  if (ignored.length > 0) options.onIgnored?.(ignored)
  return input
}
