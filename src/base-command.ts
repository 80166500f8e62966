import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'

import { Command, Errors, Flags, Interfaces } from '@oclif/core'
import { Chalk, type ChalkInstance } from 'chalk'

import { loadConfig, resolveSetting, type LoadedConfig, type TopKey } from './lib/config.js'
import { CapiscioError, EXIT } from './lib/errors.js'
import { readStream, readTextFile } from './lib/io.js'
import { KEY_FILES } from './lib/store/keydir.js'

export type CommandFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof BaseCommand)['baseFlags'] & T['flags']
>
export type CommandArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/** Environment variable that holds a private key's passphrase (DESIGN §4). */
export const PASSPHRASE_ENV = 'CAPISCIO_KEY_PASSPHRASE'

/**
 * The only place that knows about --json, --quiet, colour, prompts and exit codes (DESIGN §2–3).
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

  /** A message for stderr; --quiet and --json silence it. */
  protected info(text: string): void {
    if (!this.jsonEnabled() && !this.isQuiet) process.stderr.write(text + '\n')
  }

  protected note(text: string): void {
    this.info(this.color().green('✔') + ' ' + text)
  }

  protected warnLine(text: string): void {
    this.info(this.color().yellow('Warning: ') + text)
  }

  override logJson(json: unknown): void {
    process.stdout.write(JSON.stringify(json, null, 2) + '\n')
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

  /** The trust store directory: flag > CAPISCIO_TRUST_DIR > config trustDir > <key dir>/trusted. */
  protected async trustDir(flag: string | undefined): Promise<string> {
    const dir = await this.setting('trustDir', flag)
    if (dir !== undefined) return dir
    return join((await this.setting('keyDir', undefined))!, KEY_FILES.trustDir)
  }

  /** Reads an input named on the command line: '-' is stdin, anything else a file path. */
  protected async readInputFile(pathOrDash: string): Promise<string> {
    if (pathOrDash === '-') {
      if (process.stdin.isTTY)
        throw new CapiscioError('USAGE', "'-' reads standard input, but nothing is piped in")
      return readStream(process.stdin)
    }
    return readTextFile(pathOrDash)
  }

  /** Whether an argument names an existing regular file (so it is read rather than taken literally). */
  protected isFile(path: string): boolean {
    try {
      return existsSync(path) && statSync(path).isFile()
    } catch {
      return false
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

  /** One rendering for every failure: `Error:`/`Code:`/hint on stderr, or {"error":{…}} under --json. */
  override async catch(err: Error & { oclif?: { exit?: number }; code?: string }): Promise<void> {
    if (err instanceof Errors.ExitError) throw err
    const error = toCapiscioError(err)
    process.exitCode = error.exitCode
    if (this.jsonEnabled()) {
      this.logJson({ error: error.toJSON() })
      return
    }
    const c = this.color()
    let text = `${c.red('Error:')} ${error.message}\n${c.dim('Code:')} ${error.code}\n`
    if (error.hint) text += `${c.dim('Hint:')} ${error.hint}\n`
    if (error.exitCode === EXIT.INTERNAL && process.env.CAPISCIO_DEBUG) text += String(err.stack) + '\n'
    process.stderr.write(text)
  }
}

/** Maps anything thrown into the error model: oclif parse errors are usage errors, the rest bugs. */
export function toCapiscioError(err: unknown): CapiscioError {
  if (err instanceof CapiscioError) return err
  const e = err as Error & { oclif?: { exit?: number }; parse?: unknown }
  if (e?.parse !== undefined || e?.oclif?.exit === 2) {
    const message = String(e.message ?? 'bad usage')
      .split('\n')[0]!
      .trim()
    return new CapiscioError('USAGE', message, { hint: 'see --help for the flags and arguments' })
  }
  return new CapiscioError('INTERNAL_ERROR', `unexpected error: ${String(e?.message ?? e)}`, {
    hint: 'set CAPISCIO_DEBUG=1 for a stack trace, and please report this',
    cause: err,
  })
}
