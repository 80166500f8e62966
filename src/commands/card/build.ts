import { existsSync } from 'node:fs'

import { Flags } from '@oclif/core'

import { BaseCommand } from '../../base-command.js'
import { passphraseFileFlag } from '../../flags.js'
import {
  buildAgentCard,
  inputFromPartialCard,
  missingCardFields,
  parseSkillSpec,
  type CardInput,
} from '../../lib/card/build.js'
import { loadCard } from '../../lib/card/load.js'
import { signAgentCard, type AgentCard } from '../../lib/card/sign.js'
import { CapiscioError } from '../../lib/errors.js'
import { writeFileAtomic } from '../../lib/store/atomic.js'
import { readSigningKey } from '../../lib/store/keydir.js'

export default class CardBuild extends BaseCommand<typeof CardBuild> {
  static override description =
    'build an A2A agent card (1.0, or 0.3) from flags, a partial card, the config file, or — on a terminal — guided questions'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --name "Research Agent" --description "Finds papers" --url https://agent.example.com/a2a --version 1.0.0 --skill "search:Search:Finds papers:research,papers" --auth badge --sign --key capiscio_keys/',
    '<%= config.bin %> <%= command.id %> --from partial-card.json --a2a-version 0.3 --out -',
  ]
  /** CardInput names that are not the flags' own, as the flags that set them. */
  static override optionFlags = { providerOrganization: '--provider' }
  static override flags = {
    name: Flags.string({ description: 'agent name' }),
    description: Flags.string({ description: 'what the agent does' }),
    url: Flags.string({ description: "the agent's A2A (JSON-RPC) endpoint URL" }),
    version: Flags.string({ description: "the agent's version, e.g. 1.0.0" }),
    skill: Flags.string({
      description: 'a skill id:name:description:tag,tag (repeatable)',
      multiple: true,
      helpValue: 'SPEC',
    }),
    'skills-file': Flags.string({
      description: 'skills as a JSON array of {id,name,description,tags,examples}',
      helpValue: 'FILE',
    }),
    'input-mode': Flags.string({
      description: 'an input media type (repeatable) [default: text/plain]',
      multiple: true,
    }),
    'output-mode': Flags.string({
      description: 'an output media type (repeatable) [default: text/plain]',
      multiple: true,
    }),
    streaming: Flags.boolean({ description: 'the agent streams (capabilities.streaming)', allowNo: true }),
    'push-notifications': Flags.boolean({ description: 'the agent sends push notifications', allowNo: true }),
    provider: Flags.string({ description: 'provider organization' }),
    'provider-url': Flags.string({ description: "provider's URL" }),
    'documentation-url': Flags.string({ description: 'documentation URL' }),
    'icon-url': Flags.string({ description: 'icon URL' }),
    auth: Flags.string({
      description: 'how callers authenticate [default: none]',
      options: ['badge', 'jwt', 'guard', 'none'],
    }),
    'a2a-version': Flags.string({ description: 'card shape [default: 1.0]', options: ['1.0', '0.3'] }),
    from: Flags.string({ description: 'start from a partial card (flags override it)', helpValue: 'FILE' }),
    out: Flags.string({
      description: "where to write it, or '-' for stdout [default: agent-card.json]",
      helpValue: 'FILE',
    }),
    force: Flags.boolean({ description: 'replace an existing file' }),
    sign: Flags.boolean({ description: 'sign the card in the same step (needs --key)' }),
    key: Flags.string({ description: 'signing key for --sign', helpValue: 'FILE' }),
    kid: Flags.string({ description: "kid for --sign [default: the key's kid]" }),
    jku: Flags.string({ description: 'jku for --sign', helpValue: 'URL' }),
    'passphrase-file': passphraseFileFlag,
  }

  async run(): Promise<{ card: AgentCard; out: string }> {
    const { flags } = this
    const out = flags.out ?? 'agent-card.json'
    // The command line's own mistakes first (exit 2), then the output in the way (exit 4); both
    // before any question is asked: a refusal after the user answered them all is unkind.
    if (flags.sign && !flags.key) throw new CapiscioError('USAGE', '--sign needs --key')
    for (const spec of flags.skill ?? []) parseSkillSpec(spec)
    if (out !== '-' && !flags.force && existsSync(out))
      throw new CapiscioError('FILE_EXISTS', `${out} already exists`)

    const loaded = await this.config_()
    const fromConfig = loaded.config.card
    // A config value of the wrong type is the config file's fault (CONFIG_INVALID, exit 4), as for every setting.
    let input: CardInput = fromConfig
      ? inFile(
          `${loaded.filepath ?? 'the config file'}: card`,
          () => inputFromPartialCard(fromConfig),
          'CONFIG_INVALID',
        )
      : {}
    if (flags.from) {
      const from = flags.from
      const onIgnored = (members: string[]) =>
        this.warnLine(
          `${from}: not carried over: ${members.join(', ')} (card build makes a card from its own fields; securitySchemes come from --auth)`,
        )
      const partial = await loadCard(from)
      input = { ...input, ...inFile(from, () => inputFromPartialCard(partial, { onIgnored })) }
    }
    input = { ...input, ...(await this.fromFlags()) }

    let missing = missingCardFields(input)
    const guided = missing.length > 0 && this.interactive
    // Loaded only to ask: @inquirer/prompts costs every other start of the CLI ~50 ms to import.
    const prompts = guided ? await import('../../card-prompts.js') : undefined
    if (prompts) input = await prompts.promptCardInput(input, { output: process.stderr })
    missing = missingCardFields(input)
    if (missing.length > 0)
      throw new CapiscioError('USAGE', `missing ${missing.map((m) => `--${m}`).join(', ')}`, {
        hint: 'give them as flags, in --from FILE or the config file\'s "card" section, or run on a terminal to be asked',
      })

    let card = buildAgentCard(input, (flags['a2a-version'] ?? '1.0') as '1.0' | '0.3')
    if (flags.sign) {
      const signing = await readSigningKey(flags.key!, {
        passphrase: await this.passphraseSource(flags['passphrase-file']),
      })
      card = signAgentCard(card, {
        privateKey: signing.privateKey,
        kid: flags.kid ?? signing.kid,
        ...(flags.jku ? { jku: flags.jku } : {}),
      })
    }
    const text = JSON.stringify(card, null, 2) + '\n'
    if (prompts && out !== '-' && !(await prompts.confirmWrite(text, out, { output: process.stderr }))) {
      this.info('not written')
      return { card, out: '' }
    }
    if (out === '-') this.out(text)
    else await writeFileAtomic(out, text, 0o644)
    if (out !== '-') this.note(`wrote ${out}${flags.sign ? ' (signed)' : ''}`)
    return { card, out }
  }

  private async fromFlags(): Promise<CardInput> {
    const f = this.flags
    const input: CardInput = {}
    const put = <K extends keyof CardInput>(k: K, v: CardInput[K] | undefined) => {
      if (v !== undefined) input[k] = v
    }
    put('name', f.name)
    put('description', f.description)
    put('url', f.url)
    put('version', f.version)
    put('streaming', f.streaming)
    put('pushNotifications', f['push-notifications'])
    put('providerOrganization', f.provider)
    put('providerUrl', f['provider-url'])
    put('documentationUrl', f['documentation-url'])
    put('iconUrl', f['icon-url'])
    put('auth', f.auth as CardInput['auth'])
    if (f['input-mode']?.length) input.inputModes = f['input-mode']
    if (f['output-mode']?.length) input.outputModes = f['output-mode']
    const skills = [...(f.skill ?? []).map(parseSkillSpec)]
    if (f['skills-file']) {
      const { readTextFile } = await import('../../lib/io.js')
      let list: unknown
      try {
        list = JSON.parse(await readTextFile(f['skills-file']))
      } catch (err) {
        if (err instanceof CapiscioError) throw err
        throw new CapiscioError('USAGE', `${f['skills-file']} is not JSON`)
      }
      if (!Array.isArray(list))
        throw new CapiscioError('USAGE', `${f['skills-file']} must hold a JSON array of skills`)
      const file = f['skills-file']
      skills.push(...(inFile(file, () => inputFromPartialCard({ skills: list })).skills ?? []))
    }
    if (skills.length) input.skills = skills
    return input
  }
}

/** A usage error about a file's content names the file (as `code`: a config file's is CONFIG_INVALID). */
function inFile<T>(file: string, read: () => T, code: 'USAGE' | 'CONFIG_INVALID' = 'USAGE'): T {
  try {
    return read()
  } catch (err) {
    if (err instanceof CapiscioError && err.code === 'USAGE')
      throw new CapiscioError(code, `${file}: ${err.message}`, { cause: err })
    throw err
  }
}
