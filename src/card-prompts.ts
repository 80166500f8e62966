// The guided flow of `capiscio card build`: asks, on a terminal, for what flags, --from and the
// config file left out, with defaults and validation as it goes. The streams are parameters so
// that tests can drive it with keystrokes.
import { PassThrough } from 'node:stream'

import { confirm, input, select } from '@inquirer/prompts'

import type { CardInput, SkillInput } from './lib/card/build.js'

export interface PromptStreams {
  input?: NodeJS.ReadableStream
  output?: NodeJS.WritableStream
}

type Context = Parameters<typeof input>[1]

const required = (what: string) => (v: string) => v.trim() !== '' || `${what} cannot be empty`

function validUrl(v: string): true | string {
  try {
    const u = new URL(v)
    return u.protocol === 'https:' || u.protocol === 'http:' ? true : 'use an http(s) URL'
  } catch {
    return 'enter an absolute URL, e.g. https://agent.example.com/a2a'
  }
}

/**
 * Runs one prompt. A prompt closes its readline, and with it the streams it was given; so that
 * given streams (tests) outlive one question, each prompt gets its own pair piped to them.
 */
async function ask<T>(streams: PromptStreams, run: (ctx: Context) => Promise<T>): Promise<T> {
  if (!streams.input && !streams.output) return run({ clearPromptOnDone: false } as Context)
  const output = streams.output ? new PassThrough() : undefined
  if (output) output.pipe(streams.output!, { end: false })
  const inp = streams.input ? new PassThrough() : undefined
  if (inp) streams.input!.pipe(inp, { end: false })
  try {
    return await run({ input: inp, output, clearPromptOnDone: false } as Context)
  } finally {
    if (inp) streams.input!.unpipe(inp)
    if (output) output.unpipe(streams.output!)
  }
}

/** Fills in the missing fields of `given` by asking; what is given is never asked again. */
export async function promptCardInput(given: CardInput, streams: PromptStreams = {}): Promise<CardInput> {
  const text = (config: Parameters<typeof input>[0]) => ask(streams, (ctx) => input(config, ctx))
  const yes = (config: Parameters<typeof confirm>[0]) => ask(streams, (ctx) => confirm(config, ctx))
  const out: CardInput = { ...given }
  out.name ??= await text({ message: 'Agent name', validate: required('the name') })
  out.description ??= await text({
    message: 'What does it do? (description)',
    validate: required('the description'),
  })
  out.url ??= await text({
    message: 'A2A endpoint URL',
    default: 'https://agent.example.com/a2a',
    validate: validUrl,
  })
  out.version ??= await text({
    message: 'Agent version',
    default: '1.0.0',
    validate: (v) => /^\d+\.\d+\.\d+/.test(v) || 'use x.y.z',
  })
  if (!given.skills?.length) {
    const skills: SkillInput[] = []
    while (
      await yes({
        message: skills.length === 0 ? 'Add a skill?' : 'Add another skill?',
        default: skills.length === 0,
      })
    ) {
      const id = await text({
        message: '  skill id',
        validate: (v) => /^[\w.-]+$/.test(v) || 'letters, digits, . _ -',
      })
      const name = await text({ message: '  skill name', validate: required('the skill name') })
      const description = await text({
        message: '  skill description',
        validate: required('the description'),
      })
      const tags = await text({ message: '  tags (comma-separated)', default: id })
      skills.push({
        id,
        name,
        description,
        tags: tags
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean),
      })
    }
    if (skills.length) out.skills = skills
  }
  out.auth ??= await ask(streams, (ctx) =>
    select(
      {
        message: 'How do callers authenticate?',
        choices: [
          { name: 'CapiscIO trust badge', value: 'badge' as const },
          { name: 'bearer JWT', value: 'jwt' as const },
          { name: 'SimpleGuard signed requests', value: 'guard' as const },
          { name: 'none', value: 'none' as const },
        ],
        default: 'badge',
      },
      ctx,
    ),
  )
  return out
}

/** Shows the card and asks before it is written. */
export async function confirmWrite(
  cardText: string,
  target: string,
  streams: PromptStreams = {},
): Promise<boolean> {
  ;(streams.output ?? process.stderr).write(cardText)
  return ask(streams, (ctx) => confirm({ message: `Write it to ${target}?`, default: true }, ctx))
}
