// The CLI entry that scripts/bundle.js turns into dist/cli.js: oclif and the commands in one file.
import { fileURLToPath } from 'node:url'

import { Config, Errors, run } from '@oclif/core'

import { reportError, stdoutWriteError, toCapiscioError } from './cli-errors.js'
import { CapiscioError } from './lib/errors.js'
import { distance, isTypo } from './suggest.js'

export { COMMANDS } from './commands.js'

/**
 * Runs the CLI (bin/run.js calls this). Around oclif's own run it adds what a user meets before or
 * after a command: `help …`, an unknown command with a did-you-mean, a bare `--json`, and a stdout
 * that cannot be written, all in the one Error/Code/Hint format (docs/architecture.md §3).
 */
export async function execute(options: { dir: string }): Promise<void> {
  let argv = process.argv.slice(2)
  const json = argv.includes('--json')
  // A closed pipe (`| head -1`) or a full disk reports here, after the write call has returned.
  // oclif's own listener ignores EPIPE and rethrows the rest as an uncaught stack; this one replaces it.
  process.stdout.removeAllListeners('error')
  let reported = false
  // Help read through `| head` or a pager that is quit early: the reader took what it wanted, as
  // with git or step-cli. A command's own output (a badge, a token) that never arrived still fails.
  // Help as oclif shows it: `--help`/`-h` before a `--`, `--version` first, no command, `help …`,
  // or a topic alone (set once the commands are known). `card build --version 1.0.0` is output.
  const flagsPart = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv
  let help =
    argv.length === 0 ||
    argv[0] === 'help' ||
    argv[0] === '--version' ||
    flagsPart.some((a) => a === '--help' || a === '-h')
  process.stdout.on('error', (err) => {
    if (reported) return // one message, however many writes fail after the first
    reported = true
    if (help && (err as NodeJS.ErrnoException).code === 'EPIPE') {
      stdoutWriteError(err) // marks stdout broken: nothing more is sent there
      return
    }
    const error = stdoutWriteError(err) ?? toCapiscioError(err)
    process.exitCode = error.exitCode
    reportError(error, json)
  })
  // A closed stderr (`2>&1 | head -1`) has nowhere to report to, and what goes there is messages
  // and errors about the job, not its output: the exit code still says how the job went. Without a
  // listener the failed write is an uncaught error, exit 1 ("a bug"), after the job succeeded.
  process.stderr.on('error', () => undefined)
  try {
    const root = options.dir.startsWith('file:') ? fileURLToPath(options.dir) : options.dir
    const config = await Config.load(root)
    // `capiscio help [command]` is `capiscio [command] --help` (there is no help plugin).
    if (argv[0] === 'help') argv = [...argv.slice(1), '--help']
    if (checkCommand(config, argv) === 'help') help = true
    // `--version --json`: what a script parses, in the one --json shape (oclif prints its text line).
    if (json && argv.includes('--version') && argv.every((a) => a === '--version' || a === '--json')) {
      const version = {
        name: config.name,
        version: config.version,
        node: process.version,
        platform: config.platform,
        arch: config.arch,
      }
      process.stdout.write(JSON.stringify(version, null, 2) + '\n')
      return
    }
    await run(argv, config)
  } catch (err) {
    if (err instanceof Errors.ExitError) {
      process.exitCode = err.oclif.exit ?? 0
      return
    }
    const error = toCapiscioError(err)
    process.exitCode = error.exitCode
    reportError(error, json)
  }
}

const HELP_OR_VERSION = new Set(['--help', '-h', '--version'])

/**
 * Refuses, before oclif does in its own format, argv that names no command; says whether it shows
 * help instead (the root's, a topic's) or runs a command.
 */
function checkCommand(config: Config, argv: string[]): 'help' | 'command' {
  if (argv.length === 0) return 'help' // the root help
  const words: string[] = []
  for (const a of argv) {
    if (a.startsWith('-')) break
    words.push(a)
  }
  if (words.length === 0) {
    if (argv.some((a) => HELP_OR_VERSION.has(a))) return 'help'
    throw new CapiscioError('USAGE', `a command is needed before ${argv[0]}`, {
      hint: `run ${config.bin} --help to see the commands`,
    })
  }
  for (let n = words.length; n > 0; n--) {
    const command = config.findCommand(words.slice(0, n).join(':'))
    if (!command) continue
    // oclif would glue a stray word onto the id of a command that takes no arguments.
    if (n < words.length && Object.keys(command.args ?? {}).length === 0) {
      const name = words.slice(0, n).join(' ')
      throw new CapiscioError(
        'USAGE',
        `unexpected argument "${words[n]}": ${config.bin} ${name} takes none`,
        {
          hint: `see ${config.bin} ${name} --help`,
        },
      )
    }
    return 'command'
  }
  if (words.length === 1 && config.findTopic(words[0]!)) {
    // A topic alone shows its help; a topic with flags (`badge --json`) was meant to be a command.
    if (argv.slice(1).every((a) => HELP_OR_VERSION.has(a))) return 'help'
    const commands = config.commandIDs.filter((id) => id.startsWith(words[0] + ':'))
    throw new CapiscioError('USAGE', `"${words[0]}" is a topic, not a command`, {
      hint: `name one of its commands: ${commands.map((id) => `${config.bin} ${id.replace(/:/g, ' ')}`).join(', ')}`,
    })
  }
  const guess = didYouMean(words, config.commandIDs)
  const typed = words.slice(0, Math.max(1, guess?.split(' ').length ?? 2)).join(' ')
  throw new CapiscioError('USAGE', `"${typed}" is not a ${config.bin} command`, {
    hint: guess
      ? `did you mean "${config.bin} ${guess}"? Run ${config.bin} --help to see the commands`
      : `run ${config.bin} --help to see the commands`,
  })
}

/** The command closest to what was typed, each compared with as many typed words as it has. */
function didYouMean(words: string[], ids: string[]): string | undefined {
  let best: { name: string; d: number } | undefined
  for (const id of ids) {
    const parts = id.split(':')
    const d = distance(words.slice(0, parts.length).join(' '), parts.join(' '))
    if (!best || d < best.d) best = { name: parts.join(' '), d }
  }
  return best && isTypo(best.d, best.name) ? best.name : undefined
}
