import { describe, expect, it } from '@jest/globals'

import { BaseCommand } from '../../../src/base-command.js'
import { runCommand } from '../../helpers/run-command.js'

/** What @inquirer/prompts throws when the user presses Ctrl-C at a prompt. */
class ExitPromptError extends Error {
  override name = 'ExitPromptError'
}

class Prompting extends BaseCommand<typeof Prompting> {
  async run(): Promise<void> {
    throw new ExitPromptError('User force closed the prompt with SIGINT')
  }
}

class Warning extends BaseCommand<typeof Warning> {
  async run(): Promise<{ done: true; warnings: string[] }> {
    this.warnLine('second thoughts')
    return { done: true, warnings: ['from the library'] }
  }
}

describe('BaseCommand', () => {
  it('maps Ctrl-C at a prompt (ExitPromptError) to exit 130 without a message', async () => {
    const r = await runCommand(Prompting, [])
    expect(r.exitCode).toBe(130)
    // (Node's own one-time ExperimentalWarning for VM modules may land in the captured stderr.)
    expect(r.stderr).not.toMatch(/Error:|Code:|unexpected|report/)
    expect(r.stdout).toBe('')
  })

  it('--json keeps the warnings it would have printed, merged with the result’s own', async () => {
    const r = await runCommand(Warning, ['--json'])
    expect(JSON.parse(r.stdout)).toEqual({ done: true, warnings: ['from the library', 'second thoughts'] })
    expect(r.stderr).not.toContain('second thoughts')
  })
})

describe('positional arguments', () => {
  it('are never read from standard input unless given as - (oclif would read a pipe for a left-out one)', async () => {
    const { COMMANDS } = await import('../../../src/commands.js')
    const args = Object.entries(COMMANDS).flatMap(([id, command]) =>
      Object.entries((command as { args?: Record<string, { ignoreStdin?: boolean }> }).args ?? {}).map(
        ([name, arg]) => [`${id} ${name}`, arg.ignoreStdin] as const,
      ),
    )
    expect(args.length).toBeGreaterThanOrEqual(10)
    expect(args.filter(([, ignored]) => ignored !== true)).toEqual([])
  })
})
