import { spawn, spawnSync } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from '@jest/globals'

import { ERROR_CODES } from '../../src/lib/errors.js'
import { runCli } from '../helpers/cli.js'
import { BIN } from '../helpers/paths.js'
import { cleanupTmp, tmpDir } from '../helpers/tmp.js'

afterAll(cleanupTmp)

/** Runs the CLI with stdout on a given file descriptor or a pipe whose reader is already gone. */
function runWithBrokenStdout(
  args: string[],
  cwd: string,
  stdout: 'full' | 'epipe',
): Promise<{ code: number | null; stderr: string }> {
  const fd = stdout === 'full' ? openSync('/dev/full', 'w') : 'pipe'
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', fd, 'pipe'],
  })
  if (typeof fd === 'number') closeSync(fd)
  // The reader goes away before the CLI has even started, so its first write meets EPIPE.
  else child.stdout!.destroy()
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })))
}

/** Runs the CLI with stderr a pipe whose reader is gone before the CLI starts (`2>&1 | head -1`). */
function runWithBrokenStderr(args: string[], cwd: string): Promise<number | null> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  child.stderr!.destroy()
  return new Promise((resolve) => child.on('close', (code) => resolve(code)))
}

describe('the CLI as a user meets it (issue 7, items 18, 19, 21)', () => {
  it('a closed stderr leaves the exit code to the job: 0 for keys written, 3 for a refused badge, not 1', async () => {
    const cwd = tmpDir()
    expect(await runWithBrokenStderr(['key', 'gen', '--out', 'k'], cwd)).toBe(0)
    expect((await runCli(['key', 'show', 'k', '--json'], { cwd })).code).toBe(0)
    expect(await runWithBrokenStderr(['badge', 'verify', 'garbage', '--key', 'k/public.jwk'], cwd)).toBe(3)
  })

  it('--help lists exactly the topics that have commands', async () => {
    const r = await runCli(['--help'])
    expect(r.code).toBe(0)
    const topics = [...r.stdout.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1])
    expect(topics).toEqual(['badge', 'card', 'gateway', 'guard', 'key', 'token', 'trust'])
  })

  it("names a missing argument and says what it is; oclif's note on multi-value flags only when one was given", async () => {
    const r = await runCli(['badge', 'verify'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(
      /^Error: the TOKEN argument is missing: the badge, a file holding it, or '-' for standard input\n/,
    )
    expect(r.stderr).toContain('Code: USAGE')
    expect(r.stderr).toMatch(/Hint: .+/)
    // oclif's note on multi-value flags only when one was given (and may have taken the argument).
    expect(r.stderr).not.toContain('Note:')
    const swallowed = await runCli(['badge', 'verify', '--issuer', 'did:web:a.example.com'])
    expect(swallowed.stderr).toContain('standard input. Note: --issuer allows multiple values')
    // Several such flags: one named "allow multiple values" together.
    expect((await runCli(['token', 'verify'])).stderr).not.toContain('Note:')
    expect((await runCli(['token', 'verify', '--aud', 'x'])).stderr).toMatch(
      /Note: --alg, --aud, .* allow multiple/,
    )
  })

  it('an unknown command is a coded usage error with a did-you-mean, also under --json', async () => {
    const r = await runCli(['badge', 'verfy', 'x'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^Error: .*badge verfy.*\nCode: USAGE\nHint: .*capiscio badge verify/)
    const json = await runCli(['kye', 'gen', '--json'])
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stdout)).toEqual({
      error: {
        code: 'USAGE',
        message: expect.stringContaining('kye'),
        hint: expect.stringContaining('key gen'),
      },
    })
  })

  it('a mistyped flag gets a did-you-mean; a stray word after a command without arguments is named', async () => {
    const flag = await runCli(['badge', 'verify', 'x', '--jwk', 'https://r.example.com/jwks.json'])
    expect(flag.code).toBe(2)
    expect(flag.stderr).toMatch(/^Error: Nonexistent flag: --jwk\nCode: USAGE\nHint: did you mean --jwks\?/)
    // Another command's name for the same thing: gateway start says --local-key, badge verify --key.
    const other = await runCli(['badge', 'verify', 'x', '--local-key', 'partner/public.jwk'])
    expect(other.code).toBe(2)
    expect(other.stderr).toMatch(
      /^Error: Nonexistent flag: --local-key\nCode: USAGE\nHint: this command calls it --key;/,
    )
    const back = await runCli([
      'gateway',
      'start',
      '--key',
      'partner/public.jwk',
      '--target',
      'http://127.0.0.1:1',
    ])
    expect(back.stderr).toMatch(/Hint: this command calls it --local-key;/)
    const stray = await runCli(['trust', 'list', 'extra'], { cwd: tmpDir() })
    expect(stray.code).toBe(2)
    expect(stray.stderr).toMatch(
      /^Error: unexpected argument "extra": capiscio trust list takes none\nCode: USAGE\n/,
    )
  })

  it('`help`, `help <command>` and -h show help; a bare --json is a coded usage error', async () => {
    const help = await runCli(['help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('TOPICS')
    const verifyHelp = await runCli(['help', 'badge', 'verify'])
    expect(verifyHelp.code).toBe(0)
    expect(verifyHelp.stdout).toContain('$ capiscio badge verify TOKEN')
    const h = await runCli(['key', 'gen', '-h'])
    expect(h.code).toBe(0)
    expect(h.stdout).toContain('$ capiscio key gen')
    const json = await runCli(['--json'])
    expect(json.code).toBe(2)
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'USAGE', hint: expect.any(String) })
    const topic = await runCli(['badge', '--json'])
    expect(topic.code).toBe(2)
    expect(JSON.parse(topic.stdout).error).toMatchObject({
      code: 'USAGE',
      hint: expect.stringContaining('capiscio badge verify'),
    })
    expect((await runCli(['badge'])).stdout).toContain('badge verify')
  })

  it('prints the registry hint for a code when the error has no specific one (text and --json)', async () => {
    const cwd = tmpDir()
    const r = await runCli(['key', 'show', 'nothere.jwk'], { cwd })
    expect(r.code).toBe(4)
    expect(r.stderr).toBe(
      `Error: nothere.jwk does not exist\nCode: FILE_NOT_FOUND\nHint: ${ERROR_CODES.FILE_NOT_FOUND.hint}\n`,
    )
    const json = await runCli(['key', 'show', 'nothere.jwk', '--json'], { cwd })
    expect(JSON.parse(json.stdout).error.hint).toBe(ERROR_CODES.FILE_NOT_FOUND.hint)
  })

  it('a broken JSON config names the file, line and column', async () => {
    const cwd = tmpDir()
    writeFileSync(join(cwd, 'package.json'), '{"name":"demo"}')
    writeFileSync(join(cwd, '.capisciorc.json'), '{\n  "keyDir": "k",\n  "alg": EdDSA\n}\n')
    const r = await runCli(['key', 'gen', '--json'], { cwd })
    expect(r.code).toBe(4)
    const { error } = JSON.parse(r.stdout)
    expect(error.code).toBe('CONFIG_INVALID')
    expect(error.message).toContain('.capisciorc.json')
    expect(error.message).toMatch(/line 3, column 10/)
  })

  it.each(['full', 'epipe'] as const)(
    'a failed stdout write (%s) is WRITE_FAILED, exit 4, without a stack',
    async (kind) => {
      const cwd = tmpDir()
      expect((await runCli(['key', 'gen', '--out', 'k', '-q'], { cwd })).code).toBe(0)
      const r = await runWithBrokenStdout(['key', 'show', 'k'], cwd, kind)
      expect(r.code).toBe(4)
      expect(r.stderr).toMatch(/^Error: .*standard output.*\nCode: WRITE_FAILED\n/)
      expect(r.stderr.length).toBeLessThan(500)
      expect(r.stderr).not.toMatch(/\bat .+:\d+/)
    },
  )

  it.each([
    [['badge', 'issue', '--self-sign', '--key='], '--key must not be empty'],
    [['trust', 'list', '--trust-dir', ''], '--trust-dir must not be empty'],
    [['token', 'mint', '--sub', '', '--secret-file', 'jwt.secret'], '--sub must not be empty'],
    [
      ['token', 'mint', '--sub', 'svc', '--secret-file', 'jwt.secret', '--claim', ''],
      '--claim must not be empty',
    ],
    [['badge', 'verify', ''], 'the TOKEN argument must not be empty'],
  ])('an empty value (an unset shell variable) is a usage error naming it: %j', async (args, message) => {
    const cwd = tmpDir()
    const r = await runCli(args, { cwd })
    expect([r.code, r.stderr]).toEqual([2, `Error: ${message}\nCode: USAGE\n${r.stderr.split('\n')[2]}\n`])
    const json = await runCli([...args, '--json'], { cwd })
    expect([json.code, JSON.parse(json.stdout).error]).toEqual([
      2,
      expect.objectContaining({ code: 'USAGE', message }),
    ])
  })

  it.each([
    [['token', 'mint', '--secret-file', 'jwt.secret'], '--sub is required'],
    [['badge', 'issue', '--self-sign', '--level', 'x'], '--level must be an integer, not "x"'],
    [['gateway', 'start', '--port', 'abc'], '--port must be an integer, not "abc"'],
    [['gateway', 'start', '--port='], '--port must not be empty'],
    [
      ['token', 'mint', '--sub', 'svc', '--secret-file', 'jwt.secret', '--role', 'admin,,x'],
      '--role has an empty item (two commas in a row, or one at either end)',
    ],
    [['trust', 'remove'], 'the KID argument is missing: the key id, as `trust list` shows it'],
  ])("oclif's parse errors are said as the rest of the CLI says them: %j", async (args, message) => {
    const cwd = tmpDir()
    writeFileSync(join(cwd, 'jwt.secret'), 'a-test-secret-that-is-long-enough-for-hs256!\n')
    const r = await runCli(args, { cwd })
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([2, `Error: ${message}`])
  })

  it.each([
    [
      ['badge', 'issue', '--self-sign', '--nbf', '+1h', '--ttl', '5m'],
      '--nbf must be before the expiry, which --ttl sets',
    ],
    [['badge', 'issue', '--self-sign', '--ttl', '99999999999'], '--ttl must be a whole number of seconds'],
    [
      ['token', 'mint', '--sub', 'svc', '--secret-file', 'jwt.secret', '--claim', 'exp=1'],
      'the claim "exp" is set by --ttl',
    ],
    [
      ['token', 'mint', '--sub', 'svc', '--secret-file', 'jwt.secret', '--claim', 'nbf=1'],
      'the claim "nbf" is not set: a minted token is valid from the time it is minted',
    ],
  ])('a refused value is named by its flag, not the library option: %j', async (args, message) => {
    const cwd = tmpDir()
    expect((await runCli(['key', 'gen', '-q'], { cwd })).code).toBe(0)
    writeFileSync(join(cwd, 'jwt.secret'), 'a-test-secret-that-is-long-enough-for-hs256!\n')
    const r = await runCli(args, { cwd })
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([2, expect.stringContaining(`Error: ${message}`)])
  })

  it('token mint warns when the gateway would refuse the identity it carries (it travels in headers)', async () => {
    const cwd = tmpDir()
    writeFileSync(join(cwd, 'jwt.secret'), 'a-test-secret-that-is-long-enough-for-hs256!\n')
    const mint = (sub: string) =>
      runCli(['token', 'mint', '--sub', sub, '--secret-file', 'jwt.secret', '--json'], { cwd })
    for (const sub of [' lead', 'ü', 'a\tb']) {
      const r = await mint(sub)
      expect([r.code, JSON.parse(r.stdout).warnings]).toEqual([
        0,
        [
          'capiscio gateway start --verify jwt will refuse this token: the subject must be 1 to 1024 printable ASCII characters',
        ],
      ])
    }
    expect(JSON.parse((await mint('svc')).stdout).warnings).toBeUndefined()
  })

  it('--version --json prints the version as JSON; --version alone keeps its one line', async () => {
    const { version } = JSON.parse(readFileSync(join(BIN, '..', '..', 'package.json'), 'utf8')) as {
      version: string
    }
    const json = await runCli(['--version', '--json'])
    expect([json.code, JSON.parse(json.stdout)]).toEqual([
      0,
      {
        name: 'capiscio-toolkit',
        version,
        node: process.version,
        platform: process.platform,
        arch: process.arch,
      },
    ])
    const text = await runCli(['--version'])
    expect([text.code, text.stdout]).toEqual([
      0,
      expect.stringMatching(new RegExp(`^capiscio-toolkit/${version} `)),
    ])
  })

  it('reads standard input only for an explicit -, never for a left-out argument', async () => {
    const cwd = tmpDir()
    expect((await runCli(['key', 'gen', '-q'], { cwd })).code).toBe(0)
    // key show's argument defaults to the key directory: piped text is not its path.
    const shown = await runCli(['key', 'show', '--json'], { cwd, input: 'garbage\n' })
    expect([shown.code, JSON.parse(shown.stdout).kid]).toEqual([0, expect.stringMatching(/^did:key:/)])
    // A required argument left out is a usage error, whatever is piped in (in a `while read`
    // loop, the loop's own input).
    const badge = (await runCli(['badge', 'issue', '--self-sign', '-q'], { cwd })).stdout.trim()
    for (const args of [
      ['badge', 'verify'],
      ['badge', 'inspect'],
      ['token', 'verify'],
      ['card', 'sign'],
    ]) {
      const r = await runCli(args, { cwd, input: badge + '\n' })
      expect([args.join(' '), r.code, r.stderr]).toEqual([
        args.join(' '),
        2,
        expect.stringContaining('Code: USAGE'),
      ])
    }
    // With - it reads the pipe, as documented.
    const verified = await runCli(['badge', 'verify', '-', '--accept-self-signed', '--json'], {
      cwd,
      input: badge,
    })
    expect([verified.code, JSON.parse(verified.stdout).valid]).toEqual([0, true])
  })

  it('help read through a pipe that closes early (| head, a pager quit) exits 0 without a message', async () => {
    const cwd = tmpDir()
    for (const args of [
      [],
      ['--help'],
      ['gateway', 'start', '--help'],
      ['help', 'badge', 'issue'],
      ['badge'],
    ]) {
      const r = await runWithBrokenStdout(args, cwd, 'epipe')
      expect([args.join(' '), r.code, r.stderr]).toEqual([args.join(' '), 0, ''])
    }
    // A command's output is not help, whatever its flags are called: card build has a --version.
    writeFileSync(join(cwd, 'capiscio.config.json'), '{"card":{"url":"https://a.example.com/a2a"}}')
    const card = await runWithBrokenStdout(
      ['card', 'build', '--name', 'x', '--description', 'd', '--version', '1.0.0', '--out', '-'],
      cwd,
      'epipe',
    )
    expect([card.code, card.stderr]).toEqual([4, expect.stringContaining('Code: WRITE_FAILED')])
    // A full disk is still a failure, help or not: nothing was read.
    const full = await runWithBrokenStdout(['--help'], cwd, 'full')
    expect([full.code, full.stderr]).toEqual([4, expect.stringContaining('Code: WRITE_FAILED')])
  })

  it.each(['full', 'epipe'] as const)(
    'badge issue, token mint and guard sign do not say they made a token that never reached stdout (%s)',
    async (kind) => {
      const cwd = tmpDir()
      expect((await runCli(['key', 'gen', '--out', 'k', '-q'], { cwd })).code).toBe(0)
      writeFileSync(join(cwd, 'jwt.secret'), 'a-test-secret-that-is-long-enough-for-hs256!\n')
      for (const args of [
        ['badge', 'issue', '--self-sign', '--key', 'k'],
        ['token', 'mint', '--secret-file', 'jwt.secret', '--sub', 'svc'],
        ['guard', 'sign', '--key', 'k'],
      ]) {
        const r = await runWithBrokenStdout(args, cwd, kind)
        expect([args[0], r.code]).toEqual([args[0], 4])
        expect(r.stderr).toMatch(/^Error: .*standard output.*\nCode: WRITE_FAILED\n/)
        // Said once: the failed write reports through its callback and its 'error' event alike.
        expect([args[0], r.stderr.match(/^Error:/gm)?.length]).toEqual([args[0], 1])
        expect(r.stderr).not.toMatch(/issued|minted|signed/)
      }
    },
  )

  it('a write that fails part-way (a file size limit, as a full disk) leaves no temporary behind', async () => {
    const cwd = tmpDir()
    expect((await runCli(['key', 'gen', '--out', 'k', '-q'], { cwd })).code).toBe(0)
    // ulimit -f 1: writes past 1 KiB fail with EFBIG (Node ignores SIGXFSZ), after the temporary was made.
    const limited = (args: string) =>
      spawnSync('bash', ['-c', `ulimit -f 1; exec "${process.execPath}" "${BIN}" ${args}`], {
        cwd,
        env: { ...process.env, NODE_ENV: 'production' },
        encoding: 'utf8',
      })
    writeFileSync(join(cwd, 'base.json'), JSON.stringify({ name: 'a', description: 'x'.repeat(4000) }))
    for (const [args, dir] of [
      ['key gen --alg RS256 --out big', 'big'],
      ['card sign base.json --key k --out out/card.json', 'out'],
    ] as const) {
      mkdirSync(join(cwd, dir), { recursive: true })
      const r = limited(args)
      expect([args, r.status, r.stderr]).toEqual([args, 4, expect.stringMatching(/Code: WRITE_FAILED/)])
      expect([args, readdirSync(join(cwd, dir)).filter((f) => f.endsWith('.tmp'))]).toEqual([args, []])
    }
  })

  it('Ctrl-C at a passphrase prompt exits 130 quietly (a real pseudo-terminal through script(1))', async () => {
    const cwd = tmpDir()
    mkdirSync(join(cwd, 'k'))
    const cmd = `${process.execPath} ${BIN} key gen --encrypt --out ${join(cwd, 'k')}`
    const child = spawn('script', ['-qec', cmd, '/dev/null'], {
      cwd,
      env: { ...process.env, NODE_ENV: 'production', TERM: 'dumb' },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    const exit = new Promise<number | null>((resolve) => child.on('close', resolve))
    for (let i = 0; i < 200 && !out.includes('Passphrase'); i++) await new Promise((r) => setTimeout(r, 50))
    expect(out).toContain('Passphrase for the new private key')
    child.stdin.write('\x03')
    expect(await exit).toBe(130)
    expect(out).not.toMatch(/unexpected error|please report|INTERNAL_ERROR/)
  })
})
