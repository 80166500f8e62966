import { createHmac } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, afterEach, describe, expect, it } from '@jest/globals'
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose'

import { mintToken, type MintTokenOptions } from '../../src/lib/token/mint.js'
import { runCli } from '../helpers/cli.js'
import { signHmac, unsigned } from '../helpers/badges.js'
import { JwksServer } from '../helpers/jwks-server.js'
import { cleanupTmp, tmpDir } from '../helpers/tmp.js'

afterAll(cleanupTmp)
let server: JwksServer | undefined
afterEach(async () => server?.stop())

const SECRET = 'c2VjcmV0LXRoYXQtaXMtbG9uZy1lbm91Z2gtZm9yLWhzMjU2LWFuZC1tb3Jl' // 60 bytes of text
const OTHER_SECRET = 'another-secret-that-is-also-32-bytes-or-longer'

/** A directory holding jwt.secret (written as `openssl rand -base64 48 > jwt.secret` would: a trailing newline). */
function secretDir(secret = SECRET): string {
  const cwd = tmpDir()
  writeFileSync(join(cwd, 'jwt.secret'), secret + '\n', { mode: 0o600 })
  return cwd
}

const TOKEN_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/

/** The error object of a --json failure. */
function jsonError(stdout: string): { code: string; message: string; hint: string } {
  const parsed = JSON.parse(stdout) as {
    valid?: boolean
    error: { code: string; message: string; hint: string }
  }
  return parsed.error
}

describe('capiscio token mint (built CLI)', () => {
  it('mints an HS256 token from --secret-file: only the token on stdout, standard claims, and jose accepts it', async () => {
    const cwd = secretDir()
    const r = await runCli(
      [
        'token',
        'mint',
        '--sub',
        'alice',
        '--type',
        'user',
        '--role',
        'admin',
        '--role',
        'ops',
        '--claim',
        'tier="gold"',
        '--claim',
        'quota=3',
        '--aud',
        'https://agent.example.com',
        '--iss',
        'https://idp.example.com',
        '--ttl',
        '15m',
        '--secret-file',
        'jwt.secret',
      ],
      { cwd },
    )
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(TOKEN_RE)
    expect(r.stderr).toContain('HS256')
    const token = r.stdout.trim()
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT' })
    // The secret is the file's text without its trailing newline, as jose and PyJWT take a string secret.
    const { payload } = await jwtVerify(token, new TextEncoder().encode(SECRET), {
      algorithms: ['HS256'],
      audience: 'https://agent.example.com',
      issuer: 'https://idp.example.com',
    })
    expect(payload).toMatchObject({
      sub: 'alice',
      type: 'user',
      roles: ['admin', 'ops'],
      tier: 'gold',
      quota: 3,
    })
    expect(payload.exp! - payload.iat!).toBe(900)
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/)
    expect(r.stdout + r.stderr).not.toContain(SECRET)
  })

  it('--json gives {token, header, claims}; the default lifetime is one hour', async () => {
    const cwd = secretDir()
    const r = await runCli(
      ['token', 'mint', '--sub', 'svc', '--secret-file', 'jwt.secret', '--json', '--jti', 'run-42'],
      {
        cwd,
      },
    )
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as {
      token: string
      header: object
      claims: Record<string, number | string>
    }
    expect(Object.keys(out).sort()).toEqual(['claims', 'header', 'token'])
    expect(out.header).toEqual({ alg: 'HS256', typ: 'JWT' })
    expect(out.claims).toMatchObject({ sub: 'svc', jti: 'run-42' })
    expect((out.claims.exp as number) - (out.claims.iat as number)).toBe(3600)
    expect(r.stderr).toBe('')
  })

  it('takes the secret from stdin, then CAPISCIO_JWT_SECRET, then APCORE_JWT_SECRET; the file wins over both', async () => {
    const cwd = secretDir()
    const viaStdin = await runCli(['token', 'mint', '--sub', 'a', '--secret-file', '-', '-q'], {
      cwd,
      input: SECRET + '\n',
    })
    expect(viaStdin.code).toBe(0)
    await expect(jwtVerify(viaStdin.stdout.trim(), new TextEncoder().encode(SECRET))).resolves.toBeDefined()

    const env = { CAPISCIO_JWT_SECRET: SECRET, APCORE_JWT_SECRET: OTHER_SECRET }
    const [capiscio, apcore, file] = await Promise.all([
      runCli(['token', 'mint', '--sub', 'a', '-q'], { cwd, env }),
      runCli(['token', 'mint', '--sub', 'a', '-q'], { cwd, env: { APCORE_JWT_SECRET: OTHER_SECRET } }),
      runCli(['token', 'mint', '--sub', 'a', '-q', '--secret-file', 'jwt.secret'], {
        cwd,
        env: { CAPISCIO_JWT_SECRET: OTHER_SECRET },
      }),
    ])
    await expect(jwtVerify(capiscio.stdout.trim(), new TextEncoder().encode(SECRET))).resolves.toBeDefined()
    await expect(
      jwtVerify(apcore.stdout.trim(), new TextEncoder().encode(OTHER_SECRET)),
    ).resolves.toBeDefined()
    await expect(jwtVerify(file.stdout.trim(), new TextEncoder().encode(SECRET))).resolves.toBeDefined()
  })

  it('refuses a secret shorter than 32 bytes with exit 2, naming the rule, writing no token and not echoing the secret', async () => {
    const cwd = secretDir('short-secret-31-bytes-long-xxxx')
    const r = await runCli(['token', 'mint', '--sub', 'a', '--secret-file', 'jwt.secret'], { cwd })
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('Code: USAGE')
    expect(r.stderr).toMatch(/at least 32 bytes \(RFC 7518/)
    expect(r.stderr).not.toContain('short-secret')
    // HS512 needs 64 bytes: a 60-byte secret is refused for it.
    const hs512 = await runCli(
      ['token', 'mint', '--sub', 'a', '--secret-file', 'jwt.secret', '--alg', 'HS512'],
      {
        cwd: secretDir(),
      },
    )
    expect(hs512.code).toBe(2)
    expect(hs512.stderr).toMatch(/HS512 needs a secret of at least 64 bytes/)
  })

  it('with no key and no secret, exit 2 naming every source', async () => {
    const r = await runCli(['token', 'mint', '--sub', 'a'], { cwd: tmpDir() })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--secret-file.*--key/)
    expect(r.stderr).toContain('CAPISCIO_JWT_SECRET or APCORE_JWT_SECRET')
  })

  it('--claim: a value that is not JSON, a claim set by its own flag, a repeat or a missing name are usage errors', async () => {
    const cwd = secretDir()
    const run = (...claim: string[]) =>
      runCli(
        [
          'token',
          'mint',
          '--sub',
          'a',
          '--secret-file',
          'jwt.secret',
          ...claim.flatMap((c) => ['--claim', c]),
        ],
        {
          cwd,
        },
      )
    const [notJson, reserved, twice, noName] = await Promise.all([
      run('tier=gold'),
      run('sub="mallory"'),
      run('n=1', 'n=2'),
      run('=1'),
    ])
    for (const r of [notJson, reserved, twice, noName]) {
      expect(r.code).toBe(2)
      expect(r.stdout).toBe('')
    }
    expect(notJson.stderr).toContain(`--claim 'tier="gold"'`)
    expect(reserved.stderr).toMatch(/the claim "sub" is set by --sub/)
    expect(twice.stderr).toContain('--claim n is given twice')
    expect(noName.stderr).toContain('is not NAME=JSON')
  })

  it.each(['EdDSA', 'ES256', 'RS256'])(
    'signs %s with --key (the algorithm and kid from the key) and verifies under jose and token verify',
    async (alg) => {
      const cwd = tmpDir()
      expect((await runCli(['key', 'gen', '--alg', alg, '--out', 'k', '-q'], { cwd })).code).toBe(0)
      const r = await runCli(['token', 'mint', '--sub', 'svc', '--key', 'k', '--aud', 'x'], { cwd })
      expect(r.code).toBe(0)
      const token = r.stdout.trim()
      const jwk = JSON.parse(readFileSync(join(cwd, 'k', 'public.jwk'), 'utf8')) as { kid: string }
      expect(decodeProtectedHeader(token)).toEqual({ alg, typ: 'JWT', kid: jwk.kid })
      await expect(jwtVerify(token, await importJWK(jwk, alg), { algorithms: [alg] })).resolves.toBeDefined()
      const v = await runCli(['token', 'verify', token, '--key', 'k/public.jwk', '--aud', 'x', '--json'], {
        cwd,
      })
      expect(v.code).toBe(0)
      expect(JSON.parse(v.stdout)).toEqual({ id: 'svc', type: 'user', roles: [], attrs: {} })
    },
  )

  it('reads an encrypted key with --passphrase-file; a wrong passphrase is an error, not a token', async () => {
    const cwd = tmpDir()
    writeFileSync(join(cwd, 'pass'), 'correct horse battery staple\n')
    writeFileSync(join(cwd, 'wrong'), 'wrong\n')
    expect(
      (await runCli(['key', 'gen', '--out', 'k', '--passphrase-file', 'pass', '-q'], { cwd })).code,
    ).toBe(0)
    const ok = await runCli(
      ['token', 'mint', '--sub', 'a', '--key', 'k', '--passphrase-file', 'pass', '-q'],
      { cwd },
    )
    expect(ok.code).toBe(0)
    expect(ok.stdout).toMatch(TOKEN_RE)
    const bad = await runCli(['token', 'mint', '--sub', 'a', '--key', 'k', '--passphrase-file', 'wrong'], {
      cwd,
    })
    expect(bad.code).not.toBe(0)
    expect(bad.stdout).toBe('')
    expect(bad.stderr).toMatch(/Code: KEY_/)
  })

  it('--alg with --key, or --key with --secret-file, is a usage error', async () => {
    const cwd = secretDir()
    await runCli(['key', 'gen', '--out', 'k', '-q'], { cwd })
    const [alg, both] = await Promise.all([
      runCli(['token', 'mint', '--sub', 'a', '--key', 'k', '--alg', 'HS256'], { cwd }),
      runCli(['token', 'mint', '--sub', 'a', '--key', 'k', '--secret-file', 'jwt.secret'], { cwd }),
    ])
    expect(alg.code).toBe(2)
    expect(alg.stderr).toContain('a key signs with its own')
    expect(both.code).toBe(2)
    expect(both.stderr).toContain('choose one')
  })

  it('--secret VALUE works (DESIGN §7) but warns every time that it is visible in shell history and ps', async () => {
    const cwd = secretDir()
    const r = await runCli(['token', 'mint', '--sub', 'a', '--secret', SECRET], { cwd })
    expect(r.code).toBe(0)
    await expect(jwtVerify(r.stdout.trim(), new TextEncoder().encode(SECRET))).resolves.toBeDefined()
    expect(r.stderr).toMatch(/Warning: --secret puts the secret in shell history/)
    expect(r.stderr).not.toContain(SECRET)
    const v = await runCli(['token', 'verify', r.stdout.trim(), '--secret', SECRET, '--json'], { cwd })
    expect(v.code).toBe(0)
    expect((JSON.parse(v.stdout) as { warnings: string[] }).warnings[0]).toMatch(/--secret puts the secret/)
    const both = await runCli(
      ['token', 'mint', '--sub', 'a', '--secret', SECRET, '--secret-file', 'jwt.secret'],
      { cwd },
    )
    expect(both.code).toBe(2)
    expect(both.stdout).toBe('')
  })
})

describe('capiscio token mint --role', () => {
  it('takes a comma list as --aud does, and refuses an empty role or kid (tokens the gateway would refuse)', async () => {
    const cwd = secretDir()
    const mint = (...args: string[]) =>
      runCli(['token', 'mint', '--sub', 'svc', '--secret-file', 'jwt.secret', '--json', ...args], { cwd })
    const listed = await mint('--role', 'admin,ops', '--role', 'audit')
    expect(listed.code).toBe(0)
    expect(JSON.parse(listed.stdout).claims.roles).toEqual(['admin', 'ops', 'audit'])
    for (const args of [
      ['--role', ''],
      ['--kid', ''],
      ['--type', ''],
    ]) {
      const r = await mint(...args)
      expect([args, r.code, JSON.parse(r.stdout).error.code]).toEqual([args, 2, 'USAGE'])
    }
  })
})

describe('capiscio token: dates past year 9999', () => {
  it('mint refuses a --ttl that puts exp past year 9999 (exit 2); verify refuses such a token (exit 3), never printing valid first', async () => {
    const cwd = secretDir()
    const mint = await runCli(
      ['token', 'mint', '--sub', 'x', '--ttl', '99999999999999', '--secret-file', 'jwt.secret'],
      { cwd },
    )
    expect([mint.code, mint.stdout]).toEqual([2, ''])
    expect(mint.stderr).toMatch(/Code: USAGE/)
    const far = signHmac({ alg: 'HS256', typ: 'JWT' }, { sub: 'x', exp: 1e20 }, SECRET)
    const verify = await runCli(['token', 'verify', far, '--secret-file', 'jwt.secret'], { cwd })
    expect([verify.code, verify.stdout]).toEqual([3, ''])
    expect(verify.stderr).toMatch(/Code: TOKEN_CLAIMS_INVALID/)
    expect(verify.stderr).not.toMatch(/INTERNAL_ERROR|\n\s+at /)
  })
})

describe('capiscio token verify (built CLI)', () => {
  const mint = (extra: Partial<MintTokenOptions> = {}): string =>
    mintToken({ sub: 'alice', secret: SECRET, ...extra }).token

  it('a token read as a path ("$TOKEN/", "~$TOKEN") is a file error that never shows the token (token, badge and guard verify)', async () => {
    const cwd = secretDir()
    const minted = await runCli(['token', 'mint', '--secret-file', 'jwt.secret', '--sub', 'svc'], { cwd })
    const token = minted.stdout.trim()
    for (const [command, arg] of [
      ['token', `${token}/`],
      ['badge', `~${token}`],
      ['guard', `x/${token}`],
    ] as const) {
      const extra = command === 'token' ? ['--secret-file', 'jwt.secret'] : []
      const r = await runCli([command, 'verify', arg, ...extra], { cwd })
      expect([command, r.code]).toEqual([command, 4])
      expect(r.stderr).toMatch(/Code: FILE_(UNREADABLE|NOT_FOUND)/)
      expect(r.stderr).toContain(`(${arg.length} characters)`)
      expect(r.stderr).not.toContain(token.split('.')[1]!)
      expect(r.stderr).not.toContain('check permissions')
    }
  })

  it('prints the Identity: text by default, exactly {id, type, roles, attrs} under --json, exit 0', async () => {
    const cwd = secretDir()
    const token = mint({ type: 'service', roles: ['admin'], claims: { tier: 'gold', org: 'acme' } })
    const [text, json] = await Promise.all([
      runCli(['token', 'verify', token, '--secret-file', 'jwt.secret'], { cwd }),
      runCli(['token', 'verify', token, '--secret-file', 'jwt.secret', '--attr-claim', 'tier', '--json'], {
        cwd,
      }),
    ])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/^valid HS256 token\nid {7}alice\ntype {5}service\nroles {4}admin\n/)
    expect(json.code).toBe(0)
    expect(JSON.parse(json.stdout)).toEqual({
      id: 'alice',
      type: 'service',
      roles: ['admin'],
      attrs: { tier: 'gold' },
    })
  })

  it('reads the token from a file and from stdin; the secret from the environment', async () => {
    const cwd = secretDir()
    const token = mint()
    writeFileSync(join(cwd, 'token.jwt'), token + '\n')
    const env = { CAPISCIO_JWT_SECRET: SECRET }
    const [file, stdin] = await Promise.all([
      runCli(['token', 'verify', 'token.jwt', '-q'], { cwd, env }),
      runCli(['token', 'verify', '-', '-q'], { cwd, env, input: token + '\n' }),
    ])
    expect(file.code).toBe(0)
    expect(stdin.code).toBe(0)
    const both = await runCli(['token', 'verify', '-', '--secret-file', '-'], { cwd, input: token })
    expect(both.code).toBe(2)
    expect(both.stderr).toContain('cannot both come from standard input')
  })

  it('maps claims with --id-claim, --type-claim, --roles-claim and --attr-claim', async () => {
    const cwd = secretDir()
    const token = mint({
      claims: { email: 'alice@example.com', kind: 'human', groups: ['eng', 7], team: 'core' },
    })
    const r = await runCli(
      [
        'token',
        'verify',
        token,
        '--secret-file',
        'jwt.secret',
        '--json',
        '--id-claim',
        'email',
        '--type-claim',
        'kind',
        '--roles-claim',
        'groups',
        '--attr-claim',
        'team',
        '--attr-claim',
        'sub',
      ],
      { cwd },
    )
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({
      id: 'alice@example.com',
      type: 'human',
      roles: ['eng', '7'],
      attrs: { team: 'core', sub: 'alice' },
    })
  })

  it.each<[string, () => string, string[]]>([
    ['TOKEN_EXPIRED', () => mint({ now: () => Date.now() - 7200_000, ttlSeconds: 600 }), []],
    ['TOKEN_NOT_YET_VALID', () => mint({ now: () => Date.now() + 3600_000 }), []],
    [
      'TOKEN_AUDIENCE_MISMATCH',
      () => mint({ aud: ['https://other.example.com'] }),
      ['--aud', 'https://me.example.com'],
    ],
    ['TOKEN_AUDIENCE_MISMATCH', () => mint(), ['--aud', 'https://me.example.com']],
    [
      'TOKEN_ISSUER_MISMATCH',
      () => mint({ iss: 'https://evil.example.com' }),
      ['--iss', 'https://idp.example.com'],
    ],
    ['TOKEN_SIGNATURE_INVALID', () => mintToken({ sub: 'a', secret: OTHER_SECRET }).token, []],
    [
      'TOKEN_MALFORMED',
      () => 'not-a-token-at-all-but-long-enough-not-to-look-like-a-file-name-xxxxxxxxxxxxxxxxxxxxxxxxxxx',
      [],
    ],
    ['TOKEN_CLAIMS_INVALID', () => mint(), ['--require-claim', 'tenant']],
    // nbf is reserved for mintToken, so this one is signed by hand.
    [
      'TOKEN_CLAIMS_INVALID',
      () => signHmac({ alg: 'HS256', typ: 'JWT' }, { sub: 'a', nbf: 'soon' }, SECRET),
      [],
    ],
    ['TOKEN_EXPIRED', () => mint({ now: () => Date.now() - 1200_000 }), ['--max-age', '10m']],
  ])('refuses with %s, exit 3, {valid:false} under --json', async (code, make, flags) => {
    const cwd = secretDir()
    const token = make()
    const [text, json] = await Promise.all([
      runCli(['token', 'verify', token, '--secret-file', 'jwt.secret', ...flags], { cwd }),
      runCli(['token', 'verify', token, '--secret-file', 'jwt.secret', '--json', ...flags], { cwd }),
    ])
    expect(text.code).toBe(3)
    expect(text.stdout).toBe('')
    expect(text.stderr).toContain(`Code: ${code}`)
    expect(text.stderr).toMatch(/^Error: invalid token: /)
    expect(json.code).toBe(3)
    expect(JSON.parse(json.stdout)).toEqual({
      valid: false,
      error: { code, message: expect.any(String), hint: expect.any(String) },
    })
    expect(text.stderr + json.stdout).not.toContain(SECRET)
  })

  it('an empty --aud, --iss or --require-claim (an unset shell variable) is a usage error, never a check turned off', async () => {
    const cwd = secretDir()
    const token = mint()
    const results = await Promise.all(
      ['--aud', '--iss', '--require-claim'].map((flag) =>
        runCli(['token', 'verify', token, '--secret-file', 'jwt.secret', flag, ' , '], { cwd }),
      ),
    )
    for (const r of results) {
      expect(r.code).toBe(2)
      expect(r.stdout).toBe('')
      expect(r.stderr).toMatch(/Error: --(aud|iss|require-claim) is empty/)
    }
  })

  it('tolerates 60 s of clock skew by default, and --clock-skew 0 tolerates none', async () => {
    const cwd = secretDir()
    const token = mint({ now: () => Date.now() - 3630_000 }) // expired 30 s ago
    const [lenient, strict] = await Promise.all([
      runCli(['token', 'verify', token, '--secret-file', 'jwt.secret', '-q'], { cwd }),
      runCli(['token', 'verify', token, '--secret-file', 'jwt.secret', '--clock-skew', '0', '-q'], { cwd }),
    ])
    expect(lenient.code).toBe(0)
    expect(strict.code).toBe(3)
    expect(strict.stderr).toContain('TOKEN_EXPIRED')
  })

  it('--alg narrows the allow-list; it is never taken from the token', async () => {
    const cwd = secretDir()
    const hs384 = mint({ alg: 'HS384' })
    const [narrow, allowed] = await Promise.all([
      runCli(['token', 'verify', hs384, '--secret-file', 'jwt.secret', '--alg', 'HS256'], { cwd }),
      runCli(['token', 'verify', hs384, '--secret-file', 'jwt.secret', '-q'], { cwd }),
    ])
    expect(narrow.code).toBe(3)
    expect(narrow.stderr).toContain('Code: TOKEN_MALFORMED')
    expect(narrow.stderr).toContain('alg "HS384" is not allowed')
    expect(allowed.code).toBe(0)
  })

  describe('hostile tokens', () => {
    it('alg none, with and without a signature, is refused (exit 3), with a secret and with a key', async () => {
      const cwd = secretDir()
      await runCli(['key', 'gen', '--out', 'k', '-q'], { cwd })
      const none = unsigned(
        { alg: 'none', typ: 'JWT' },
        { sub: 'admin', exp: Math.floor(Date.now() / 1000) + 600 },
      )
      // On stdin: a short token ending in ".AAAA" would be read as a file name on the command line.
      const results = await Promise.all([
        runCli(['token', 'verify', '-', '--secret-file', 'jwt.secret'], { cwd, input: none }),
        runCli(['token', 'verify', '-', '--key', 'k/public.jwk'], { cwd, input: none }),
        runCli(['token', 'verify', '-', '--key', 'k/public.jwk'], { cwd, input: none + 'AAAA' }),
      ])
      for (const r of results) {
        expect(r.code).toBe(3)
        expect(r.stderr).toContain('Code: TOKEN_MALFORMED')
      }
    })

    it.each(['EdDSA', 'ES256', 'RS256'])(
      'an HS256 token keyed with the %s public key (PEM bytes, JWK bytes) is refused: HMAC is not allowed with a key',
      async (alg) => {
        const cwd = tmpDir()
        await runCli(['key', 'gen', '--alg', alg, '--out', 'k', '-q'], { cwd })
        const payload = { sub: 'admin', exp: Math.floor(Date.now() / 1000) + 600 }
        const pem = readFileSync(join(cwd, 'k', 'public.pem'), 'utf8')
        const jwk = readFileSync(join(cwd, 'k', 'public.jwk'), 'utf8')
        for (const secret of [pem, jwk, jwk.trim()]) {
          const token = signHmac({ alg: 'HS256', typ: 'JWT' }, payload, secret)
          const [pemKey, jwkKey] = await Promise.all([
            runCli(['token', 'verify', token, '--key', 'k/public.pem', '--json'], { cwd }),
            runCli(['token', 'verify', token, '--key', 'k/public.jwk', '--json'], { cwd }),
          ])
          for (const r of [pemKey, jwkKey]) {
            expect(r.code).toBe(3)
            expect(jsonError(r.stdout).code).toBe('TOKEN_MALFORMED')
          }
        }
      },
    )

    it('a kid with path traversal names no key in a trust store and reads no file', async () => {
      const cwd = tmpDir()
      await runCli(['key', 'gen', '--out', 'k', '-q'], { cwd })
      const trusted = await runCli(['trust', 'add', 'k/public.jwk', '--trust-dir', 'trusted', '-q'], { cwd })
      expect(trusted.code).toBe(0)
      const good = (await runCli(['token', 'mint', '--sub', 'a', '--key', 'k', '-q'], { cwd })).stdout.trim()
      const [h, p, s] = good.split('.')
      const header = JSON.parse(Buffer.from(h!, 'base64url').toString()) as Record<string, unknown>
      for (const kid of ['../../k/public', '../k/private', '/etc/passwd', '..%2f..%2fetc%2fpasswd']) {
        const evil = `${Buffer.from(JSON.stringify({ ...header, kid })).toString('base64url')}.${p}.${s}`
        const r = await runCli(['token', 'verify', evil, '--trust-dir', 'trusted', '--json'], { cwd })
        expect(r.code).toBe(3)
        expect(jsonError(r.stdout).code).toBe('TOKEN_SIGNATURE_INVALID')
      }
      expect((await runCli(['token', 'verify', good, '--trust-dir', 'trusted', '-q'], { cwd })).code).toBe(0)
    })

    it('a payload nesting 5,000 arrays is refused as TOKEN_MALFORMED, forged or correctly signed, not a crash', async () => {
      const cwd = secretDir()
      const nested = '['.repeat(5000) + ']'.repeat(5000)
      const input = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from(`{"sub":"a","deep":${nested}}`).toString('base64url')}`
      writeFileSync(join(cwd, 'forged.jwt'), `${input}.${'A'.repeat(43)}`)
      writeFileSync(
        join(cwd, 'signed.jwt'),
        `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`,
      )
      const results = await Promise.all([
        runCli(['token', 'verify', 'forged.jwt', '--secret-file', 'jwt.secret', '--json'], { cwd }),
        runCli(['token', 'verify', 'signed.jwt', '--secret-file', 'jwt.secret', '--json'], { cwd }),
      ])
      for (const r of results) {
        expect(r.code).toBe(3)
        expect(jsonError(r.stdout).code).toBe('TOKEN_MALFORMED')
        expect(r.stderr).not.toMatch(/RangeError|at .*\.js/)
      }
    })

    it('a 10 MB token file is refused as too large (exit 4) before it is parsed', async () => {
      const cwd = secretDir()
      writeFileSync(join(cwd, 'huge.jwt'), 'A'.repeat(10 * 1024 * 1024))
      const r = await runCli(['token', 'verify', 'huge.jwt', '--secret-file', 'jwt.secret'], { cwd })
      expect(r.code).toBe(4)
      expect(r.stderr).toContain('Code: FILE_TOO_LARGE')
    })
  })

  describe('key sources', () => {
    it('--jwks URL verifies; an unreachable registry is exit 4 NETWORK_ERROR; a JWKS file works too', async () => {
      const cwd = tmpDir()
      await runCli(['key', 'gen', '--alg', 'ES256', '--out', 'k', '-q'], { cwd })
      const jwk = JSON.parse(readFileSync(join(cwd, 'k', 'public.jwk'), 'utf8')) as Record<string, unknown>
      writeFileSync(join(cwd, 'jwks.json'), JSON.stringify({ keys: [jwk] }))
      server = await new JwksServer().start()
      server.setKeys([jwk])
      const token = (await runCli(['token', 'mint', '--sub', 'a', '--key', 'k', '-q'], { cwd })).stdout.trim()
      const [url, file] = await Promise.all([
        runCli(['token', 'verify', token, '--jwks', server.url, '-q'], { cwd }),
        runCli(['token', 'verify', token, '--jwks', 'jwks.json', '-q'], { cwd }),
      ])
      expect(url.code).toBe(0)
      expect(file.code).toBe(0)
      const url2 = server.url
      await server.stop()
      const down = await runCli(['token', 'verify', token, '--jwks', url2, '--json'], { cwd })
      expect(down.code).toBe(4)
      expect(jsonError(down.stdout).code).toBe('NETWORK_ERROR')
    })

    it('--trust-dir: a token with an iss must be signed by a key bound to that issuer', async () => {
      const cwd = tmpDir()
      await runCli(['key', 'gen', '--out', 'k', '-q'], { cwd })
      await runCli(
        [
          'trust',
          'add',
          'k/public.jwk',
          '--trust-dir',
          'trusted',
          '--issuer',
          'https://idp.example.com',
          '-q',
        ],
        {
          cwd,
        },
      )
      const mintAs = async (iss: string) =>
        (
          await runCli(['token', 'mint', '--sub', 'a', '--key', 'k', '--iss', iss, '-q'], { cwd })
        ).stdout.trim()
      const [own, other] = await Promise.all([
        mintAs('https://idp.example.com'),
        mintAs('https://other.example.com'),
      ])
      const [ok, bad, missing] = await Promise.all([
        runCli(['token', 'verify', own, '--trust-dir', 'trusted', '-q'], { cwd }),
        runCli(['token', 'verify', other, '--trust-dir', 'trusted', '--json'], { cwd }),
        runCli(['token', 'verify', own, '--trust-dir', 'nowhere'], { cwd }),
      ])
      expect(ok.code).toBe(0)
      expect(bad.code).toBe(3)
      expect(jsonError(bad.stdout).code).toBe('TOKEN_SIGNATURE_INVALID')
      expect(missing.code).toBe(4)
      expect(missing.stderr).toContain('FILE_NOT_FOUND')
    })

    it('with no key source given, the default trust store is used, as its --help says (and badge verify does)', async () => {
      const cwd = tmpDir()
      await runCli(['key', 'gen', '-q'], { cwd }) // capiscio_keys/
      await runCli(['trust', 'add', 'capiscio_keys/public.jwk', '-q'], { cwd }) // capiscio_keys/trusted
      const token = (
        await runCli(['token', 'mint', '--sub', 'ci-bot', '--key', 'capiscio_keys', '-q'], { cwd })
      ).stdout.trim()
      const [implicit, byVariable, missing] = await Promise.all([
        runCli(['token', 'verify', token, '-q'], { cwd }),
        runCli(['token', 'verify', token, '-q'], {
          cwd,
          env: { CAPISCIO_TRUST_DIR: 'capiscio_keys/trusted', CAPISCIO_KEY_DIR: 'elsewhere' },
        }),
        runCli(['token', 'verify', token], { cwd, env: { CAPISCIO_TRUST_DIR: 'nowhere' } }),
      ])
      expect([implicit.code, implicit.stderr]).toEqual([0, ''])
      expect([byVariable.code, byVariable.stderr]).toEqual([0, ''])
      expect([missing.code, missing.stderr]).toEqual([4, expect.stringContaining('FILE_NOT_FOUND')])
      expect(missing.stderr).toContain('nowhere (CAPISCIO_TRUST_DIR) does not exist')
    })

    it('two key sources, or none, are usage errors; a weak secret is refused before the token is read', async () => {
      const cwd = secretDir()
      const token = mint()
      const [two, none, weak] = await Promise.all([
        runCli(['token', 'verify', token, '--secret-file', 'jwt.secret', '--key', 'x.jwk'], { cwd }),
        runCli(['token', 'verify', token], { cwd }),
        runCli(['token', 'verify', token], { cwd, env: { CAPISCIO_JWT_SECRET: 'tooshort' } }),
      ])
      expect(two.code).toBe(2)
      expect(two.stderr).toContain('choose one key source')
      expect(none.code).toBe(2)
      expect(none.stderr).toContain('CAPISCIO_JWT_SECRET')
      expect(weak.code).toBe(2)
      expect(weak.stderr).toContain('at least 32 bytes')
      expect(weak.stderr).not.toContain('tooshort')
    })
  })
})
