import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'

import { describe, expect, it } from '@jest/globals'
import { canonicalizeAgentCard, type AgentCard as SdkCard } from '@a2a-js/sdk'

import { confirmWrite, promptCardInput } from '../../../src/card-prompts.js'
import {
  buildAgentCard,
  inputFromPartialCard,
  parseSkillSpec,
  type CardInput,
} from '../../../src/lib/card/build.js'
import { portabilityIssues } from '../../../src/lib/card/portable.js'
import { cardSigningPayload } from '../../../src/lib/card/sign.js'
import { validateAgentCard } from '../../../src/lib/card/validate.js'
import { JWTAuthenticator } from '../../../src/lib/auth/jwt.js'
import { CONFORMANCE } from '../../helpers/paths.js'
import { thrownBy } from '../../helpers/thrown.js'

const apcore = JSON.parse(readFileSync(join(CONFORMANCE, 'apcore', 'agent_card.json'), 'utf8')) as {
  test_cases: {
    id: string
    input: {
      name: string
      description: string
      version: string
      url: string
      modules: { module_id: string; description: string }[]
      security_schemes_input?: Record<string, unknown>
    }
    expected_card?: Record<string, unknown>
    expected_card_absent_keys?: string[]
    expected_skill_count?: number
    expected_security_schemes_empty?: boolean
    expected_security_requirements_empty?: boolean
  }[]
}

const BASE: CardInput = {
  name: 'A',
  description: 'Does things',
  url: 'https://a.example/a2a',
  version: '1.0.0',
}

describe('buildAgentCard', () => {
  it.each(apcore.test_cases.map((c) => [c.id, c] as const))('apcore card shape: %s', (_id, c) => {
    // The fixture's modules are its skills; a bearer-JWT scheme is what --auth jwt declares.
    const jwt = c.input.security_schemes_input !== undefined
    if (jwt)
      expect(c.input.security_schemes_input).toEqual(
        new JWTAuthenticator({ secret: 'x'.repeat(32) }).securitySchemes(),
      )
    const card = buildAgentCard({
      name: c.input.name,
      description: c.input.description,
      version: c.input.version,
      url: c.input.url,
      skills: c.input.modules.map((m) => ({
        id: m.module_id,
        name: m.module_id,
        description: m.description,
        tags: [m.module_id],
      })),
      auth: jwt ? 'jwt' : 'none',
    })
    if (c.expected_card) expect(card).toMatchObject(c.expected_card)
    for (const key of c.expected_card_absent_keys ?? []) expect(card).not.toHaveProperty(key)
    if (c.expected_skill_count !== undefined) expect(card.skills).toHaveLength(c.expected_skill_count)
    if (c.expected_security_schemes_empty) expect(card.securitySchemes).toBeUndefined()
    if (c.expected_security_requirements_empty) expect(card.securityRequirements).toBeUndefined()
  })

  it.each(['badge', 'jwt', 'guard', 'none'] as const)(
    '--auth %s: both shapes validate without errors, nothing is empty, and the SDK signs the same bytes for 1.0',
    (auth) => {
      const input = { ...BASE, auth, skills: [parseSkillSpec('s:Search:Finds things:x,y')] }
      const v1 = buildAgentCard(input)
      const v03 = buildAgentCard(input, '0.3')
      expect(validateAgentCard(v1).errors).toEqual([])
      expect(validateAgentCard(v03).errors).toEqual([])
      expect([validateAgentCard(v1).version, validateAgentCard(v03).version]).toEqual(['1.0', '0.3'])
      expect(portabilityIssues(v1)).toEqual([])
      expect(canonicalizeAgentCard(v1 as unknown as SdkCard)).toBe(cardSigningPayload(v1))
      expect(JSON.stringify(v03)).not.toMatch(/""|\[\]|\{\}/)
    },
  )

  it('refuses a missing field or a bad URL with a usage error naming them all', () => {
    expect(() => buildAgentCard({ name: 'A' })).toThrow(/missing description, url, version/)
    expect(() => buildAgentCard({ ...BASE, url: 'ftp://x' })).toThrow(/http/)
    expect(() => parseSkillSpec('only:two')).toThrow(/id:name:description/)
    expect(parseSkillSpec('a\\:b:Name:Desc')).toEqual({
      id: 'a:b',
      name: 'Name',
      description: 'Desc',
      tags: [],
    })
  })

  it('checks every URL it writes as card validate will, and a provider URL needs the provider', () => {
    const usage = (message: RegExp) =>
      expect.objectContaining({ code: 'USAGE', message: expect.stringMatching(message) }) as unknown as Error
    expect(() => buildAgentCard({ ...BASE, iconUrl: 'nope' })).toThrow(
      usage(/^iconUrl "nope" is not an absolute URL/),
    )
    expect(() => buildAgentCard({ ...BASE, documentationUrl: 'ftp://x' })).toThrow(
      usage(/^documentationUrl must be http/),
    )
    expect(() =>
      buildAgentCard({ ...BASE, providerOrganization: 'P', providerUrl: 'javascript:alert(1)' }),
    ).toThrow(usage(/^providerUrl must be http/))
    expect(() => buildAgentCard({ ...BASE, providerUrl: 'https://p.example' })).toThrow(
      usage(/^providerUrl needs providerOrganization/),
    )
    const card = buildAgentCard({
      ...BASE,
      providerOrganization: 'P',
      providerUrl: 'https://p.example',
      iconUrl: 'https://a.example/icon.png',
    })
    expect(validateAgentCard(card).errors).toEqual([])
  })

  it('reads a partial card (1.0 or 0.3 shape) as input', () => {
    const input = inputFromPartialCard(
      buildAgentCard({ ...BASE, streaming: true, providerOrganization: 'Org' }),
    )
    expect(input).toMatchObject({ ...BASE, streaming: true, providerOrganization: 'Org' })
    expect(inputFromPartialCard({ url: 'https://old.example', name: 'Old' })).toMatchObject({
      url: 'https://old.example',
      name: 'Old',
    })
  })
})

describe('inputFromPartialCard with members of the wrong type', () => {
  it.each([
    [
      { skills: [{ id: 'a', name: 'A', description: 'd', tags: 'x' }] },
      'skill 1 tags must be an array of strings',
    ],
    [
      { skills: [{ id: 'a', name: 'A', description: 'd', tags: [], examples: [1] }] },
      'skill 1 examples must be an array of strings',
    ],
    [{ skills: 'x' }, 'skills must be an array of skills'],
    [{ skills: [7] }, 'skill 1 must be an object'],
    [{ provider: 'str' }, 'provider must be an object'],
    [{ name: 3 }, 'name must be a string'],
    [{ capabilities: { streaming: 'yes' } }, 'capabilities.streaming must be true or false'],
    [{ defaultInputModes: 'text/plain' }, 'defaultInputModes must be an array of strings'],
    [{ auth: 'basic' }, 'auth must be one of badge, jwt, guard, none'],
  ])('%j is a usage error naming the member, not dropped in silence', (partial, message) => {
    expect(thrownBy(() => inputFromPartialCard(partial as Record<string, unknown>))).toMatchObject({
      code: 'USAGE',
      message,
    })
  })

  it('tells which top-level members it does not carry over', () => {
    const ignored: string[][] = []
    inputFromPartialCard({ name: 'A', extra: 1, securitySchemes: {} }, { onIgnored: (m) => ignored.push(m) })
    expect(ignored).toEqual([['extra', 'securitySchemes']])
    inputFromPartialCard({ name: 'A', protocolVersion: '0.3.0' }, { onIgnored: (m) => ignored.push(m) })
    expect(ignored).toHaveLength(1)
  })
})

/** Answers each question when its text appears on the output, as a person at the terminal would. */
function drive(script: [string, string][]) {
  const input = new PassThrough()
  const output = new PassThrough()
  let seen = ''
  let next = 0
  output.on('data', (d: Buffer) => {
    seen += d.toString()
    while (next < script.length && seen.includes(script[next]![0])) {
      const keys = script[next]![1]
      seen = ''
      next++
      setImmediate(() => input.write(keys))
    }
  })
  return { streams: { input, output }, answered: () => next }
}

describe('the guided flow (prompts driven through streams)', () => {
  it('asks only for what is missing, validates as it goes, and builds from the answers', async () => {
    const { streams, answered } = drive([
      ['A2A endpoint URL', 'not a url\r'],
      ['enter an absolute URL', '\u0015https://agent.example.com/a2a\r'],
      ['Agent version', '\r'],
      ['Add a skill?', 'y\r'],
      ['skill id', 'qa\r'],
      ['skill name', 'Q&A\r'],
      ['skill description', 'Answers questions\r'],
      ['tags', '\r'],
      ['Add another skill?', 'n\r'],
      ['How do callers authenticate?', '\r'],
    ])
    const input = await promptCardInput({ name: 'Given', description: 'Given too' }, streams)
    expect(answered()).toBe(10)
    expect(input).toEqual({
      name: 'Given',
      description: 'Given too',
      url: 'https://agent.example.com/a2a',
      version: '1.0.0',
      skills: [{ id: 'qa', name: 'Q&A', description: 'Answers questions', tags: ['qa'] }],
      auth: 'badge',
    })
  })

  it('shows the card and writes it only when confirmed', async () => {
    const yes = drive([['Write it to agent-card.json?', '\r']])
    await expect(confirmWrite('{"name":"A"}\n', 'agent-card.json', yes.streams)).resolves.toBe(true)
    const no = drive([['Write it to agent-card.json?', 'n\r']])
    await expect(confirmWrite('{"name":"A"}\n', 'agent-card.json', no.streams)).resolves.toBe(false)
  })
})
