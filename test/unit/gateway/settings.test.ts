import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { describe, expect, it } from '@jest/globals'

import GatewayStart from '../../../src/commands/gateway/start.js'
import { ROOT } from '../../helpers/paths.js'
import { checkGatewaySettings } from '../../../src/lib/gateway/start.js'
import { GATEWAY_SCHEMA, resolveGatewaySetting, validateConfig } from '../../../src/lib/config.js'
import {
  GATEWAY_SETTINGS,
  gatewayEnvName,
  gatewayFlagName,
  gatewaySettingsFrom,
  type GatewaySettingKey,
} from '../../../src/lib/gateway/settings.js'

const keys = Object.keys(GATEWAY_SETTINGS) as GatewaySettingKey[]
const none = { config: {} }

describe('the gateway settings table (one entry per setting)', () => {
  it('gives every setting a flag, a config key and an environment variable, and nothing else has one', () => {
    const flags = Object.keys(GatewayStart.flags).filter((f) => f !== 'json' && f !== 'quiet')
    expect(flags.sort()).toEqual(keys.map(gatewayFlagName).sort())
    expect(Object.keys(GATEWAY_SCHEMA).sort()).toEqual([...keys].sort())
    expect(gatewayEnvName('maxBody')).toBe('CAPISCIO_GATEWAY_MAX_BODY')
    for (const key of keys) {
      const def = GATEWAY_SETTINGS[key] as { default?: unknown }
      const description = (GatewayStart.flags as Record<string, { description?: string }>)[
        gatewayFlagName(key)
      ]!.description!
      if (def.default !== undefined) expect(description).toContain(`[default: ${String(def.default)}]`)
    }
  })

  it('lists every setting in the docs/deployment.md table, with its variable', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'deployment.md'), 'utf8')
    const table = doc.split('\n').filter((l) => l.startsWith('| `--'))
    for (const key of keys) {
      const flag = `--${gatewayFlagName(key)}`
      const row = table.find((l) => new RegExp(`\`${flag}[ \`,]`).test(l) || l.includes(`, \`${flag}\``))
      expect([flag, row === undefined]).toEqual([flag, false])
      expect(row).toContain(gatewayEnvName(key).replace('CAPISCIO_GATEWAY_', ''))
    }
  })

  it('resolves defaults into GatewaySettings: sizes in bytes, durations in ms, lists split', () => {
    const s = gatewaySettingsFrom((key) => resolveGatewaySetting(key, undefined, none, {}))
    expect(s).toMatchObject({
      mode: 'proxy',
      port: 8080,
      host: '0.0.0.0',
      target: 'http://localhost:3000',
      verify: ['badge'],
      authPath: '/auth',
      maxBodyBytes: 10 * 1024 * 1024,
      upstreamTimeoutMs: 30_000,
      drainTimeoutMs: 30_000,
      requestTimeoutMs: 300_000,
      clockSkewSeconds: 60,
      replayProtection: false,
      claimMapping: { idClaim: 'sub', typeClaim: 'type', rolesClaim: 'roles' },
    })
  })

  it('takes flag > CAPISCIO_GATEWAY_* > config file, for every kind of value', () => {
    const loaded = {
      config: validateConfig(
        { gateway: { verify: ['badge', 'jwt'], maxBody: '1mb', port: 9000, mode: 'auth', workers: 2 } },
        '/p/.capisciorc.json',
      ),
    }
    const env = {
      CAPISCIO_GATEWAY_PORT: '9100',
      CAPISCIO_GATEWAY_VERIFY: 'jwt,guard',
      CAPISCIO_GATEWAY_REDIS: 'redis://r',
    }
    const flags: Partial<Record<GatewaySettingKey, unknown>> = { port: 9200 }
    const s = gatewaySettingsFrom((key) => resolveGatewaySetting(key, flags[key] as never, loaded, env))
    expect(s).toMatchObject({
      port: 9200,
      verify: ['jwt', 'guard'],
      maxBodyBytes: 1024 * 1024,
      mode: 'auth',
      workers: 2,
      redis: 'redis://r',
      replayProtection: true,
    })
    // Forward-auth proxies nothing: the default target does not apply there.
    expect(s.target).toBeUndefined()
  })

  it('refuses bad values with the setting named: unknown kinds, empty lists, bad durations and sizes', () => {
    const bad = (over: Partial<Record<GatewaySettingKey, unknown>>) => () =>
      gatewaySettingsFrom((key) => (over[key] as never) ?? resolveGatewaySetting(key, undefined, none, {}))
    expect(bad({ verify: ['badge', 'cookie'] })).toThrow(/verify "cookie" is not one of badge, jwt, guard/)
    expect(bad({ verify: [''] })).toThrow(/verify must not be empty/)
    expect(bad({ verify: ['badge,,jwt'] })).toThrow(/verify has an empty item \(two commas in a row/)
    expect(bad({ issuers: ['did:web:a.example,'] })).toThrow(/issuers has an empty item/)
    // The same slip in a variable is said the same way, naming the variable (it was dropped unseen).
    for (const value of ['badge,,jwt', 'badge,', ',jwt'])
      expect(() =>
        resolveGatewaySetting('verify', undefined, none, { CAPISCIO_GATEWAY_VERIFY: value }),
      ).toThrow(
        expect.objectContaining({
          code: 'CONFIG_INVALID',
          message: expect.stringMatching(/^environment variable CAPISCIO_GATEWAY_VERIFY has an empty item/),
        }) as unknown as Error,
      )
    expect(
      resolveGatewaySetting('verify', undefined, none, { CAPISCIO_GATEWAY_VERIFY: ' badge , jwt ' }),
    ).toEqual(['badge', 'jwt'])
    expect(bad({ alg: ['none'] })).toThrow(/alg "none"/)
    expect(bad({ maxBody: 'lots' })).toThrow(expect.objectContaining({ code: 'USAGE' }) as unknown as Error)
    expect(bad({ drainTimeout: 'soon' })).toThrow(
      expect.objectContaining({ code: 'USAGE' }) as unknown as Error,
    )
    expect(() => validateConfig({ gateway: { verify: 'badge' } }, '/p/c.json')).toThrow(/list of strings/)
    expect(() => validateConfig({ gateway: { mode: 'sidecar' } }, '/p/c.json')).toThrow(/proxy, auth/)
  })

  it('turns replay protection on with redis unless it is turned off, and refuses it turned off beside redis', async () => {
    const file = (gateway: Record<string, unknown>) => ({
      config: validateConfig({ gateway }, '/p/.capisciorc.json'),
      filepath: '/p/.capisciorc.json',
    })
    const from = (
      flags: Partial<Record<GatewaySettingKey, unknown>>,
      loaded: Parameters<typeof resolveGatewaySetting>[2],
      env: NodeJS.ProcessEnv,
    ) => gatewaySettingsFrom((key) => resolveGatewaySetting(key, flags[key] as never, loaded, env))
    const REDIS = { CAPISCIO_GATEWAY_REDIS: 'redis://r' }
    expect(from({}, none, REDIS)).toMatchObject({ replayProtection: true, redis: 'redis://r' })
    expect(from({ replayProtection: true }, none, REDIS)).toMatchObject({ replayProtection: true })
    // --no-replay-protection beside redis from the variable, or from the file: kept as given, then refused.
    for (const s of [
      from({ replayProtection: false }, none, REDIS),
      from({ replayProtection: false }, file({ redis: 'redis://r' }), {}),
      from({}, file({ redis: 'redis://r' }), { CAPISCIO_GATEWAY_REPLAY_PROTECTION: 'false' }),
    ]) {
      expect(s).toMatchObject({ replayProtection: false, redis: 'redis://r' })
      await expect(checkGatewaySettings({ ...s, localKey: 'k.jwk' })).rejects.toMatchObject({
        code: 'USAGE',
        options: ['replayProtection', 'redis'],
      })
    }
    // Off without redis is just off.
    expect(from({ replayProtection: false }, none, {})).toMatchObject({ replayProtection: false })
    expect(from({ replayProtection: false }, none, {}).redis).toBeUndefined()
  })

  it('gives redisTimeout its default (1 s) only with redis', () => {
    const from = (flags: Partial<Record<GatewaySettingKey, unknown>>, env: NodeJS.ProcessEnv) =>
      gatewaySettingsFrom((key) => resolveGatewaySetting(key, flags[key] as never, none, env))
    expect(from({}, { CAPISCIO_GATEWAY_REDIS: 'redis://r' }).redisTimeoutMs).toBe(1000)
    expect(from({}, {}).redisTimeoutMs).toBeUndefined()
    expect(from({ redisTimeout: '250ms' }, { CAPISCIO_GATEWAY_REDIS: 'redis://r' }).redisTimeoutMs).toBe(250)
    // Given without redis, it is kept, for checkGatewaySettings to refuse.
    expect(from({}, { CAPISCIO_GATEWAY_REDIS_TIMEOUT: '2s' }).redisTimeoutMs).toBe(2000)
  })
})
