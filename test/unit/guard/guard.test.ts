import { execFileSync } from 'node:child_process'
import { createPublicKey } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from '@jest/globals'

import { MemoryReplayStore } from '../../../src/lib/gateway/replay.js'
import { RedisReplayStore } from '../../../src/lib/gateway/replay-redis.js'
import { SimpleGuard, findProjectRoot } from '../../../src/lib/guard/guard.js'
import { bodyHash, EMPTY_BODY_HASH, signGuardToken } from '../../../src/lib/guard/token.js'
import { CapiscioError } from '../../../src/lib/errors.js'
import { signHmac, unsigned } from '../../helpers/badges.js'
import { freePort } from '../../helpers/servers.js'
import { startRedis } from '../../helpers/processes.js'
import { pythonWith } from '../../helpers/python.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'
import { keyPair } from '../../helpers/keypair.js'
import { readSigningKey } from '../../../src/lib/store/keydir.js'
import { thrownBy } from '../../helpers/thrown.js'

afterAll(cleanupTmp)

const T0 = 1_900_000_000_000
const BODY = '{"jsonrpc":"2.0","method":"tasks/send","params":{"text":"hi"},"id":1}'

/** A dev-mode guard in a fresh project: its own key, trusting itself. */
function devGuard(now: () => number = () => T0, extra: ConstructorParameters<typeof SimpleGuard>[0] = {}) {
  return new SimpleGuard({ baseDir: tmpDir(), devMode: true, now, env: {}, ...extra })
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'accepted'
  } catch (err) {
    if (err instanceof CapiscioError) return err.code
    throw err
  }
}

describe('SimpleGuard: sign and verify', () => {
  it('signs the documented wire format and verifies its own token over the same body', async () => {
    const guard = devGuard()
    const token = await guard.signOutbound({ sub: 'task-runner' }, BODY)
    const [h, p] = token
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>)
    const { agentId, kid } = await guard.whoami()
    expect(h).toEqual({ alg: 'EdDSA', typ: 'JWT', kid, iss: agentId })
    expect(agentId).toMatch(/^did:key:z6Mk/)
    expect(p).toMatchObject({
      sub: 'task-runner',
      iss: agentId,
      iat: T0 / 1000,
      exp: T0 / 1000 + 60,
      bh: bodyHash(BODY),
    })
    expect(p.jti).toMatch(/^[0-9a-f-]{36}$/)
    await expect(guard.verifyInbound(token, BODY)).resolves.toMatchObject({
      sub: 'task-runner',
      iss: agentId,
    })
    await expect(guard.verifyInbound(token, Buffer.from(BODY))).resolves.toMatchObject({ sub: 'task-runner' })
  })

  it('the body rule: one changed byte, a body without bh, and bh without a body are GUARD_BODY_MISMATCH', async () => {
    const guard = devGuard()
    const withBody = await guard.signOutbound({}, BODY)
    const without = await guard.signOutbound({})
    const flipped = BODY.replace('hi', 'hj')
    expect(await code(guard.verifyInbound(withBody, flipped))).toBe('GUARD_BODY_MISMATCH')
    expect(await code(guard.verifyInbound(withBody))).toBe('GUARD_BODY_MISMATCH')
    expect(await code(guard.verifyInbound(withBody, ''))).toBe('GUARD_BODY_MISMATCH')
    expect(await code(guard.verifyInbound(without, BODY))).toBe('GUARD_BODY_MISMATCH')
    // No body on either side, or an empty one: no bh is signed, and none is needed.
    expect(await code(guard.verifyInbound(without))).toBe('accepted')
    expect(await code(guard.verifyInbound(await guard.signOutbound({}, ''), ''))).toBe('accepted')
    expect(EMPTY_BODY_HASH).toBe('47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU')
  })

  it('time: 5 s of skew either way, refused beyond it; older than 60 s is expired', async () => {
    let now = T0
    const guard = devGuard(() => now)
    const token = await guard.signOutbound({}, BODY)
    now = T0 + 64_000 // exp + 4 s
    expect(await code(guard.verifyInbound(token, BODY))).toBe('accepted')
    now = T0 + 66_000 // exp + 6 s
    expect(await code(guard.verifyInbound(token, BODY))).toBe('GUARD_EXPIRED')
    now = T0 - 4_000 // issued 4 s ahead of this clock
    expect(await code(guard.verifyInbound(token, BODY))).toBe('accepted')
    now = T0 - 6_000
    expect(await code(guard.verifyInbound(token, BODY))).toBe('GUARD_NOT_YET_VALID')
  })

  it('a replayed token with a replay store is GUARD_REPLAY; a body mismatch does not use up the jti', async () => {
    const guard = devGuard(() => T0, { replayStore: new MemoryReplayStore(() => T0) })
    const token = await guard.signOutbound({}, BODY)
    expect(await code(guard.verifyInbound(token, 'tampered'))).toBe('GUARD_BODY_MISMATCH')
    expect(await code(guard.verifyInbound(token, BODY))).toBe('accepted')
    expect(await code(guard.verifyInbound(token, BODY))).toBe('GUARD_REPLAY')
  })

  it('a replayed token is GUARD_REPLAY with the Redis store too (a real redis-server)', async () => {
    const port = await freePort()
    const redis = startRedis(port)
    const store = new RedisReplayStore(`redis://127.0.0.1:${port}`)
    try {
      await store.waitReady(5000).catch(async () => {
        await new Promise((r) => setTimeout(r, 500))
        await store.waitReady(5000)
      })
      const guard = devGuard(Date.now, { replayStore: store })
      const token = await guard.signOutbound({}, BODY)
      expect(await code(guard.verifyInbound(token, BODY))).toBe('accepted')
      expect(await code(guard.verifyInbound(token, BODY))).toBe('GUARD_REPLAY')
      // A second guard process sharing the store sees the same jti as used.
      const twin = new SimpleGuard({ baseDir: guard.projectRoot, now: Date.now, replayStore: store })
      expect(await code(twin.verifyInbound(token, BODY))).toBe('GUARD_REPLAY')
    } finally {
      await store.close?.()
      await redis.stop()
    }
  })

  it('refuses alg none, HS256 keyed with the public key, an unknown kid, a traversal kid and a forged signature', async () => {
    const guard = devGuard()
    const { kid } = await guard.whoami()
    const good = await guard.signOutbound({}, BODY)
    const [h, p] = good.split('.')
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>
    const pem = readFileSync(join(guard.keysDir, 'public.pem'), 'utf8')
    const withKid = (k: string) =>
      `${Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: k })).toString('base64url')}.${good.split('.').slice(1).join('.')}`
    const cases: [string, string][] = [
      ['GUARD_MALFORMED', unsigned({ alg: 'none', kid }, payload)],
      ['GUARD_MALFORMED', signHmac({ alg: 'HS256', kid }, payload, pem)],
      ['GUARD_MALFORMED', 'not.a.token'],
      ['GUARD_UNTRUSTED_KEY', withKid('someone-else')],
      ['GUARD_UNTRUSTED_KEY', withKid('../../capiscio_keys/public')],
      ['GUARD_UNTRUSTED_KEY', withKid('/etc/passwd')],
      ['GUARD_SIGNATURE_INVALID', `${h}.${p}.${'A'.repeat(86)}`],
    ]
    for (const [expected, token] of cases)
      expect([expected, await code(guard.verifyInbound(token, BODY))]).toEqual([expected, expected])
  })

  it('dev mode is refused in production unless forced; without dev mode a missing key is a clear error', async () => {
    for (const env of [{ NODE_ENV: 'production' }, { CAPISCIO_ENV: 'prod' }]) {
      expect(() => new SimpleGuard({ baseDir: tmpDir(), devMode: true, env })).toThrow(
        /dev mode is refused in production/,
      )
    }
    const forced = new SimpleGuard({
      baseDir: tmpDir(),
      devMode: true,
      forceDevMode: true,
      env: { NODE_ENV: 'production' },
    })
    await expect(forced.signOutbound({})).resolves.toMatch(/\./)
    const bare = new SimpleGuard({ baseDir: tmpDir(), env: {} })
    await expect(bare.signOutbound({})).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' })
  })

  it('finds the project root as the nearest ancestor with agent-card.json, and takes agent_id from it', async () => {
    const root = tmpDir()
    const deep = join(root, 'src', 'agents', 'x')
    mkdirSync(deep, { recursive: true })
    expect(findProjectRoot(deep)).toBe(deep)
    writeFileSync(join(root, 'agent-card.json'), JSON.stringify({ agent_id: 'did:web:agent.example.com' }))
    expect(findProjectRoot(deep)).toBe(root)
    const guard = new SimpleGuard({ baseDir: deep, devMode: true, env: {} })
    expect(guard.keysDir).toBe(join(root, 'capiscio_keys'))
    expect((await guard.whoami()).agentId).toBe('did:web:agent.example.com')
  })

  it("dev mode trusts its new key as the issuer it signs as: the card's agent_id, or agentId", async () => {
    const root = tmpDir()
    const sub = join(root, 'sub')
    mkdirSync(sub)
    writeFileSync(join(root, 'agent-card.json'), JSON.stringify({ agent_id: 'did:web:agent.example.com' }))
    const fromCard = new SimpleGuard({ baseDir: sub, devMode: true, env: {} })
    await expect(fromCard.verifyInbound(await fromCard.signOutbound({}, 'x'), 'x')).resolves.toMatchObject({
      iss: 'did:web:agent.example.com',
    })
    const named = devGuard(Date.now, { agentId: 'https://agent.example.com' })
    await expect(named.verifyInbound(await named.signOutbound({}, 'x'), 'x')).resolves.toMatchObject({
      iss: 'https://agent.example.com',
    })
    // Bound to that issuer only: the key may not speak for another.
    const { kid } = await named.whoami()
    const { privateKey } = await readSigningKey(named.keysDir)
    const other = signGuardToken({ privateKey, kid, iss: 'https://other.example.com' })
    expect(await code(named.verifyInbound(other))).toBe('GUARD_UNTRUSTED_KEY')
  })
})

// The two Python SimpleGuard generations, re-implemented from their published sources with PyJWT
// and cryptography: each script signs and verifies exactly as that generation does.
const PY = `
import json, sys, time, base64, hashlib, jwt
from cryptography.hazmat.primitives import serialization
req = json.load(sys.stdin)
def bh(body):
    return base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).decode().rstrip('=')
def trusted(kid):
    with open(req['trusted'] + '/' + kid + '.pem', 'rb') as f:
        return serialization.load_pem_public_key(f.read())
out = {}
# The older, pure-Python generation: kid from the header, PyJWT verifies exp; iss in the payload.
def old_verify(token, body):
    kid = jwt.get_unverified_header(token)['kid']
    payload = jwt.decode(token, trusted(kid), algorithms=['EdDSA'], options={'verify_aud': False})
    if 'bh' in payload and payload['bh'] != bh(body):
        raise Exception('Integrity Check Failed: Body modified')
    now = int(time.time())
    if now > payload['exp'] + 5 or now < payload['iat'] - 5:
        raise Exception('timestamps')
    return payload
# The Go-backed generation: kid from the header, exp <= now is expired, bh checked when present.
def new_verify(token, body):
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, trusted(header['kid']), algorithms=['EdDSA'], options={'verify_exp': False, 'verify_iat': False, 'verify_aud': False})
    if payload['exp'] <= int(time.time()):
        raise Exception('token expired')
    if 'bh' in payload:
        if not body:
            raise Exception('body hash present but no body provided')
        if payload['bh'] != bh(body):
            raise Exception('body hash mismatch')
    return {'header_iss': header.get('iss'), 'payload': payload}
for gen, fn in (('old', old_verify), ('new', new_verify)):
    try:
        out[gen] = {'ok': True, 'result': fn(req['token'], req['body'])}
    except Exception as e:
        out[gen] = {'ok': False, 'error': str(e)}
    try:
        fn(req['token'], req['body'] + ' ')
        out[gen + '_tampered'] = 'accepted'
    except Exception as e:
        out[gen + '_tampered'] = 'refused'
with open(req['private'], 'rb') as f:
    key = serialization.load_pem_private_key(f.read(), password=None)
now = int(time.time())
old_payload = {'sub': 'py-old', 'iss': 'did:web:python-old.example.com', 'iat': now, 'exp': now + 60, 'bh': bh(req['body'])}
out['old_token'] = jwt.encode(old_payload, key, algorithm='EdDSA', headers={'kid': req['py_kid'], 'typ': 'JWT'})
new_payload = {'iat': now, 'exp': now + 60, 'bh': bh(req['body'])}
out['new_token'] = jwt.encode(new_payload, key, algorithm='EdDSA', headers={'kid': req['py_kid'], 'typ': 'JWT', 'iss': 'did:web:python-new.example.com'})
print(json.dumps(out))
`

describe('SimpleGuard interop with both Python SDK generations (PyJWT + cryptography)', () => {
  it('our token verifies under each generation (and a changed body is refused there); theirs verify under verifyInbound', async () => {
    const guard = new SimpleGuard({ baseDir: tmpDir(), devMode: true, env: {} })
    const { kid } = await guard.whoami()
    const token = await guard.signOutbound({ sub: 'node-agent' }, BODY)
    // The Python side trusts our key as trusted/<kid>.pem, and has its own key we trust.
    const pyDir = tmpDir()
    mkdirSync(join(pyDir, 'trusted'))
    writeFileSync(join(pyDir, 'trusted', `${kid}.pem`), readFileSync(join(guard.keysDir, 'public.pem')))
    const py = keyPair('ed25519')
    writeFileSync(join(pyDir, 'private.pem'), py.privateKey.export({ type: 'pkcs8', format: 'pem' }))
    writeFileSync(
      join(guard.trustDir, 'python-agent.pem'),
      createPublicKey(py.privateKey).export({ type: 'spki', format: 'pem' }),
    )

    const out = JSON.parse(
      execFileSync(pythonWith('jwt', 'cryptography'), ['-c', PY], {
        encoding: 'utf8',
        input: JSON.stringify({
          token,
          body: BODY,
          trusted: join(pyDir, 'trusted'),
          private: join(pyDir, 'private.pem'),
          py_kid: 'python-agent',
        }),
      }),
    ) as Record<string, unknown> & {
      old: { ok: boolean; error?: string }
      new: { ok: boolean; error?: string; result: { header_iss: string } }
    }
    expect(out.old).toMatchObject({ ok: true, result: { sub: 'node-agent' } })
    expect(out.new).toMatchObject({ ok: true, result: { header_iss: (await guard.whoami()).agentId } })
    expect([out.old_tampered, out.new_tampered]).toEqual(['refused', 'refused'])

    // Real clock: the Python tokens were signed just now.
    const live = new SimpleGuard({ baseDir: guard.projectRoot, env: {} })
    await expect(live.verifyInbound(out.old_token as string, BODY)).resolves.toMatchObject({
      sub: 'py-old',
      iss: 'did:web:python-old.example.com',
    })
    await expect(live.verifyInbound(out.new_token as string, BODY)).resolves.toMatchObject({
      iss: 'did:web:python-new.example.com',
      bh: bodyHash(BODY),
    })
    expect(await code(live.verifyInbound(out.new_token as string, BODY + ' '))).toBe('GUARD_BODY_MISMATCH')
  })
})

describe('signGuardToken refuses what no verifier takes', () => {
  it('a token over 16 KiB (claims too big) is a usage error, not a token every verifier refuses', () => {
    const { privateKey } = keyPair('ed25519')
    const sign = (size: number) => () =>
      signGuardToken({
        privateKey,
        kid: 'k',
        iss: 'did:web:a.example.com',
        claims: { big: 'B'.repeat(size) },
      })
    expect(sign(20_000)).toThrow(
      expect.objectContaining({
        code: 'USAGE',
        message: expect.stringMatching(/at most 16384/),
      }) as unknown as Error,
    )
    expect(sign(11_000)().length).toBeLessThanOrEqual(16_384)
  })

  it("a key that is not an Ed25519 private key is the key file's fault (exit 4), not a usage error", () => {
    const sign = (privateKey: ReturnType<typeof keyPair>['privateKey']) => () =>
      signGuardToken({ privateKey, kid: 'k', iss: 'did:web:a.example.com' })
    expect(thrownBy(sign(keyPair('ec', { namedCurve: 'P-256' }).privateKey))).toMatchObject({
      code: 'KEY_UNSUPPORTED',
      exitCode: 4,
    })
    expect(thrownBy(sign(keyPair('ed25519').publicKey as never))).toMatchObject({
      code: 'KEY_INVALID',
      exitCode: 4,
    })
  })
})
