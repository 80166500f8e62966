import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, afterEach, describe, expect, it } from '@jest/globals'

import { clientKeyDir, DOC_ISSUE_ARGS, runCli } from '../helpers/cli.js'
import { stopAll, waitForOutput } from '../helpers/processes.js'
import { echoAgent, startUpstream, type Upstream } from '../helpers/servers.js'
import { cleanupTmp } from '../helpers/tmp.js'
import { gatewayStartArgs, startGatewayCli } from '../helpers/gateway-cli.js'

// `capiscio gateway start --verify …` and `--mode auth` as an operator runs them: the built CLI, a
// real agent, flags, CAPISCIO_GATEWAY_* variables and the config file all from the one settings table.
const SECRET = 'an-operator-secret-of-at-least-32-bytes-long'
const ups: Upstream[] = []
afterEach(async () => {
  await stopAll()
  await Promise.all(ups.splice(0).map((u) => u.close()))
})
afterAll(cleanupTmp)

const gateway = startGatewayCli

async function mint(cwd: string, extra: string[] = []): Promise<string> {
  const r = await runCli(
    ['token', 'mint', '--sub', 'billing', '--role', 'admin', '--secret-file', 'jwt.secret', ...extra],
    {
      cwd,
    },
  )
  expect(r.code).toBe(0)
  return r.stdout.trim()
}

describe('capiscio gateway start --verify and --mode (child processes)', () => {
  it('--verify badge,jwt admits a badge and a JWT minted by `token mint`, naming each, and logs which it was', async () => {
    const cwd = await clientKeyDir()
    writeFileSync(join(cwd, 'jwt.secret'), `${SECRET}\n`)
    const agent = await startUpstream(echoAgent)
    ups.push(agent)
    const { gw, url } = await gateway(cwd, [
      '--target',
      agent.url,
      '--local-key',
      'client/public.jwk',
      '--verify',
      'badge,jwt',
      '--jwt-secret-file',
      'jwt.secret',
    ])
    const badge = (await runCli(DOC_ISSUE_ARGS, { cwd })).stdout.trim()
    const seen = async (token: string) => {
      const res = await fetch(`${url}/task`, { headers: { authorization: `Bearer ${token}` } })
      expect(res.status).toBe(200)
      return ((await res.json()) as { headers: Record<string, string> }).headers
    }
    expect(await seen(badge)).toMatchObject({
      'x-capiscio-credential': 'badge',
      'x-capiscio-trust-level': '1',
    })
    expect(await seen(await mint(cwd))).toMatchObject({
      'x-capiscio-credential': 'jwt',
      'x-capiscio-subject': 'billing',
      'x-capiscio-roles': 'admin',
    })
    const wrong = await fetch(`${url}/task`, {
      headers: { authorization: `Bearer ${(await mint(cwd)).slice(0, -3)}AAA` },
    })
    expect([wrong.status, ((await wrong.json()) as { code: string }).code]).toEqual([
      403,
      'TOKEN_SIGNATURE_INVALID',
    ])
    await waitForOutput(gw, /\[200\] GET \/task - valid token from billing/)
    expect(gw.stderr()).toMatch(/\[200\] GET \/task - valid badge from /)
    expect(gw.stderr()).toMatch(/badges: local key client\/public\.jwk; JWTs: secret jwt\.secret/)
    expect(gw.stderr()).not.toContain(SECRET)
  })

  it('--mode auth runs without a target and answers forward-auth checks; the settings come from the environment too', async () => {
    const cwd = await clientKeyDir()
    const { url } = await gateway(cwd, [], {
      CAPISCIO_GATEWAY_MODE: 'auth',
      CAPISCIO_GATEWAY_LOCAL_KEY: 'client/public.jwk',
    })
    const badge = (await runCli(DOC_ISSUE_ARGS, { cwd })).stdout.trim()
    const ok = await fetch(`${url}/auth`, { headers: { authorization: `Bearer ${badge}` } })
    expect([ok.status, ok.headers.get('x-capiscio-credential')]).toEqual([200, 'badge'])
    expect((await fetch(`${url}/auth`)).status).toBe(401)
    expect((await fetch(`${url}/ready`)).status).toBe(200)
  })

  it.each<[string, string[], RegExp]>([
    [
      'a target in auth mode',
      ['--mode', 'auth', '--target', 'http://127.0.0.1:9', '--local-key', 'client/public.jwk'],
      /leave out target|--target/,
    ],
    [
      'an unknown credential kind',
      ['--verify', 'badge,cookie', '--local-key', 'client/public.jwk'],
      /--verify "cookie" is not one of badge, jwt, guard/,
    ],
    ['an empty --verify', ['--verify', '', '--local-key', 'client/public.jwk'], /--verify must not be empty/],
    [
      'badge flags without badges',
      ['--verify', 'jwt', '--jwt-secret-file', 'jwt.secret', '--local-key', 'client/public.jwk'],
      /--local-key is for badges, which --verify does not include/,
    ],
    [
      'JWT flags without JWTs',
      ['--local-key', 'client/public.jwk', '--jwt-secret-file', 'jwt.secret'],
      /--jwt-secret-file is for JWTs/,
    ],
    [
      'a JWT audience without JWTs, named by its flag',
      ['--local-key', 'client/public.jwk', '--aud', 'https://a.example'],
      /--aud is for JWTs, which --verify does not include/,
    ],
    [
      'two JWT keys',
      ['--verify', 'jwt', '--jwt-secret-file', 'jwt.secret', '--jwks', 'client/public.jwk'],
      /choose one JWT key/,
    ],
    [
      'a JWT alg that does not exist',
      ['--verify', 'jwt', '--jwt-secret-file', 'jwt.secret', '--alg', 'HS1024'],
      /alg "HS1024"/,
    ],
    [
      "JWTs with no key at all, named by the gateway's own flags",
      ['--verify', 'jwt'],
      /verifying JWTs needs a key: --jwt-secret-file, --jwks or --jwt-key, or CAPISCIO_JWT_SECRET or APCORE_JWT_SECRET set/,
    ],
    [
      'a card in auth mode',
      ['--mode', 'auth', '--local-key', 'client/public.jwk', '--card', 'x.json'],
      /--card is served by a proxying gateway only; in --mode auth the proxy in front routes \/\.well-known\/agent-card\.json/,
    ],
    [
      'an auth path without a slash',
      ['--local-key', 'client/public.jwk', '--auth-path', 'auth'],
      /--auth-path "auth" must start with \//,
    ],
  ])('refuses %s with exit 2 before listening', async (_name, args, message) => {
    const cwd = await clientKeyDir()
    writeFileSync(join(cwd, 'jwt.secret'), `${SECRET}\n`)
    const r = await runCli(['gateway', 'start', '--port', '0', ...args], {
      cwd,
      env: { CAPISCIO_JWT_SECRET: '', APCORE_JWT_SECRET: '' },
    })
    expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(message)])
    expect(r.stderr).not.toMatch(/listening on/)
  })

  it('--guard-trust-dir gives SimpleGuard its own trust store beside a --local-key for badges', async () => {
    const cwd = await clientKeyDir()
    const ok = await gateway(cwd, [
      '--mode',
      'auth',
      '--local-key',
      'client/public.jwk',
      '--verify',
      'badge,guard',
      '--guard-trust-dir',
      'client/trusted',
    ])
    expect(ok.gw.stderr()).toMatch(/signed requests: trust store client\/trusted/)
    const r = await runCli(gatewayStartArgs('--guard-trust-dir', 'client/trusted'), { cwd })
    expect([r.code, r.stderr]).toEqual([
      2,
      expect.stringMatching(/--guard-trust-dir is for SimpleGuard requests/),
    ])
  })

  it('--verify guard with no trust store is exit 4 naming the directory SimpleGuard reads', async () => {
    const cwd = await clientKeyDir()
    const r = await runCli(['gateway', 'start', '--port', '0', '--verify', 'guard'], { cwd })
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/capiscio_keys\/trusted/)
  })
})
