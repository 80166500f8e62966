import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

import { describe, expect, it } from '@jest/globals'

import { forCli } from '../../src/cli-errors.js'
import { issueBadge } from '../../src/lib/badge/issue.js'
import { CapiscioError } from '../../src/lib/errors.js'
import { checkKeySourceChoice } from '../../src/lib/gateway/start.js'
import { edKey } from '../helpers/badges.js'
import { ROOT } from '../helpers/paths.js'

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )
}

describe('the library names its options; the CLI shows them as flags (issue 7 item 24)', () => {
  it('no message or hint in src/lib names a CLI flag (comments aside)', () => {
    const offenders: string[] = []
    for (const file of sources(join(ROOT, 'src', 'lib'))) {
      // errors.ts's default hints are docs/errors.md's "what to do" column, written for CLI users.
      if (file.endsWith(join('lib', 'errors.ts'))) continue
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/^\s*(\*|\/\/|\/\*)/.test(line)) return
          if (/['"`][^'"`]*--[a-z]/.test(line)) offenders.push(`${file}:${i + 1}: ${line.trim()}`)
        })
    }
    expect(offenders).toEqual([])
  })

  it('issueBadge says "sub is required" and names the option; the CLI says --sub', async () => {
    const err = (await issueBadge({ privateKey: edKey().privateKey }).catch(
      (e: unknown) => e,
    )) as CapiscioError
    expect(err.message).toMatch(/^sub is required/)
    expect(err.options).toEqual(['sub'])
    expect(forCli(err).message).toMatch(/^--sub is required/)
  })

  it('the gateway key-source choice names localKey, registryUrl and trustDir, shown as their flags', () => {
    let err: CapiscioError | undefined
    try {
      checkKeySourceChoice({})
    } catch (e) {
      err = e as CapiscioError
    }
    expect(err!.message).toBe('must provide either localKey or registryUrl (or trustDir)')
    const shown = forCli(err!)
    expect(shown.message).toBe('must provide either --local-key or --registry-url (or --trust-dir)')
    expect(shown.hint).toContain('--local-key partner/public.jwk')
  })

  it('leaves an option name inside a URL or file name alone (/jwks.json), and still swaps one that ends a sentence', () => {
    const err = new CapiscioError('USAGE', 'the JWKS at http://h/jwks.json needs issuers; or set jwks.', {
      options: ['jwks', 'issuers'],
    })
    expect(forCli(err).message).toBe('the JWKS at http://h/jwks.json needs --issuer; or set --jwks.')
  })

  it('leaves a quoted value alone: what the user typed is shown as typed, even when it holds an option name', () => {
    const err = new CapiscioError('USAGE', 'url "not a url" is not an absolute URL', { options: ['url'] })
    expect(forCli(err).message).toBe('--url "not a url" is not an absolute URL')
    const escaped = new CapiscioError('USAGE', 'ttl "a \\"ttl\\" b" and ttl', { options: ['ttl'] })
    expect(forCli(escaped).message).toBe('--ttl "a \\"ttl\\" b" and --ttl')
  })
})
