import { Flags } from '@oclif/core'

import { commaItems, commaListProblem, EMPTY_ITEM } from './lib/comma-list.js'
import { CapiscioError } from './lib/errors.js'
import { readSecret } from './lib/token/secret-file.js'
import { SECRET_ENV } from './lib/auth/jwt.js'

export const secretFileFlag = Flags.string({
  description: `file holding the HMAC secret, or '-' for standard input [default: ${SECRET_ENV.join(', then ')}]`,
  helpValue: 'FILE',
})

/**
 * DESIGN §7 lists --secret VALUE, and scripts expect it, but a secret on the command line lands in
 * shell history and in `ps` output: it works, and says so on stderr every time.
 */
export const secretFlag = Flags.string({
  description:
    'the HMAC secret itself (visible in shell history and ps: prefer --secret-file or the environment)',
  helpValue: 'VALUE',
})

export const SECRET_FLAG_WARNING =
  '--secret puts the secret in shell history and in ps output; prefer --secret-file FILE or CAPISCIO_JWT_SECRET'

export interface SecretChoice {
  secret: Buffer
  /** Where it came from, for messages: never the secret itself. */
  from: string
}

/**
 * The HMAC secret from --secret-file (a path or '-') or --secret, else CAPISCIO_JWT_SECRET, else
 * APCORE_JWT_SECRET, else undefined. A file's one trailing newline is dropped, since
 * `openssl rand -base64 48 > secret` writes one; every other byte is the secret, as-is.
 */
export async function secretFromFlags(
  file: string | undefined,
  value?: string,
): Promise<SecretChoice | undefined> {
  if (file !== undefined && value !== undefined)
    throw new CapiscioError('USAGE', 'choose one: --secret-file or --secret, not both')
  if (value !== undefined) {
    if (value === '') throw new CapiscioError('USAGE', 'the --secret value is empty')
    return { secret: Buffer.from(value, 'utf8'), from: '--secret' }
  }
  if (file !== undefined) {
    if (file === '-' && process.stdin.isTTY)
      throw new CapiscioError('USAGE', '--secret-file - reads standard input, but nothing is piped in')
    const from = file === '-' ? 'standard input' : file
    return { secret: await readSecret(file === '-' ? process.stdin : file, from), from }
  }
  for (const name of SECRET_ENV) {
    const value = process.env[name]
    if (value !== undefined && value !== '') return { secret: Buffer.from(value, 'utf8'), from: name }
  }
  return undefined
}

/**
 * `--aud a --aud b,c` → ['a', 'b', 'c']; not given → undefined. Given but empty (`--aud "$AUD"` with
 * AUD unset) is a usage error: read as "not given", it would turn a check off without a word.
 */
export function commaList(values: string[] | undefined, flag: string): string[] | undefined {
  if (values === undefined || values.length === 0) return undefined
  const list = commaItems(values)
  const problem = commaListProblem(list)
  if (problem) throw new CapiscioError('USAGE', `${flag} ${problem === 'empty' ? 'is empty' : EMPTY_ITEM}`)
  return list
}

/**
 * `--claim NAME=JSON`: the value is JSON, so `n=3` is a number and `tier="gold"` a string. A value
 * that is not JSON is refused rather than guessed at (`n=007`, `on=yes`), with the quoting to use.
 */
export function parseClaims(specs: string[]): Record<string, unknown> {
  const claims: Record<string, unknown> = {}
  for (const spec of specs) {
    const eq = spec.indexOf('=')
    const name = eq < 0 ? spec : spec.slice(0, eq)
    if (eq <= 0)
      throw new CapiscioError('USAGE', `--claim ${JSON.stringify(spec)} is not NAME=JSON`, {
        hint: `write --claim 'tier="gold"' or --claim n=3`,
      })
    if (Object.hasOwn(claims, name)) throw new CapiscioError('USAGE', `--claim ${name} is given twice`)
    let value: unknown
    try {
      value = JSON.parse(spec.slice(eq + 1))
    } catch {
      throw new CapiscioError('USAGE', `--claim ${name}: the value is not JSON`, {
        hint: `quote a string as JSON: --claim '${name}="${spec.slice(eq + 1).replace(/["'\\]/g, '')}"'`,
      })
    }
    Object.defineProperty(claims, name, { value, enumerable: true, writable: true, configurable: true })
  }
  return claims
}
