/**
 * How the CLI shows a failure (docs/architecture.md §3): the one rendering of an error, the library's
 * option names as flags, anything thrown mapped into the error model, and text made safe for a
 * terminal. base-command.ts calls these for every command; cli.ts for what fails before one runs.
 */
import { Chalk, type ChalkInstance } from 'chalk'

import { CapiscioError } from './lib/errors.js'
import { flagText } from './flags.js'
import { closest, synonymOf } from './suggest.js'

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g

/**
 * Text for a terminal: control characters (escape sequences, CR, newlines) shown as `\xNN`, so a
 * forged credential's kid cannot rewrite the screen or fake a `Code:` line. JSON output needs no
 * such care: JSON.stringify escapes them.
 */
export function printable(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

/**
 * Prints an error the one way (docs/architecture.md §3): `Error:`/`Code:`/`Hint:` on stderr, or under --json
 * `{"error":{code,message,hint}}` on stdout. The hint is the error's own, else its code's default.
 * When stdout cannot be written (it is what failed), the JSON goes to stderr instead.
 */
export function reportError(
  error: CapiscioError,
  json: boolean,
  c: ChalkInstance = new Chalk({ level: 0 }),
  extra: Record<string, unknown> = {},
  oneLine = false,
): void {
  // A failed write to stdout reaches here twice, from the write's callback and its 'error' event: one message.
  if (STDOUT_ERRORS.has(error)) {
    if (stdoutFailureReported) return
    stdoutFailureReported = true
  }
  const shown = forCli(error)
  if (json) {
    const text = JSON.stringify({ ...extra, error: shown.toJSON() }, null, oneLine ? undefined : 2) + '\n'
    if (stdoutBroken) process.stderr.write(text)
    else process.stdout.write(text)
    return
  }
  process.stderr.write(
    `${c.red('Error:')} ${printable(shown.message)}\n${c.dim('Code:')} ${shown.code}\n${c.dim('Hint:')} ${printable(shown.displayHint)}\n`,
  )
}

/** The library names its options (`sub is required`); the CLI shows them as its flags (`--sub`). */
export function forCli(error: CapiscioError, flags: Record<string, string> = {}): CapiscioError {
  if (!error.options?.length) return error
  // Not inside a quoted value: `--url "not a url"` is what the user typed, not an option name.
  const swap = (text: string) =>
    text
      .split(/("(?:[^"\\]|\\.)*")/)
      .map((part, i) =>
        i % 2 === 1
          ? part
          : error.options!.reduce(
              // A word, not part of a path or file name (`/jwks.json` is no option).
              (t, o) =>
                t.replace(new RegExp(`(?<![\\w./-])${o}(?![\\w-]|[./]\\w)`, 'g'), flags[o] ?? flagText(o)),
              part,
            ),
      )
      .join('')
  return new CapiscioError(error.code, swap(error.message), {
    hint: error.hint === undefined ? undefined : swap(error.hint),
    cause: error.cause,
  })
}

/** Set once a write to stdout has failed (EPIPE, ENOSPC), so nothing more is sent there. */
let stdoutBroken = false
/** The errors made of failed stdout writes, and whether one has been reported. */
const STDOUT_ERRORS = new WeakSet<CapiscioError>()
let stdoutFailureReported = false

const WRITE_ERRNOS = new Set(['EPIPE', 'ENOSPC', 'EIO', 'EBADF', 'EDQUOT', 'ERR_STREAM_DESTROYED'])

/** A failed write to standard output (a closed pipe, a full disk) as the coded error it is. */
export function stdoutWriteError(err: unknown): CapiscioError | undefined {
  const e = err as NodeJS.ErrnoException
  if (!e || !WRITE_ERRNOS.has(String(e.code)) || (e.syscall !== undefined && e.syscall !== 'write'))
    return undefined
  stdoutBroken = true
  const error = new CapiscioError('WRITE_FAILED', `cannot write to standard output (${e.code})`, {
    hint: 'standard output was closed early or its disk is full',
    cause: err,
  })
  STDOUT_ERRORS.add(error)
  return error
}

/** A mistyped flag (`--jwk`) gets a did-you-mean from the command's own flags. */
export function withFlagSuggestion(error: CapiscioError, err: unknown, flags: string[]): CapiscioError {
  const unknown = (err as { flags?: unknown })?.flags
  if (error.code !== 'USAGE' || !Array.isArray(unknown) || typeof unknown[0] !== 'string') return error
  const typed = unknown[0].replace(/^-+/, '').split('=')[0]!
  // Another command's name for a flag first (no edit distance finds --local-key for --key), then a typo.
  const synonym = synonymOf(typed, flags)
  const guess = synonym === undefined ? closest(typed, [...flags, 'json', 'quiet']) : undefined
  const hint =
    synonym !== undefined
      ? `this command calls it --${synonym}; see --help for the flags`
      : guess !== undefined
        ? `did you mean --${guess}? See --help for the flags`
        : undefined
  return hint === undefined ? error : new CapiscioError('USAGE', error.message, { hint })
}

/** Maps anything thrown into the error model: oclif parse errors are usage errors, the rest bugs. */
export function toCapiscioError(err: unknown): CapiscioError {
  if (err instanceof CapiscioError) return err
  const written = stdoutWriteError(err)
  if (written) return written
  const e = err as Error & { oclif?: { exit?: number }; parse?: unknown }
  if (e?.parse !== undefined || e?.oclif?.exit === 2) {
    // oclif's message runs over several lines (`Missing 1 required arg:` then the argument): keep it
    // all, on one line, but not its own "See more help" pointer (the hint says that).
    const oneLine = String(e.message ?? 'bad usage')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !/^See more help with --help$/.test(l))
      .join(' ')
      .replace(/\s+/g, ' ')
    // oclif adds this whenever the command has a multi-value flag; it helps only when that flag
    // was given (and swallowed the argument), which the command line says.
    const noteAt = oneLine.search(/ Note: --[\w-]+(?:, --[\w-]+)* allows? multiple values\./)
    const note = noteAt < 0 ? '' : oneLine.slice(noteAt)
    const given = /^ Note: (--[\w-]+(?:, --[\w-]+)*)/
      .exec(note)?.[1]
      ?.split(', ')
      .some((flag) => process.argv.includes(flag) || process.argv.some((a) => a.startsWith(`${flag}=`)))
    // A missing argument by its name and what it is, as --help shows it (oclif runs the two together).
    const missing = (e as { args?: { name?: string; description?: string }[] }).args
    const message =
      (Array.isArray(missing) && missing.length === 1 && missing[0]?.name
        ? `the ${missing[0].name.toUpperCase()} argument is missing` +
          (missing[0].description ? `: ${missing[0].description}` : '')
        : (noteAt < 0 ? oneLine : oneLine.slice(0, noteAt))
            // oclif's own wording, as the rest of the CLI says it.
            .replace(/^The following errors? occurred: /, '')
            .replace(/^Missing required flag (\w[\w-]*)/, '--$1 is required')
            .replace(
              /^Parsing (--[\w-]+) Expected (.*) but received:(?: (.*))?$/,
              (_m, flag: string, what: string, got?: string) =>
                got === undefined ? `${flag} must not be empty` : `${flag} must be ${what}, not "${got}"`,
            )) + (given ? `.${note}` : '')
    return new CapiscioError('USAGE', message, { hint: 'see --help for the flags and arguments' })
  }
  return new CapiscioError('INTERNAL_ERROR', `unexpected error: ${String(e?.message ?? e)}`, {
    hint: 'set CAPISCIO_DEBUG=1 for a stack trace, and please report this',
    cause: err,
  })
}
