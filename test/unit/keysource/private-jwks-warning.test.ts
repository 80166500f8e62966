import { join } from 'node:path'

import { afterAll, afterEach, describe, expect, it } from '@jest/globals'

import BadgeVerify from '../../../src/commands/badge/verify.js'
import KeyGen from '../../../src/commands/key/gen.js'
import TokenVerify from '../../../src/commands/token/verify.js'
import { startGateway } from '../../../src/lib/gateway/start.js'
import { runCommand } from '../../helpers/run-command.js'
import { echoAgent, startUpstream } from '../../helpers/servers.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'

const open: { close(): Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()))
})
afterAll(cleanupTmp)

/** A fresh key directory's private.jwk path. */
async function privateJwk(): Promise<string> {
  const dir = tmpDir()
  expect((await runCommand(KeyGen, ['--out', dir, '--json'])).exitCode).toBe(0)
  return join(dir, 'private.jwk')
}

/** Any compact JWS will do: the warning comes before the token is looked at (over 100 characters, so not read as a file). */
const TOKEN = `eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.${'A'.repeat(86)}`

describe('the private-key warning for a JWKS file given as a path', () => {
  it('token verify --jwks FILE names that file, not "undefined"', async () => {
    const path = await privateJwk()
    const r = await runCommand(TokenVerify, [TOKEN, '--jwks', path])
    expect(r.stderr).toContain(`${path} holds a private key`)
    expect(r.stderr).not.toContain('undefined holds')
  })

  it('badge verify --jwks FILE names that file, not "undefined"', async () => {
    const path = await privateJwk()
    const r = await runCommand(BadgeVerify, [TOKEN, '--jwks', path])
    expect(r.stderr).toContain(`${path} holds a private key`)
    expect(r.stderr).not.toContain('undefined holds')
  })

  it('startGateway with registryUrl set to a file names that file in its warnings', async () => {
    const path = await privateJwk()
    const up = await startUpstream(echoAgent)
    open.push(up)
    const gw = await startGateway({ port: 0, host: '127.0.0.1', target: up.url, registryUrl: path })
    open.push(gw)
    const warnings = gw.warnings.filter((w) => w.includes('holds a private key'))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]!.startsWith(`${path} holds a private key`)).toBe(true)
  })
})
