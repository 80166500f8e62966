import { readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'

import { afterAll, afterEach, describe, expect, it } from '@jest/globals'

import { runCli } from '../helpers/cli.js'
import { v1Card } from '../helpers/cards.js'
import { CONFORMANCE } from '../helpers/paths.js'
import { cleanupTmp, tmpDir } from '../helpers/tmp.js'

afterAll(cleanupTmp)
let server: Server | undefined
afterEach(async () => {
  server?.closeAllConnections()
  await new Promise((r) => (server ? server.close(r) : r(undefined)))
  server = undefined
})

const vectors = (name: string) =>
  JSON.parse(readFileSync(join(CONFORMANCE, 'a2a', name), 'utf8')) as Record<string, unknown>

const CARD = v1Card()

describe('card verify on the published vectors (built CLI)', () => {
  it('signing_interop_vectors: 4 accepted (exit 0), 1 rejected (exit 3)', async () => {
    const cwd = tmpDir()
    const v = vectors('signing_interop_vectors.json') as {
      test_key: { jwk: unknown }
      vectors: { id: string; disposition: string; served_card: unknown }[]
    }
    writeFileSync(join(cwd, 'key.jwk'), JSON.stringify(v.test_key.jwk))
    const codes = await Promise.all(
      v.vectors.map(async (vec) => {
        writeFileSync(join(cwd, `${vec.id}.json`), JSON.stringify(vec.served_card))
        const r = await runCli(['card', 'verify', `${vec.id}.json`, '--key', 'key.jwk'], { cwd })
        return [vec.id, vec.disposition, r.code]
      }),
    )
    for (const [id, disposition, code] of codes)
      expect([id, code]).toEqual([id, disposition === 'MUST-ACCEPT' ? 0 : 3])
  })

  it('card_signing_vectors: each published signature verifies; a changed card does not', async () => {
    const cwd = tmpDir()
    const v = vectors('card_signing_vectors.json') as {
      public_jwk: unknown
      signing_cases: {
        id: string
        agent_card: Record<string, unknown>
        expected_protected_b64: string
        signature: string
      }[]
    }
    writeFileSync(join(cwd, 'key.jwk'), JSON.stringify(v.public_jwk))
    for (const c of v.signing_cases) {
      const card = {
        ...c.agent_card,
        signatures: [{ protected: c.expected_protected_b64, signature: c.signature }],
      }
      writeFileSync(join(cwd, 'card.json'), JSON.stringify(card))
      expect((await runCli(['card', 'verify', 'card.json', '--key', 'key.jwk', '-q'], { cwd })).code).toBe(0)
      writeFileSync(join(cwd, 'card.json'), JSON.stringify({ ...card, name: 'changed' }))
      expect((await runCli(['card', 'verify', 'card.json', '--key', 'key.jwk', '-q'], { cwd })).code).toBe(3)
    }
  })

  it('protected header vectors: a malformed header is CARD_SIGNATURE_MALFORMED (exit 3) with a per-signature report', async () => {
    const cwd = tmpDir()
    const v = vectors('card_signing_protected_header_vectors.json') as {
      cases: { id: string; agent_card: unknown; expected_valid: boolean }[]
    }
    writeFileSync(
      join(cwd, 'key.jwk'),
      JSON.stringify((vectors('card_signing_vectors.json') as { public_jwk: unknown }).public_jwk),
    )
    for (const c of v.cases.filter((x) => !x.expected_valid)) {
      writeFileSync(join(cwd, 'card.json'), JSON.stringify(c.agent_card))
      const r = await runCli(['card', 'verify', 'card.json', '--key', 'key.jwk', '--json'], { cwd })
      expect([c.id, r.code]).toEqual([c.id, 3])
      const out = JSON.parse(r.stdout) as {
        valid: boolean
        error: { code: string }
        signatures: { status: string }[]
      }
      expect(out.error.code).toBe('CARD_SIGNATURE_MALFORMED')
      expect(out.signatures.map((s) => s.status)).toContain('malformed')
    }
  })

  it('jcs depth: a card 129 containers deep is CARD_INVALID (exit 3); 10 MB of brackets is refused as too large (exit 4)', async () => {
    const cwd = tmpDir()
    writeFileSync(join(cwd, 'deep.json'), `{"name":${'{"a":'.repeat(128)}1${'}'.repeat(128)}}`)
    const deep = await runCli(['card', 'verify', 'deep.json', '--key', 'x.jwk'], { cwd })
    expect(deep.code).toBe(3)
    expect(deep.stderr).toContain('CARD_INVALID')
    writeFileSync(join(cwd, 'huge.json'), '['.repeat(10_000_000))
    const huge = await runCli(['card', 'verify', 'huge.json', '--key', 'x.jwk'], { cwd })
    expect(huge.code).toBe(4)
    expect(huge.stderr).toContain('FILE_TOO_LARGE')
  })
})

describe('card sign (built CLI)', () => {
  it.each([
    ['without signatures', {}],
    ['with an empty signatures array', { signatures: [] }],
  ])(
    'an unsigned card (%s) is CARD_SIGNATURE_INVALID with a hint to sign it, not "it changed"',
    async (_name, extra) => {
      const cwd = tmpDir()
      await runCli(['key', 'gen', '--out', 'k1', '-q'], { cwd })
      writeFileSync(join(cwd, 'agent-card.json'), JSON.stringify({ ...CARD, ...extra }))
      const r = await runCli(['card', 'verify', 'agent-card.json', '--key', 'k1/public.jwk', '--json'], {
        cwd,
      })
      expect([r.code, JSON.parse(r.stdout).error]).toEqual([
        3,
        {
          code: 'CARD_SIGNATURE_INVALID',
          message: 'the card has no signatures',
          hint: 'sign it first: capiscio card sign <file> --key <private key>',
        },
      ])
    },
  )

  it('signs in place; a second key adds a second signature (rotation); --all needs both trusted', async () => {
    const cwd = tmpDir()
    await runCli(['key', 'gen', '--out', 'k1', '-q'], { cwd })
    await runCli(['key', 'gen', '--alg', 'ES256', '--out', 'k2', '-q'], { cwd })
    writeFileSync(join(cwd, 'agent-card.json'), JSON.stringify(CARD))
    expect((await runCli(['card', 'sign', 'agent-card.json', '--key', 'k1'], { cwd })).code).toBe(0)
    expect(
      (
        await runCli(
          ['card', 'sign', 'agent-card.json', '--key', 'k2', '--jku', 'https://agent.example.com/jwks.json'],
          { cwd },
        )
      ).code,
    ).toBe(0)
    const signed = JSON.parse(readFileSync(join(cwd, 'agent-card.json'), 'utf8')) as {
      signatures: { protected: string }[]
    }
    expect(signed.signatures).toHaveLength(2)
    expect(JSON.parse(Buffer.from(signed.signatures[1]!.protected, 'base64url').toString())).toMatchObject({
      alg: 'ES256',
      typ: 'JOSE',
      jku: 'https://agent.example.com/jwks.json',
    })
    const one = await runCli(['card', 'verify', 'agent-card.json', '--key', 'k1/public.jwk', '--json'], {
      cwd,
    })
    expect(one.code).toBe(0)
    expect(
      (JSON.parse(one.stdout) as { signatures: { status: string }[] }).signatures.map((s) => s.status),
    ).toEqual(['valid', 'untrusted'])
    const all = await runCli(['card', 'verify', 'agent-card.json', '--key', 'k1/public.jwk', '--all'], {
      cwd,
    })
    expect(all.code).toBe(3)
    await runCli(['trust', 'add', 'k1/public.jwk', '-q'], { cwd })
    await runCli(['trust', 'add', 'k2/public.jwk', '-q'], { cwd })
    expect((await runCli(['card', 'verify', 'agent-card.json', '--all', '-q'], { cwd })).code).toBe(0)
  })

  it('--out - prints the signed card; a card SDKs would sign differently gets a warning, and --strict refuses it', async () => {
    const cwd = tmpDir()
    await runCli(['key', 'gen', '-q'], { cwd })
    writeFileSync(join(cwd, 'card.json'), JSON.stringify({ ...CARD, description: '' }))
    const r = await runCli(['card', 'sign', 'card.json', '--key', 'capiscio_keys', '--out', '-'], { cwd })
    expect(r.code).toBe(0)
    expect((JSON.parse(r.stdout) as { signatures: unknown[] }).signatures).toHaveLength(1)
    expect(r.stderr).toMatch(/Warning: .*description \(empty\)/)
    expect(readFileSync(join(cwd, 'card.json'), 'utf8')).not.toContain('signatures')
    const strict = await runCli(['card', 'sign', 'card.json', '--key', 'capiscio_keys', '--strict'], { cwd })
    expect(strict.code).toBe(3)
    expect(readFileSync(join(cwd, 'card.json'), 'utf8')).not.toContain('signatures')
  })

  it('refuses, leaving the file as it was, a card with an unreadable earlier signature or a signatures that is no array, a member given twice, and bytes that are not UTF-8', async () => {
    const cwd = tmpDir()
    await runCli(['key', 'gen', '-q'], { cwd })
    const cases: [string, string | Buffer, number, string][] = [
      [
        'bad-sig.json',
        JSON.stringify({ ...CARD, signatures: [{ protected: '!!', signature: 'x' }] }),
        3,
        'CARD_SIGNATURE_MALFORMED',
      ],
      ['not-array.json', JSON.stringify({ ...CARD, signatures: 'notarray' }), 3, 'CARD_SIGNATURE_MALFORMED'],
      ['twice.json', '{"name":"a","name":"b"}', 3, 'CARD_INVALID'],
      [
        'latin1.json',
        Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
        4,
        'CARD_UNREADABLE',
      ],
    ]
    for (const [file, content, exit, code] of cases) {
      writeFileSync(join(cwd, file), content)
      const r = await runCli(['card', 'sign', file, '--key', 'capiscio_keys', '--json'], { cwd })
      expect([file, r.code, JSON.parse(r.stdout).error.code]).toEqual([file, exit, code])
      expect(readFileSync(join(cwd, file))).toEqual(Buffer.from(content))
    }
  })

  it('card verify reads a card from a URL; not JSON is CARD_UNREADABLE (exit 4); a missing file exit 4', async () => {
    const cwd = tmpDir()
    await runCli(['key', 'gen', '-q'], { cwd })
    writeFileSync(join(cwd, 'card.json'), JSON.stringify(CARD))
    await runCli(['card', 'sign', 'card.json', '--key', 'capiscio_keys'], { cwd })
    const body = readFileSync(join(cwd, 'card.json'))
    server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(body)
    })
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/agent-card.json`
    expect(
      (await runCli(['card', 'verify', url, '--key', 'capiscio_keys/public.jwk', '-q'], { cwd })).code,
    ).toBe(0)
    writeFileSync(join(cwd, 'bad.json'), '{"name": ')
    const bad = await runCli(['card', 'verify', 'bad.json', '--key', 'capiscio_keys/public.jwk'], { cwd })
    expect([bad.code, bad.stderr.includes('CARD_UNREADABLE')]).toEqual([4, true])
    expect(
      (await runCli(['card', 'verify', 'nope.json', '--key', 'capiscio_keys/public.jwk'], { cwd })).code,
    ).toBe(4)
  })
})

describe('card validate (built CLI)', () => {
  const cards = join(CONFORMANCE, 'cards')
  it('exit 0 for valid/, 3 for invalid/ and legacy/, 4 for malformed JSON; --strict fails on warnings', async () => {
    const run = (file: string, ...flags: string[]) =>
      runCli(['card', 'validate', join(cards, file), ...flags])
    const [ok, bad, legacy, broken, strict] = await Promise.all([
      run('valid/complex-agent.json'),
      run('invalid/invalid-url.json'),
      run('legacy/legacy-agent.json'),
      run('invalid/malformed.txt'),
      run('valid/complex-agent.json', '--strict'),
    ])
    expect([ok.code, bad.code, legacy.code, broken.code, strict.code]).toEqual([0, 3, 3, 4, 3])
    expect(bad.stdout).toMatch(/error +INVALID_URL_SCHEME url:/)
    expect(legacy.stdout).toContain('LEGACY_CARD_SHAPE')
    expect(broken.stderr).toContain('Code: CARD_UNREADABLE')
  })

  it('--json has the documented shape', async () => {
    const r = await runCli(['card', 'validate', join(cards, 'invalid', 'invalid-version.json'), '--json'])
    expect(r.code).toBe(3)
    const out = JSON.parse(r.stdout) as Record<string, unknown>
    expect(Object.keys(out).sort()).toEqual(['errors', 'score', 'source', 'valid', 'version', 'warnings'])
    expect(out).toMatchObject({
      valid: false,
      version: '0.3',
      errors: [{ code: 'INVALID_PROTOCOL_VERSION', severity: 'error', path: 'protocolVersion' }],
    })
  })
})

describe('card verify --allow-jku', () => {
  it("uses a signature's jku only under an allowed prefix: untrusted without it, valid with it", async () => {
    const cwd = tmpDir()
    await runCli(['key', 'gen', '--alg', 'ES256', '--out', 'k', '-q'], { cwd })
    const jwks = JSON.stringify({ keys: [JSON.parse(readFileSync(join(cwd, 'k', 'public.jwk'), 'utf8'))] })
    let fetches = 0
    server = createServer((_req, res) => {
      fetches++
      res.setHeader('content-type', 'application/json')
      res.end(jwks)
    })
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    writeFileSync(join(cwd, 'card.json'), JSON.stringify(CARD))
    // The card is signed with a loopback jku, standing in for the https one a real agent publishes.
    const { signAgentCard } = await import('../../src/lib/card/sign.js')
    const { readSigningKey } = await import('../../src/lib/store/keydir.js')
    const key = await readSigningKey(join(cwd, 'k'))
    const withJku = signAgentCard(
      { ...CARD },
      { privateKey: key.privateKey, kid: key.kid, jku: `${origin}/keys/jwks.json` },
    )
    writeFileSync(join(cwd, 'jku.json'), JSON.stringify(withJku))
    const trustNothing = tmpDir()
    const [none, other, allowed] = await Promise.all([
      runCli(['card', 'verify', 'jku.json', '--trust-dir', trustNothing, '-q'], { cwd }),
      runCli(
        ['card', 'verify', 'jku.json', '--trust-dir', trustNothing, '--allow-jku', `${origin}/other/`, '-q'],
        { cwd },
      ),
      runCli(['card', 'verify', 'jku.json', '--trust-dir', trustNothing, '--allow-jku', `${origin}/keys/`], {
        cwd,
      }),
    ])
    expect([none.code, other.code, allowed.code]).toEqual([3, 3, 0])
    expect(fetches).toBe(1)
  })
})

describe('card verify --jwks URL', () => {
  it('verifies with a JWKS at any URL (a card names no issuer to bind its keys to), as with the same JWKS in a file', async () => {
    const cwd = tmpDir()
    await runCli(['key', 'gen', '--out', 'k', '-q'], { cwd })
    const jwks = JSON.stringify({ keys: [JSON.parse(readFileSync(join(cwd, 'k', 'public.jwk'), 'utf8'))] })
    server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(jwks)
    })
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/keys.json`
    writeFileSync(join(cwd, 'card.json'), JSON.stringify(CARD))
    expect(
      (await runCli(['card', 'sign', 'card.json', '--key', 'k', '--out', 'signed.json'], { cwd })).code,
    ).toBe(0)
    writeFileSync(join(cwd, 'jwks.json'), jwks)
    const [fromUrl, fromFile] = await Promise.all([
      runCli(['card', 'verify', 'signed.json', '--jwks', url, '--json'], { cwd }),
      runCli(['card', 'verify', 'signed.json', '--jwks', 'jwks.json', '--json'], { cwd }),
    ])
    expect([fromUrl.code, fromUrl.stderr]).toEqual([0, ''])
    expect(JSON.parse(fromUrl.stdout)).toMatchObject({ valid: true })
    expect(fromFile.code).toBe(0)
  })
})
