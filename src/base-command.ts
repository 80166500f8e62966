import { existsSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'

import { Command, Errors, Flags, Interfaces } from '@oclif/core'
import { Chalk, type ChalkInstance } from 'chalk'

import { loadConfig, resolveSetting, settingOrigin, type LoadedConfig, type TopKey } from './lib/config.js'
import { CapiscioError, EXIT } from './lib/errors.js'
import {
  forCli,
  printable,
  reportError,
  stdoutWriteError,
  toCapiscioError,
  withFlagSuggestion,
} from './cli-errors.js'
import { readFileBytes, readStream, readStreamBytes, readTextFile } from './lib/io.js'
import { findProjectRoot } from './lib/guard/project.js'
import { DEFAULT_KEY_DIR, KEY_FILES } from './lib/store/keydir.js'

export type CommandFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof BaseCommand)['baseFlags'] & T['flags']
>
/** What a verify command returns for a refused credential. */
export type Refusal = { valid: false; error: ReturnType<CapiscioError['toJSON']> }

export type CommandArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/** The largest request body `guard sign` / `guard verify` read (16 MiB). */
const MAX_BODY_BYTES = 16 * 1024 * 1024

/** Environment variable that holds a private key's passphrase (docs/formats.md, "Key directory"). */
export const PASSPHRASE_ENV = 'CAPISCIO_KEY_PASSPHRASE'

/**
 * The only place that knows about --json, --quiet, colour, prompts and exit codes (docs/architecture.md §1, §3).
 * Commands parse, call the library, and return their JSON result; rendering and errors live here.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true
  static override baseFlags = {
    quiet: Flags.boolean({
      char: 'q',
      description: 'print only data and errors, no messages',
      helpGroup: 'GLOBAL',
    }),
  }

  /** Fields a --json failure carries besides `error` (verify commands add `valid: false`). */
  static jsonFailure: Record<string, unknown> = {}
  /** This command's flag for a library option, where it differs from the table in flags.ts. */
  static optionFlags: Record<string, string> = {}
  /** Long-running commands write JSON lines under --json: every object, the last included, on one line. */
  static jsonLines = false
  /** Flags and arguments whose empty value the command refuses itself, with a message of its own. */
  static checksEmpty: readonly string[] = []

  protected flags!: CommandFlags<T>
  protected args!: CommandArgs<T>
  private loadedConfig?: Promise<LoadedConfig>

  /** Parses once for every command, so run() starts with typed flags and args. */
  override async init(): Promise<void> {
    await super.init()
    const ctor = this.ctor as typeof BaseCommand
    const { args, flags } = await this.parse({
      flags: ctor.flags,
      baseFlags: ctor.baseFlags,
      enableJsonFlag: ctor.enableJsonFlag,
      args: ctor.args,
      strict: ctor.strict,
    })
    refuseEmpty(flags, args, ctor.checksEmpty)
    this.flags = flags as CommandFlags<T>
    this.args = args as CommandArgs<T>
  }

  protected get isQuiet(): boolean {
    return Boolean(this.flags?.quiet)
  }

  /** Colour only for a TTY, never under --json or with NO_COLOR set. */
  protected color(stream: NodeJS.WriteStream = process.stderr): ChalkInstance {
    const off = this.jsonEnabled() || 'NO_COLOR' in process.env || !stream.isTTY
    return new Chalk({ level: off ? 0 : 1 })
  }

  /** Data for stdout (suppressed under --json, where the returned object is the data). */
  protected out(text: string): void {
    if (!this.jsonEnabled()) process.stdout.write(text.endsWith('\n') ? text : text + '\n')
  }

  /**
   * Writes like out() and waits until the text is handed to the system: a command that then says it
   * is done (`minted a token…`) does not say so when its output never left (a closed pipe).
   */
  protected async outFlushed(text: string): Promise<void> {
    if (this.jsonEnabled()) return
    await new Promise<void>((resolve, reject) =>
      process.stdout.write(text.endsWith('\n') ? text : text + '\n', (err) =>
        err ? reject(stdoutWriteError(err) ?? err) : resolve(),
      ),
    )
  }

  /** A message for stderr; --quiet and --json silence it. */
  protected info(text: string): void {
    if (!this.jsonEnabled() && !this.isQuiet) process.stderr.write(text + '\n')
  }

  protected note(text: string): void {
    this.info(this.color().green('✔') + ' ' + text)
  }

  /** Warnings said during the run; under --json they go into the result's `warnings` (docs/architecture.md §3). */
  protected readonly warnings: string[] = []

  protected warnLine(text: string): void {
    if (!this.warnings.includes(text)) this.warnings.push(text)
    this.info(this.color().yellow('Warning: ') + printable(text))
  }

  override logJson(json: unknown): void {
    const { jsonLines } = this.ctor as typeof BaseCommand
    process.stdout.write(JSON.stringify(json, null, jsonLines ? undefined : 2) + '\n')
  }

  /**
   * The --json envelope on success: the command's result object, plus `warnings` when any were said.
   * A command that returns nothing (gateway start) prints nothing more: its output is its log.
   */
  protected override toSuccessJson(result: unknown): unknown {
    if (result === undefined) return undefined
    if (this.warnings.length === 0 || typeof result !== 'object' || result === null || Array.isArray(result))
      return result
    const own = (result as { warnings?: unknown }).warnings
    const merged = [...(Array.isArray(own) ? (own as string[]) : []), ...this.warnings]
    return { ...result, warnings: [...new Set(merged)] }
  }

  /** Loads the project configuration once per command. */
  protected config_(): Promise<LoadedConfig> {
    this.loadedConfig ??= loadConfig()
    return this.loadedConfig
  }

  /** A setting by precedence: flag > CAPISCIO_* env > config file > default. */
  protected async setting(key: TopKey, flag: string | undefined): Promise<string | undefined> {
    if (flag !== undefined) return flag
    return resolveSetting(key, flag, await this.config_())
  }

  /**
   * The key directory of the SimpleGuard commands (DESIGN §8): a configured one (CAPISCIO_KEY_DIR or
   * keyDir), else `capiscio_keys` under the project root, the nearest ancestor holding
   * agent-card.json (else the current directory), where the library's SimpleGuard and the Python
   * SDK look from any subdirectory of the project. `projectRoot` only when the keys are the project's.
   */
  protected async guardKeyDir(): Promise<{ keyDir: string; projectRoot?: string }> {
    if (settingOrigin('keyDir', undefined, await this.config_()) !== undefined)
      return { keyDir: (await this.setting('keyDir', undefined))! }
    const projectRoot = findProjectRoot(process.cwd())
    return { keyDir: join(projectRoot, DEFAULT_KEY_DIR), projectRoot }
  }

  /**
   * The trust store directory: flag > CAPISCIO_TRUST_DIR > config trustDir > <key dir>/trusted.
   * `mustExist`: a directory named outright (by any of the three) must exist, for a reader: an
   * empty store would refuse everything as untrusted, hiding a typo. The default may be missing.
   */
  protected async trustDir(
    flag: string | undefined,
    o: { mustExist?: boolean; hint?: string } = {},
  ): Promise<string> {
    const dir = await this.setting('trustDir', flag)
    if (dir === undefined) return join((await this.setting('keyDir', undefined))!, KEY_FILES.trustDir)
    if (o.mustExist) {
      const origin = settingOrigin('trustDir', flag, await this.config_())
      const from = origin ? ` (${origin})` : ''
      const info = await stat(dir).catch(() => undefined)
      if (!info?.isDirectory())
        throw new CapiscioError(
          'FILE_NOT_FOUND',
          `the trust directory ${dir}${from} ${info ? 'is not a directory' : 'does not exist'}`,
          { hint: o.hint },
        )
    }
    return dir
  }

  /** A request body's exact bytes from a file or '-' (standard input; empty is allowed: an empty body). */
  protected async readBody(pathOrDash: string): Promise<Buffer> {
    if (pathOrDash !== '-') return readFileBytes(pathOrDash, MAX_BODY_BYTES)
    if (process.stdin.isTTY)
      throw new CapiscioError('USAGE', "'-' reads standard input, but nothing is piped in")
    return readStreamBytes(process.stdin, MAX_BODY_BYTES)
  }

  /** Reads an input named on the command line: '-' is stdin, anything else a file path. */
  protected async readInputFile(pathOrDash: string): Promise<string> {
    if (pathOrDash === '-') {
      if (process.stdin.isTTY)
        throw new CapiscioError('USAGE', "'-' reads standard input, but nothing is piped in")
      const text = await readStream(process.stdin)
      if (text.trim() === '')
        throw new CapiscioError('USAGE', "'-' reads standard input, but standard input is empty")
      return text
    }
    return readTextFile(pathOrDash)
  }

  /**
   * A token argument (`badge verify`, `badge inspect`): '-' is stdin, an existing path is read, an
   * argument that looks like a path (see looksLikePath) but names nothing is FILE_NOT_FOUND, and
   * anything else is the token itself.
   */
  protected async readTokenArg(arg: string): Promise<string> {
    if (!(arg === '-' || existsSync(arg) || looksLikePath(arg))) return arg
    try {
      return await this.readInputFile(arg)
    } catch (err) {
      // `"$BADGE/"` or `~$BADGE` is read as a path: the message must not carry the token in it.
      if (!(err instanceof CapiscioError) || !TOKEN_LIKE.test(arg)) throw err
      const shown = `${arg.slice(0, 8)}… (${arg.length} characters)`
      return Promise.reject(
        new CapiscioError(err.code, err.message.split(arg).join(shown), {
          hint: 'a token argument with a / or ~ in it, or shaped like a file name, is read as a file: pass the token alone, or a file holding it',
        }),
      )
    }
  }

  protected get interactive(): boolean {
    return Boolean(process.stdin.isTTY) && !this.jsonEnabled()
  }

  /** Asks for a secret on a TTY; elsewhere fails with a usage error naming the flag that gives it. */
  protected async promptSecret(message: string, flag: string, confirm = false): Promise<string> {
    if (!this.interactive) {
      throw new CapiscioError(
        'KEY_PASSPHRASE_REQUIRED',
        `a passphrase is needed and this run is not interactive`,
        {
          hint: `pass ${flag} FILE or set ${PASSPHRASE_ENV}`,
        },
      )
    }
    const { password } = await import('@inquirer/prompts')
    const value = await password(
      { message, mask: true, validate: (v) => v.length > 0 || 'the passphrase cannot be empty' },
      { output: process.stderr },
    )
    if (confirm) {
      const again = await password(
        { message: 'Repeat the passphrase', mask: true },
        { output: process.stderr },
      )
      if (again !== value) throw new CapiscioError('USAGE', 'the two passphrases differ')
    }
    return value
  }

  /**
   * A passphrase from --passphrase-file, else CAPISCIO_KEY_PASSPHRASE, else undefined. A file's
   * single trailing newline is dropped (`echo secret > file` is the common way to make one).
   */
  protected async passphraseFromFlags(file: string | undefined): Promise<string | undefined> {
    if (file !== undefined) {
      const text = (await readTextFile(file, 64 * 1024)).replace(/\r?\n$/, '')
      if (text.length === 0) throw new CapiscioError('USAGE', `the passphrase file ${file} is empty`)
      return text
    }
    const env = process.env[PASSPHRASE_ENV]
    return env === undefined || env === '' ? undefined : env
  }

  /** A passphrase source for reading a key: the flags or env first, else a prompt only if needed. */
  protected async passphraseSource(file: string | undefined): Promise<string | (() => Promise<string>)> {
    return (
      (await this.passphraseFromFlags(file)) ??
      (() => this.promptSecret('Passphrase for the private key', '--passphrase-file'))
    )
  }

  /**
   * A credential that fails verification is a verify command's answer, not a crash: exit 3 with
   * its code, and {valid:false, error} under --json.
   */
  protected refuse(error: CapiscioError, what: 'badge' | 'token' | 'card'): Refusal {
    const err = forCli(error, (this.ctor as typeof BaseCommand).optionFlags)
    process.exitCode = err.exitCode
    if (!this.jsonEnabled()) {
      const c = this.color()
      process.stderr.write(
        `${c.red('Error:')} invalid ${what}: ${printable(err.message)}\n${c.dim('Code:')} ${err.code}\n${c.dim('Hint:')} ${printable(err.displayHint)}\n`,
      )
    }
    return { valid: false, error: err.toJSON() }
  }

  /**
   * An error about options, naming each as the user set it. Here, as flags (forCli does that); a
   * command whose settings may also come from the environment or a file names those instead.
   */
  protected namedBySource(error: CapiscioError): CapiscioError {
    return error
  }

  /** One rendering for every failure: `Error:`/`Code:`/hint on stderr, or {"error":{…}} under --json. */
  override async catch(err: Error & { oclif?: { exit?: number }; code?: string }): Promise<void> {
    if (err instanceof Errors.ExitError) throw err
    // Ctrl-C at a prompt: the user chose to stop; exit as a shell does after SIGINT, without a message.
    if (err?.name === 'ExitPromptError') {
      process.exitCode = 130
      return
    }
    const ctor = this.ctor as typeof BaseCommand
    const error = withFlagSuggestion(
      forCli(this.namedBySource(toCapiscioError(err)), ctor.optionFlags),
      err,
      Object.keys(ctor.flags ?? {}),
    )
    process.exitCode = error.exitCode
    const extra = { ...ctor.jsonFailure, ...(this.warnings.length > 0 ? { warnings: this.warnings } : {}) }
    reportError(error, this.jsonEnabled(), this.color(), extra, ctor.jsonLines)
    if (error.exitCode === EXIT.INTERNAL && process.env.CAPISCIO_DEBUG)
      process.stderr.write(String(err.stack) + '\n')
  }
}

/** A compact JWS inside an argument: base64url header and payload, then a dot. */
const TOKEN_LIKE = /[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\./

/**
 * Whether a command-line argument that does not exist should be reported as a missing file rather
 * than read as a token. A compact JWS is three base64url parts joined by two dots, so it never holds
 * `/` or `\`, and a real badge is hundreds of characters long (its signature alone is 86). So an
 * argument looks like a path when it holds a `/` or `\`, starts with `.` or `~`, or is shorter than
 * 100 characters and ends in a file extension (`.jwt`, `.txt`, `.json`: a dot and 1–5 letters or digits).
 */
export function looksLikePath(arg: string): boolean {
  if (/[/\\]/.test(arg) || /^[.~]/.test(arg)) return true
  return arg.length < 100 && /\.[A-Za-z0-9]{1,5}$/.test(arg)
}

/**
 * `--key ''` (an unset shell variable, `--key=`) is a usage error that names the flag: no flag
 * takes an empty value, and read as a path it would be "  does not exist" (exit 4). An empty
 * environment variable is read as unset instead (config.ts), as docker-compose writes one.
 */
function refuseEmpty(
  flags: Record<string, unknown>,
  args: Record<string, unknown>,
  checkedByCommand: readonly string[],
): void {
  const empty = (name: string, v: unknown) =>
    !checkedByCommand.includes(name) && (v === '' || (Array.isArray(v) && v.includes('')))
  for (const [name, value] of Object.entries(flags))
    if (empty(name, value))
      throw new CapiscioError('USAGE', `--${name} must not be empty`, {
        hint: 'give it a value (an unset shell variable gives an empty one)',
      })
  for (const [name, value] of Object.entries(args))
    if (empty(name, value))
      throw new CapiscioError('USAGE', `the ${name.toUpperCase()} argument must not be empty`, {
        hint: 'pass a value (an unset shell variable gives an empty one)',
      })
}
