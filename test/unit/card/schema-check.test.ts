// validateAgentCard's A2A 0.3.0 JSON Schema check (src/lib/card/schema-check.ts), with real ajv:
// which schema problems become findings, where, and that no card makes it throw or run away.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from '@jest/globals'

import CardValidate from '../../../src/commands/card/validate.js'
import { parseCard } from '../../../src/lib/card/load.js'
import { validateAgentCard, type CardFinding } from '../../../src/lib/card/validate.js'
import { v1Card } from '../../helpers/cards.js'
import { CONFORMANCE } from '../../helpers/paths.js'
import { runCommand } from '../../helpers/run-command.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'

afterAll(cleanupTmp)

const CARDS = join(CONFORMANCE, 'cards')
const readCard = (file: string) => parseCard(readFileSync(join(CARDS, file), 'utf8'), file)

/** A complete 0.3 card: no findings but NO_SIGNATURES. */
const card03 = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'Agent',
  description: 'Does things',
  version: '1.0.0',
  url: 'https://agent.example.com/a2a',
  protocolVersion: '0.3.0',
  capabilities: { streaming: true },
  defaultInputModes: ['text/plain'],
  defaultOutputModes: ['text/plain'],
  skills: [{ id: 's', name: 'S', description: 'd', tags: ['t'] }],
  ...overrides,
})

const all = (r: { errors: CardFinding[]; warnings: CardFinding[] }) => [...r.errors, ...r.warnings]
const schemaFindings = (card: unknown, options?: Parameters<typeof validateAgentCard>[1]) =>
  all(validateAgentCard(card, options)).filter((f) => f.code.startsWith('SCHEMA_'))
const at = (card: unknown) => schemaFindings(card).map((f) => [f.code, f.severity, f.path])

describe('the A2A 0.3 schema check in validateAgentCard', () => {
  it('a complete 0.3 card has no schema findings', () => {
    const r = validateAgentCard(card03())
    expect([r.version, r.errors, r.warnings.map((w) => w.code)]).toEqual(['0.3', [], ['NO_SIGNATURES']])
  })

  it('valid/basic-agent.json: provider without url is SCHEMA_MISSING_MEMBER, a warning, and the card stays valid', () => {
    const r = validateAgentCard(readCard('valid/basic-agent.json'))
    expect(r.valid).toBe(true)
    expect(r.errors).toEqual([])
    expect(r.warnings.filter((w) => w.code.startsWith('SCHEMA_'))).toEqual([
      {
        code: 'SCHEMA_MISSING_MEMBER',
        severity: 'warning',
        path: 'provider.url',
        message: 'provider has no url, which the A2A 0.3 schema requires',
      },
    ])
  })

  it('the other valid/ cards have no schema findings at all', () => {
    for (const file of ['valid/complex-agent.json', 'valid/node-e2e-valid.json'])
      expect([file, schemaFindings(readCard(file))]).toEqual([file, []])
  })

  it.each<[string, Record<string, unknown>, string, RegExp]>([
    [
      'capabilities.streaming "yes"',
      { capabilities: { streaming: 'yes' } },
      'capabilities.streaming',
      /^streaming must be a boolean, not a string \("yes"\)$/,
    ],
    [
      'a skill whose tags is a string',
      { skills: [{ id: 's', name: 'S', description: 'd', tags: 'a' }] },
      'skills[0].tags',
      /^tags must be an array of strings, not a string \("a"\)$/,
    ],
    [
      'an input mode that is a number',
      { defaultInputModes: [1] },
      'defaultInputModes[0]',
      /^defaultInputModes\[0\] must be a string, not a number \(1\)$/,
    ],
    [
      'a security scheme of an unknown type',
      { securitySchemes: { bearer: { type: 'bogus' } } },
      'securitySchemes.bearer',
      /^bearer matches none of the allowed shapes: type must be "apiKey", "http", "oauth2", "openIdConnect" or "mutualTLS", not a string \("bogus"\)$/,
    ],
    [
      'an http scheme without its scheme',
      { securitySchemes: { h: { type: 'http' } } },
      'securitySchemes.h',
      /^h matches none of the allowed shapes: as type "http", it has no scheme$/,
    ],
    [
      'an apiKey scheme "in" the body',
      { securitySchemes: { k: { type: 'apiKey', in: 'body', name: 'X-Key' } } },
      'securitySchemes.k',
      /as type "apiKey", in must be "cookie", "header" or "query", not a string \("body"\)$/,
    ],
    [
      'an oauth2 flow without scopes',
      {
        securitySchemes: {
          o: { type: 'oauth2', flows: { implicit: { authorizationUrl: 'https://a.example/auth' } } },
        },
      },
      'securitySchemes.o',
      /as type "oauth2", implicit has no scopes$/,
    ],
    [
      'a security scheme that is a string',
      { securitySchemes: { s: 'bearer' } },
      'securitySchemes.s',
      /: an object with type "apiKey", .* or "mutualTLS", not a string \("bearer"\)$/,
    ],
    [
      'supportsAuthenticatedExtendedCard "true"',
      { supportsAuthenticatedExtendedCard: 'true' },
      'supportsAuthenticatedExtendedCard',
      /must be a boolean, not a string \("true"\)$/,
    ],
  ])('%s is one SCHEMA_VIOLATION error at its path', (_name, overrides, path, message) => {
    const r = validateAgentCard(card03(overrides))
    const found = schemaFindings(card03(overrides))
    expect(found.map((f) => [f.code, f.severity, f.path])).toEqual([['SCHEMA_VIOLATION', 'error', path]])
    expect(found[0]!.message).toMatch(message)
    expect(r.valid).toBe(false)
  })

  it('name: 42 is MISSING_NAME only: no second finding where a rule already found an error', () => {
    const r = validateAgentCard(card03({ name: 42 }))
    expect(r.errors.map((e) => [e.code, e.path])).toEqual([['MISSING_NAME', 'name']])
    for (const [overrides, code] of [
      [{ url: 7 }, 'MISSING_URL'],
      [{ preferredTransport: 5 }, 'INVALID_TRANSPORT'],
      [{ signatures: {} }, 'INVALID_SIGNATURE'],
      [{ skills: [{ id: 1, name: 'S', description: 'd', tags: ['t'] }] }, 'MISSING_SKILL_FIELD'],
    ] as const)
      expect(validateAgentCard(card03(overrides)).errors.map((e) => e.code)).toEqual([code])
  })

  it('a missing member a rule covers is left to the rule; any other one is SCHEMA_MISSING_MEMBER', () => {
    const bare = card03()
    for (const member of ['name', 'version', 'url', 'capabilities', 'skills']) delete bare[member]
    expect(at(bare)).toEqual([])
    expect(at(card03({ skills: [{ id: 's', name: 'S', description: 'd' }] }))).toEqual([])
    expect(at(card03({ skills: [{}] }))).toEqual([])
    expect(
      at(
        card03({
          additionalInterfaces: [{ url: 'https://agent.example.com/grpc' }, { transport: 'GRPC' }],
          capabilities: { extensions: [{ required: true }] },
          signatures: [{ protected: 'eyJhbGciOiJFUzI1NiIsImtpZCI6ImsifQ' }],
        }),
      ),
    ).toEqual([
      // additionalInterfaces[0].transport is INVALID_TRANSPORT's, an error of its own.
      ['SCHEMA_MISSING_MEMBER', 'warning', 'additionalInterfaces[1].url'],
      ['SCHEMA_MISSING_MEMBER', 'warning', 'capabilities.extensions[0].uri'],
      ['SCHEMA_MISSING_MEMBER', 'warning', 'signatures[0].signature'],
    ])
  })

  it('paths: JSON-pointer escapes undone, odd keys quoted, an object\'s key "0" told from an index', () => {
    const scheme = { type: 'bogus' }
    const card = card03({
      securitySchemes: { 'odd key': scheme, 'a/b~c': scheme, '0': scheme, 'x-y': scheme, $ok: scheme },
      skills: [{ id: 's', name: 'S', description: 'd', tags: ['t', 2] }],
    })
    expect(schemaFindings(card).map((f) => f.path)).toEqual([
      'securitySchemes["0"]',
      'securitySchemes["odd key"]',
      'securitySchemes["a/b~c"]',
      'securitySchemes["x-y"]',
      'securitySchemes.$ok',
      'skills[0].tags[1]',
    ])
    expect(schemaFindings(card)[1]!.message).toMatch(/^"odd key" matches none/)
    expect(schemaFindings(card)[5]!.message).toBe('tags[1] must be a string, not a number (2)')
  })

  it('a value in a message is cut to about 40 characters, and objects are never dumped', () => {
    const huge = 'x'.repeat(100_000)
    const found = schemaFindings(
      card03({
        capabilities: { streaming: huge, pushNotifications: { a: huge }, stateTransitionHistory: [huge] },
        securitySchemes: { [huge]: { type: huge }, [`${huge} `]: 1 },
      }),
    )
    expect(found).toHaveLength(5)
    for (const f of found) expect([f.message.length < 250, f.path.length < 100]).toEqual([true, true])
    expect(found.map((f) => f.message)).toEqual([
      'pushNotifications must be a boolean, not an object',
      'stateTransitionHistory must be a boolean, not an array',
      `streaming must be a boolean, not a string ("${'x'.repeat(39)}…")`,
      expect.stringMatching(/^"x{63}…" matches none .* not a string \("x{39}…"\)$/),
      expect.stringMatching(/^"x{63}…" matches none .* not a number \(1\)$/),
    ])
    // A long key is cut in the path too, identifier or not.
    expect([found[3]!.path, found[4]!.path]).toEqual([
      `securitySchemes["${'x'.repeat(63)}…"]`,
      `securitySchemes["${'x'.repeat(63)}…"]`,
    ])
    // Control characters are escaped: nothing reaches a terminal raw.
    const [esc] = schemaFindings(card03({ capabilities: { streaming: '\u001b[2J' } }))
    expect(esc!.message).toBe('streaming must be a boolean, not a string ("\\u001b[2J")')
  })

  it('1.0 and legacy cards get no schema findings; --a2a-version 0.3 on a 1.0 card does', () => {
    const v1 = v1Card({
      capabilities: { streaming: 'yes' },
      securitySchemes: { badge: { httpAuthSecurityScheme: { scheme: 'Bearer' } } },
    })
    expect(schemaFindings(v1)).toEqual([])
    expect(schemaFindings(card03({ capabilities: { streaming: 'yes' } }), { version: '1.0' })).toEqual([])
    expect(schemaFindings(readCard('legacy/legacy-agent.json'))).toEqual([])
    expect(schemaFindings(v1, { version: '0.3' }).map((f) => f.path)).toEqual([
      'capabilities.streaming',
      'securitySchemes.badge',
    ])
  })
})

describe('hostile cards: the schema check never throws and stays bounded', () => {
  it('10,000 skills, each wrong: one schema finding per skill, in well under the time a CLI run takes', () => {
    const skills = Array.from({ length: 10_000 }, () => ({ id: 1, name: 2, description: 3, tags: 'a' }))
    const t0 = performance.now()
    const r = validateAgentCard(card03({ skills }))
    const ms = performance.now() - t0
    const schema = all(r).filter((f) => f.code.startsWith('SCHEMA_'))
    expect(schema).toHaveLength(10_000)
    expect(schema.every((f, i) => f.code === 'SCHEMA_VIOLATION' && f.path === `skills[${i}].tags`)).toBe(true)
    expect(r.errors.filter((e) => e.code === 'MISSING_SKILL_FIELD')).toHaveLength(30_000)
    expect([r.valid, r.score]).toEqual([false, 0])
    expect(ms).toBeLessThan(5_000)
  })

  it('an extension params object 5,000 levels deep: validated without recursing into it', () => {
    let deep: Record<string, unknown> = { leaf: true }
    for (let i = 0; i < 5_000; i++) deep = { a: deep }
    const extensions = [{ uri: 'https://ext.example/x', params: deep }]
    expect(at(card03({ capabilities: { extensions } }))).toEqual([])
    // Deep where the schema wants a boolean: one finding, the object not dumped.
    expect(schemaFindings(card03({ capabilities: { streaming: deep } })).map((f) => f.message)).toEqual([
      'streaming must be a boolean, not an object',
    ])
    // A card read from text never gets that deep: the loader refuses beyond 128 levels.
    const text = `{"name":"n","capabilities":{"extensions":[{"uri":"u","params":${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}}]}}`
    expect(() => parseCard(text, 'deep.json')).toThrow(
      expect.objectContaining({ code: 'CARD_INVALID' }) as unknown as Error,
    )
  })

  it('__proto__ and constructor keys are plain members: reported by name, nothing polluted', () => {
    const card = JSON.parse(
      JSON.stringify(card03()).replace(
        /^\{/,
        '{"__proto__":{"name":1},"constructor":{"x":1},"securitySchemes":{"__proto__":{"type":"bogus"},"constructor":{"type":"http"},"toString":"x"},"provider":{"__proto__":{"url":"https://p.example"},"organization":"P"},',
      ),
    ) as Record<string, unknown>
    expect(Object.getPrototypeOf(card)).toBe(Object.prototype)
    expect(at(card).sort()).toEqual([
      ['SCHEMA_MISSING_MEMBER', 'warning', 'provider.url'],
      ['SCHEMA_VIOLATION', 'error', 'securitySchemes.__proto__'],
      ['SCHEMA_VIOLATION', 'error', 'securitySchemes.constructor'],
      ['SCHEMA_VIOLATION', 'error', 'securitySchemes.toString'],
    ])
    expect(({} as Record<string, unknown>).type).toBeUndefined()
    expect(({} as Record<string, unknown>).url).toBeUndefined()
    for (const v of [
      { securitySchemes: null },
      { securitySchemes: [] },
      { skills: [null, 1, 'x', []] },
      { capabilities: { extensions: [null, { uri: {} }] } },
      { provider: 'p' },
      { signatures: [null] },
    ])
      expect(() => validateAgentCard(card03(v))).not.toThrow()
  })
})

describe('capiscio card validate (in process)', () => {
  it('a schema-violating 0.3 card exits 3, and --json lists SCHEMA_VIOLATION with its path', async () => {
    const cwd = tmpDir()
    const file = join(cwd, 'card.json')
    writeFileSync(file, JSON.stringify(card03({ capabilities: { streaming: 'yes' } })))
    const r = await runCommand(CardValidate, [file, '--json'])
    expect(r.exitCode).toBe(3)
    const out = JSON.parse(r.stdout) as { valid: boolean; version: string; errors: CardFinding[] }
    expect([out.valid, out.version]).toEqual([false, '0.3'])
    expect(out.errors).toEqual([
      {
        code: 'SCHEMA_VIOLATION',
        severity: 'error',
        path: 'capabilities.streaming',
        message: 'streaming must be a boolean, not a string ("yes")',
      },
    ])
    const text = await runCommand(CardValidate, [file])
    expect(text.exitCode).toBe(3)
    expect(text.stdout).toMatch(
      /error +SCHEMA_VIOLATION capabilities\.streaming: streaming must be a boolean/,
    )
  })
})
