import { readFile } from 'node:fs/promises'
import { statSync } from 'node:fs'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'

import { commaItems, commaListProblem, EMPTY_ITEM } from './comma-list.js'
import { CapiscioError } from './errors.js'
import { KEY_ALGS, type KeyAlg } from './keys/key.js'
import {
  GATEWAY_SETTINGS,
  gatewayEnvName,
  type GatewayConfig,
  type GatewaySettingKey,
  type SettingDef,
} from './gateway/settings.js'

export { gatewayEnvName, type GatewayConfig }

/**
 * Project configuration (docs/architecture.md §3): flags > CAPISCIO_* environment > config file > defaults.
 * The file is found by cosmiconfig from the working directory up to the project root (the nearest
 * directory with a package.json). Unknown keys and wrong types are errors, so a typo never silently
 * falls back to a default.
 */
export interface CapiscioConfig {
  /** Where `key gen` writes and signing commands read keys. */
  keyDir?: string
  /** The trust store directory. */
  trustDir?: string
  /** The default algorithm for `key gen`. */
  alg?: KeyAlg
  /** `capiscio gateway start` settings. */
  gateway?: GatewayConfig
  /** Defaults for `capiscio card build`: a partial agent card (flags and --from override it). */
  card?: Record<string, unknown>
}

export interface LoadedConfig {
  config: CapiscioConfig
  /** The file it came from, or undefined when none was found. */
  filepath?: string
}

type Rule =
  /** `number`: a duration or size, which YAML and JSON may write as a bare number (seconds, bytes). */
  | { type: 'string'; path?: boolean; number?: boolean }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'integer'; min: number; max: number }
  | { type: 'boolean' }
  | { type: 'list' }

/** The top-level settings (the gateway section has its own resolver). */
export type TopKey = Exclude<keyof CapiscioConfig, 'gateway' | 'card'>

const SCHEMA: Record<TopKey, Rule> = {
  keyDir: { type: 'string', path: true },
  trustDir: { type: 'string', path: true },
  alg: { type: 'enum', values: KEY_ALGS },
}

/** The config rules of the `gateway` section, derived from the one table of gateway settings. */
export const GATEWAY_SCHEMA: Record<GatewaySettingKey, Rule> = Object.fromEntries(
  Object.entries(GATEWAY_SETTINGS).map(([key, d]: [string, SettingDef]) => {
    const rule: Rule =
      d.kind === 'integer'
        ? { type: 'integer', min: d.min!, max: d.max! }
        : d.kind === 'enum'
          ? { type: 'enum', values: d.values! }
          : d.kind === 'boolean' || d.kind === 'list'
            ? { type: d.kind }
            : d.kind === 'path'
              ? { type: 'string', path: true }
              : d.kind === 'duration' || d.kind === 'size'
                ? { type: 'string', number: true }
                : { type: 'string' }
    return [key, rule]
  }),
) as Record<GatewaySettingKey, Rule>

/** The environment variable for each top-level setting, and its default. */
export const SETTINGS: Record<TopKey, { env: string; default?: string }> = {
  keyDir: { env: 'CAPISCIO_KEY_DIR', default: 'capiscio_keys' },
  trustDir: { env: 'CAPISCIO_TRUST_DIR' },
  alg: { env: 'CAPISCIO_KEY_ALG', default: 'EdDSA' },
}

export const CONFIG_SEARCH_PLACES = [
  'package.json',
  '.capisciorc',
  '.capisciorc.json',
  '.capisciorc.yaml',
  '.capisciorc.yml',
  '.capisciorc.js',
  '.capisciorc.mjs',
  'capiscio.config.json',
  'capiscio.config.yaml',
  'capiscio.config.yml',
  'capiscio.config.js',
  'capiscio.config.mjs',
]

export async function loadConfig(cwd: string = process.cwd()): Promise<LoadedConfig> {
  // Loaded on first use: cosmiconfig pulls in YAML and TypeScript loaders that would slow every start.
  const { cosmiconfig } = await import('cosmiconfig')
  let result
  try {
    // Creating the explorer already reads package.json (for cosmiconfig's own settings).
    const explorer = cosmiconfig('capiscio', {
      searchPlaces: CONFIG_SEARCH_PLACES,
      searchStrategy: 'project',
    })
    result = await explorer.search(cwd)
  } catch (err) {
    throw await configReadError(err)
  }
  if (!result) return { config: {} }
  refuseSecondConfig(result.filepath)
  if (result.isEmpty) return { config: {}, filepath: result.filepath }
  return { config: validateConfig(result.config, result.filepath), filepath: result.filepath }
}

function isFile(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false
}

/**
 * Two config files in one directory are refused, as Babel refuses them: the search takes the first
 * (package.json's `capiscio` key, then .capisciorc*, then capiscio.config.*), and the other, even
 * one that does not parse, would be ignored without a word.
 */
function refuseSecondConfig(found: string): void {
  const dir = dirname(found)
  // package.json counts only with a capiscio key, which the search would have found first.
  const other = CONFIG_SEARCH_PLACES.find(
    (place) => place !== 'package.json' && place !== basename(found) && isFile(join(dir, place)),
  )
  if (other === undefined) return
  const first = basename(found) === 'package.json' ? 'the capiscio key in package.json' : basename(found)
  throw new CapiscioError('CONFIG_INVALID', `${dir} has two config files: ${first} and ${other}`, {
    hint: `keep one: ${first} would be used and ${other} ignored`,
  })
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function validateSection(
  raw: Record<string, unknown>,
  schema: Record<string, Rule>,
  filepath: string,
  prefix: string,
  sections: string[] = [],
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(raw)) {
    const rule = schema[key]
    if (!rule) {
      throw new CapiscioError('CONFIG_INVALID', `${filepath}: unknown key "${prefix}${key}"`, {
        hint: `known keys: ${[...Object.keys(schema), ...sections].map((k) => prefix + k).join(', ')}`,
      })
    }
    let v = checkValue(rule, value, `${filepath}: "${prefix}${key}"`)
    if (rule.type === 'string' && rule.path && !isAbsolute(v as string))
      v = resolve(dirname(filepath), v as string)
    out[key] = v
  }
  return out
}

/** Checks a parsed config object against the schema; relative paths resolve against the file's folder. */
export function validateConfig(raw: unknown, filepath: string): CapiscioConfig {
  if (!isPlainObject(raw))
    throw new CapiscioError('CONFIG_INVALID', `${filepath}: the configuration must be an object`)
  const { gateway, card, ...top } = raw
  const out = validateSection(top, SCHEMA, filepath, '', ['gateway', 'card']) as CapiscioConfig
  if (card !== undefined) {
    if (!isPlainObject(card))
      throw new CapiscioError('CONFIG_INVALID', `${filepath}: "card" must be an object`)
    out.card = card
  }
  if (gateway !== undefined) {
    if (!isPlainObject(gateway))
      throw new CapiscioError('CONFIG_INVALID', `${filepath}: "gateway" must be an object`)
    out.gateway = validateSection(gateway, GATEWAY_SCHEMA, filepath, 'gateway.') as GatewayConfig
  }
  return out
}

function checkValue(rule: Rule, value: unknown, where: string): unknown {
  switch (rule.type) {
    case 'boolean':
      if (typeof value !== 'boolean')
        throw new CapiscioError('CONFIG_INVALID', `${where} must be true or false`)
      return value
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < rule.min || value > rule.max) {
        throw new CapiscioError(
          'CONFIG_INVALID',
          `${where} must be a whole number from ${rule.min} to ${rule.max}`,
        )
      }
      return value
    case 'list':
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v.length > 0)) {
        throw new CapiscioError('CONFIG_INVALID', `${where} must be a list of strings`)
      }
      return value
    default:
      // `maxBody: 1048576`, `drainTimeout: 30`: what the flags take as 1048576 and 30.
      if (rule.type === 'string' && rule.number && typeof value === 'number' && Number.isFinite(value))
        return String(value)
      if (typeof value !== 'string' || value.length === 0) {
        throw new CapiscioError('CONFIG_INVALID', `${where} must be a non-empty string`)
      }
      if (rule.type === 'enum' && !rule.values.includes(value)) {
        throw new CapiscioError('CONFIG_INVALID', `${where} must be one of ${rule.values.join(', ')}`)
      }
      return value
  }
}

/** Converts an environment string to the rule's type, then checks it like a file value. */
function fromEnvString(rule: Rule, text: string, where: string): unknown {
  switch (rule.type) {
    case 'boolean': {
      const t = text.toLowerCase()
      if (['1', 'true', 'yes', 'on'].includes(t)) return true
      if (['0', 'false', 'no', 'off'].includes(t)) return false
      throw new CapiscioError('CONFIG_INVALID', `${where} must be true or false`)
    }
    case 'integer':
      return checkValue(rule, /^-?\d+$/.test(text) ? Number(text) : NaN, where)
    case 'list': {
      // As a flag's list is read: an empty item is a slip to point out, not to drop unseen.
      const items = commaItems(text)
      const problem = commaListProblem(items)
      if (problem)
        throw new CapiscioError(
          'CONFIG_INVALID',
          `${where} ${problem === 'empty' ? 'must not be empty' : EMPTY_ITEM}`,
        )
      return checkValue(rule, items, where)
    }
    default:
      return checkValue(rule, text, where)
  }
}

/** Where a setting's value comes from when not from its flag: its variable, or the config file's key. */
export function settingOrigin(
  key: TopKey,
  flag: string | undefined,
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (flag !== undefined) return undefined
  const name = SETTINGS[key].env
  if (env[name] !== undefined && env[name] !== '') return name
  return loaded.config[key] !== undefined ? `${key} in ${loaded.filepath ?? 'the config file'}` : undefined
}

/**
 * Resolves one setting by precedence: the flag, then its CAPISCIO_* variable (validated like the
 * file), then the config file, then the default.
 */
export function resolveSetting(
  key: TopKey,
  flag: string | undefined,
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (flag !== undefined) return flag
  const setting = SETTINGS[key]
  const fromEnv = env[setting.env]
  if (fromEnv !== undefined && fromEnv !== '') {
    return fromEnvString(SCHEMA[key], fromEnv, `environment variable ${setting.env}`) as string
  }
  return loaded.config[key] ?? setting.default
}

/**
 * Where a gateway setting's value comes from, when not from its flag: the variable or the file key
 * that a value error should name (CAPISCIO_GATEWAY_TARGET, not --target, when the variable set it).
 */
export function gatewaySettingOrigin(
  key: GatewaySettingKey,
  flag: unknown,
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv = process.env,
): { env: string } | { file: string; key: string } | undefined {
  if (flag !== undefined) return undefined
  const name = gatewayEnvName(key)
  if (env[name] !== undefined && env[name] !== '') return { env: name }
  if (loaded.config.gateway?.[key] !== undefined && loaded.filepath !== undefined)
    return { file: loaded.filepath, key: `gateway.${key}` }
  return undefined
}

/** A gateway setting by the same precedence: flag > CAPISCIO_GATEWAY_* > config `gateway` section. */
export function resolveGatewaySetting<K extends GatewaySettingKey>(
  key: K,
  flag: GatewayConfig[K] | undefined,
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv = process.env,
): GatewayConfig[K] | undefined {
  if (flag !== undefined) return flag
  const name = gatewayEnvName(key)
  const fromEnv = env[name]
  if (fromEnv !== undefined && fromEnv !== '') {
    return fromEnvString(GATEWAY_SCHEMA[key], fromEnv, `environment variable ${name}`) as GatewayConfig[K]
  }
  return loaded.config.gateway?.[key]
}

/**
 * A config file cosmiconfig could not parse, as CONFIG_INVALID. For JSON (package.json,
 * .capisciorc.json) the message names the file, line and column: Node's own JSON errors often give
 * neither, so the file is read again and the first bad character located.
 */
async function configReadError(err: unknown): Promise<CapiscioError> {
  const message = String((err as Error)?.message ?? err)
  const file = /JSON Error in (.+?):(?:\s|$)/.exec(message)?.[1]
  if (file) {
    const text = await readFile(file, 'utf8').catch(() => undefined)
    const at = text === undefined ? undefined : jsonErrorAt(text)
    if (at) {
      return new CapiscioError(
        'CONFIG_INVALID',
        `${file}: invalid JSON at line ${at.line}, column ${at.column}`,
        { cause: err },
      )
    }
  }
  const detail = message.split('\n').filter(Boolean).slice(0, 2).join(' ')
  return new CapiscioError('CONFIG_INVALID', `the configuration file cannot be read: ${detail}`, {
    cause: err,
  })
}

/** Where JSON text first goes wrong (1-based line and column), or undefined when it parses. */
export function jsonErrorAt(text: string): { line: number; column: number } | undefined {
  let i = 0
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++
  }
  // The offset of the first bad character is thrown, and turned into a line and column below.
  const fail = (): never => {
    throw i
  }
  const literal = (word: string) => {
    for (const ch of word) {
      if (text[i] !== ch) fail()
      i++
    }
  }
  const string = () => {
    i++ // the opening quote
    for (;;) {
      const ch = text[i]
      if (ch === undefined || ch < ' ') fail()
      if (ch === '"') return void i++
      if (ch === '\\') {
        i++
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail()
          i += 5
        } else if ('"\\/bfnrt'.includes(text[i] ?? 'x')) i++
        else fail()
      } else i++
    }
  }
  const value = (): void => {
    ws()
    const ch = text[i]
    if (ch === '{') {
      i++
      ws()
      if (text[i] === '}') return void i++
      for (;;) {
        ws()
        if (text[i] !== '"') fail()
        string()
        ws()
        if (text[i] !== ':') fail()
        i++
        value()
        ws()
        if (text[i] === ',') i++
        else if (text[i] === '}') return void i++
        else fail()
      }
    }
    if (ch === '[') {
      i++
      ws()
      if (text[i] === ']') return void i++
      for (;;) {
        value()
        ws()
        if (text[i] === ',') i++
        else if (text[i] === ']') return void i++
        else fail()
      }
    }
    if (ch === '"') return string()
    if (ch === 't') return literal('true')
    if (ch === 'f') return literal('false')
    if (ch === 'n') return literal('null')
    const num = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i))
    if (!num) fail()
    i += num![0].length
  }
  try {
    if (text.charCodeAt(0) === 0xfeff) i = 1
    value()
    ws()
    if (i < text.length) fail()
    return undefined
  } catch (at) {
    if (typeof at !== 'number') throw at
    const before = text.slice(0, at).split('\n')
    return { line: before.length, column: before.at(-1)!.length + 1 }
  }
}
