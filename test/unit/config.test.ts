import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from '@jest/globals'

import { jsonErrorAt, loadConfig, resolveSetting, validateConfig } from '../../src/lib/config.js'
import { CapiscioError } from '../../src/lib/errors.js'
import { cleanupTmp, tmpDir } from '../helpers/tmp.js'

afterAll(cleanupTmp)

/** A project folder (package.json marks its root) with a nested working directory. */
function project(files: Record<string, string>): { root: string; sub: string } {
  const root = tmpDir()
  writeFileSync(join(root, 'package.json'), '{"name":"p"}')
  for (const [name, text] of Object.entries(files)) writeFileSync(join(root, name), text)
  const sub = join(root, 'src', 'deep')
  mkdirSync(sub, { recursive: true })
  return { root, sub }
}

describe('loadConfig', () => {
  it('finds capiscio.config.json from a subdirectory and resolves paths against the file', async () => {
    const { root, sub } = project({ 'capiscio.config.json': '{"keyDir":"keys","alg":"ES256"}' })
    const loaded = await loadConfig(sub)
    expect(loaded.filepath).toBe(join(root, 'capiscio.config.json'))
    expect(loaded.config).toEqual({ keyDir: join(root, 'keys'), alg: 'ES256' })
  })

  it.each([
    ['.capisciorc (YAML)', '.capisciorc', 'trustDir: /etc/capiscio/trusted\n'],
    ['.capisciorc.json', '.capisciorc.json', '{"trustDir":"/etc/capiscio/trusted"}'],
    ['capiscio.config.yaml', 'capiscio.config.yaml', 'trustDir: /etc/capiscio/trusted\n'],
    ['package.json#capiscio', 'package.json', '{"name":"p","capiscio":{"trustDir":"/etc/capiscio/trusted"}}'],
  ])('reads %s', async (_name, file, text) => {
    const { sub } = project({ [file]: text })
    expect((await loadConfig(sub)).config).toEqual({ trustDir: '/etc/capiscio/trusted' })
  })

  it.each([
    [
      'package.json#capiscio',
      'capiscio.config.json',
      'the capiscio key in package.json and capiscio.config.json',
    ],
    ['.capisciorc', 'capiscio.config.json', '.capisciorc and capiscio.config.json'],
  ])(
    'refuses two config files in one directory (%s beside %s), even when the second would not parse',
    async (first, second, named) => {
      const files: Record<string, string> =
        first === 'package.json#capiscio'
          ? { 'package.json': '{"name":"p","capiscio":{"alg":"ES256"}}' }
          : { [first]: 'alg: ES256\n' }
      const { root, sub } = project({ ...files, [second]: '{"gateway":{"prot":1}' })
      await expect(loadConfig(sub)).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
        message: `${root} has two config files: ${named}`,
      })
    },
  )

  it('does not count a directory named like a config file as a second one', async () => {
    const { root, sub } = project({ '.capisciorc.json': '{"alg":"ES256"}' })
    mkdirSync(join(root, 'capiscio.config.yml'))
    expect((await loadConfig(sub)).config).toEqual({ alg: 'ES256' })
  })

  it('reads a config file beside a package.json without a capiscio key', async () => {
    const { sub } = project({ 'package.json': '{"name":"p"}', '.capisciorc.json': '{"alg":"ES256"}' })
    expect((await loadConfig(sub)).config).toEqual({ alg: 'ES256' })
  })

  it('returns an empty config when there is no file', async () => {
    const { sub } = project({})
    expect(await loadConfig(sub)).toEqual({ config: {} })
  })

  it.each([
    ['a syntax error', 'capiscio.config.json', '{"keyDir": ', /capiscio\.config\.json/],
    ['an unknown key', 'capiscio.config.json', '{"keyDirectory":"x"}', /unknown key "keyDirectory"/],
    ['a wrong type', 'capiscio.config.json', '{"keyDir": 5}', /"keyDir" must be a non-empty string/],
    ['a bad enum value', '.capisciorc', 'alg: HS256\n', /"alg" must be one of EdDSA, ES256, RS256/],
    ['a non-object', 'capiscio.config.json', '[1]', /must be an object/],
  ])('fails with CONFIG_INVALID naming the file for %s', async (_name, file, text, message) => {
    const { root, sub } = project({ [file]: text })
    const err = await loadConfig(sub).then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    )
    expect(err?.code).toBe('CONFIG_INVALID')
    expect(err?.message).toMatch(message)
    expect(err?.message).toContain(root)
  })
})

describe('gateway durations and sizes in a config file', () => {
  it('take a bare number as the flags do (seconds, bytes); other settings still want a string', () => {
    expect(
      validateConfig({ gateway: { maxBody: 1024, drainTimeout: 5, clockSkew: 0 } }, 'c.json').gateway,
    ).toEqual({
      maxBody: '1024',
      drainTimeout: '5',
      clockSkew: '0',
    })
    expect(() => validateConfig({ gateway: { target: 5 } }, 'c.json')).toThrow(
      /"gateway.target" must be a non-empty string/,
    )
  })
})

describe('resolveSetting: flags > env > file > defaults', () => {
  const loaded = { config: { keyDir: '/from/file' }, filepath: '/p/capiscio.config.json' }
  it('takes the flag first', () => {
    expect(resolveSetting('keyDir', '/flag', loaded, { CAPISCIO_KEY_DIR: '/env' })).toBe('/flag')
  })
  it('then the environment', () => {
    expect(resolveSetting('keyDir', undefined, loaded, { CAPISCIO_KEY_DIR: '/env' })).toBe('/env')
  })
  it('then the file', () => {
    expect(resolveSetting('keyDir', undefined, loaded, {})).toBe('/from/file')
  })
  it('then the default', () => {
    expect(resolveSetting('keyDir', undefined, { config: {} }, {})).toBe('capiscio_keys')
    expect(resolveSetting('trustDir', undefined, { config: {} }, {})).toBeUndefined()
  })
  it('validates environment values like file values', () => {
    expect(() => resolveSetting('alg', undefined, { config: {} }, { CAPISCIO_KEY_ALG: 'none' })).toThrow(
      /CAPISCIO_KEY_ALG/,
    )
  })
})

describe('a broken JSON config (issue 7 item 18)', () => {
  it.each([
    ['{\n  "keyDir": "k",\n  "alg": EdDSA\n}\n', 3, 10],
    ['{"name":"demo",\n', 2, 1],
    ['{"a": [1, 2,]}', 1, 13],
    ['{"a": "x\ty"}', 1, 9],
  ])('names the line and column: %j', async (text, line, column) => {
    expect(jsonErrorAt(text)).toEqual({ line, column })
    expect(() => JSON.parse(text)).toThrow()
  })

  it('finds nothing wrong in valid JSON', () => {
    for (const text of ['{}', ' [1, -2.5e3, "a\\u00e9", true, false, null, {"b": {}}] ', '"x"'])
      expect(jsonErrorAt(text)).toBeUndefined()
  })

  it('a broken package.json is CONFIG_INVALID naming file, line and column (not an internal error)', async () => {
    const cwd = tmpDir()
    writeFileSync(join(cwd, 'package.json'), '{"name":"demo",\n')
    const err = (await loadConfig(cwd).catch((e: unknown) => e)) as CapiscioError
    expect(err).toBeInstanceOf(CapiscioError)
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.message).toBe(`${join(cwd, 'package.json')}: invalid JSON at line 2, column 1`)
  })
})
