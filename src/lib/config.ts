import { dirname, isAbsolute, resolve } from 'node:path'

import { CapiscioError } from './errors.js'
import { KEY_ALGS, type KeyAlg } from './keys/key.js'

/**
 * Project configuration (DESIGN §3): flags > CAPISCIO_* environment > config file > defaults.
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
}

export interface LoadedConfig {
  config: CapiscioConfig
  /** The file it came from, or undefined when none was found. */
  filepath?: string
}

type Rule = { type: 'string'; path?: boolean } | { type: 'enum'; values: readonly string[] }

const SCHEMA: Record<keyof CapiscioConfig, Rule> = {
  keyDir: { type: 'string', path: true },
  trustDir: { type: 'string', path: true },
  alg: { type: 'enum', values: KEY_ALGS },
}

/** The environment variable for each setting, and its default. */
export const SETTINGS: Record<keyof CapiscioConfig, { env: string; default?: string }> = {
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
  const explorer = cosmiconfig('capiscio', { searchPlaces: CONFIG_SEARCH_PLACES, searchStrategy: 'project' })
  let result
  try {
    result = await explorer.search(cwd)
  } catch (err) {
    const detail = String((err as Error)?.message ?? err)
      .split('\n')
      .slice(0, 2)
      .join(': ')
    throw new CapiscioError('CONFIG_INVALID', `the configuration file cannot be read: ${detail}`, {
      cause: err,
    })
  }
  if (!result || result.isEmpty) return result ? { config: {}, filepath: result.filepath } : { config: {} }
  return { config: validateConfig(result.config, result.filepath), filepath: result.filepath }
}

/** Checks a parsed config object against the schema; relative paths resolve against the file's folder. */
export function validateConfig(raw: unknown, filepath: string): CapiscioConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CapiscioError('CONFIG_INVALID', `${filepath}: the configuration must be an object`)
  }
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(raw)) {
    const rule = SCHEMA[key as keyof CapiscioConfig]
    if (!rule) {
      throw new CapiscioError('CONFIG_INVALID', `${filepath}: unknown key "${key}"`, {
        hint: `known keys: ${Object.keys(SCHEMA).join(', ')}`,
      })
    }
    out[key] = checkValue(rule, value, `${filepath}: "${key}"`)
    if (rule.type === 'string' && rule.path && !isAbsolute(out[key]!)) {
      out[key] = resolve(dirname(filepath), out[key]!)
    }
  }
  return out as CapiscioConfig
}

function checkValue(rule: Rule, value: unknown, where: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new CapiscioError('CONFIG_INVALID', `${where} must be a non-empty string`)
  }
  if (rule.type === 'enum' && !rule.values.includes(value)) {
    throw new CapiscioError('CONFIG_INVALID', `${where} must be one of ${rule.values.join(', ')}`)
  }
  return value
}

/**
 * Resolves one setting by precedence: the flag, then its CAPISCIO_* variable (validated like the
 * file), then the config file, then the default.
 */
export function resolveSetting(
  key: keyof CapiscioConfig,
  flag: string | undefined,
  loaded: LoadedConfig,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (flag !== undefined) return flag
  const setting = SETTINGS[key]
  const fromEnv = env[setting.env]
  if (fromEnv !== undefined && fromEnv !== '')
    return checkValue(SCHEMA[key], fromEnv, `environment variable ${setting.env}`)
  return loaded.config[key] ?? setting.default
}
