import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { describe, expect, it } from '@jest/globals'

import { BadgeAuthenticator } from '../../../src/lib/auth/badge.js'
import { bearerToken, badgeToken } from '../../../src/lib/auth/headers.js'
import { identityFromClaims } from '../../../src/lib/auth/identity.js'
import { JWTAuthenticator } from '../../../src/lib/auth/jwt.js'
import { issueBadge } from '../../../src/lib/badge/issue.js'
import type { CapiscioError } from '../../../src/lib/errors.js'
import { StaticKeySource } from '../../../src/lib/keysource/static.js'
import { mintToken } from '../../../src/lib/token/mint.js'
import { clock, edKey } from '../../helpers/badges.js'
import { tmpDir } from '../../helpers/tmp.js'
import { keyPair } from '../../helpers/keypair.js'

const SECRET = 'authenticator-test-secret-32-bytes-or-more'
const bearer = (t: string) => ({ authorization: `Bearer ${t}` })

describe('JWTAuthenticator: the key is resolved once, at construction', () => {
  it('fails at construction on an unreadable key file, never falling back to a secret', () => {
    const dir = tmpDir()
    const env = { CAPISCIO_JWT_SECRET: SECRET }
    expect(() => new JWTAuthenticator({ keyFile: join(dir, 'missing.pem'), env })).toThrow(
      expect.objectContaining({ code: 'FILE_NOT_FOUND' }),
    )
    mkdirSync(join(dir, 'a-dir'))
    expect(() => new JWTAuthenticator({ keyFile: join(dir, 'a-dir'), env })).toThrow(
      expect.objectContaining({ code: 'FILE_UNREADABLE' }),
    )
    writeFileSync(join(dir, 'junk.pem'), 'not a key')
    expect(() => new JWTAuthenticator({ keyFile: join(dir, 'junk.pem'), env })).toThrow(
      expect.objectContaining({ code: 'KEY_INVALID' }),
    )
    if (process.getuid?.() !== 0) {
      writeFileSync(join(dir, 'locked.pem'), 'x')
      chmodSync(join(dir, 'locked.pem'), 0o000)
      expect(() => new JWTAuthenticator({ keyFile: join(dir, 'locked.pem'), env })).toThrow(
        expect.objectContaining({ code: 'FILE_UNREADABLE' }),
      )
    }
  })

  it('takes keyFile over secret, secret over CAPISCIO_JWT_SECRET over APCORE_JWT_SECRET', async () => {
    const dir = tmpDir()
    const ed = keyPair('ed25519')
    writeFileSync(join(dir, 'public.pem'), ed.publicKey.export({ type: 'spki', format: 'pem' }))
    const other = 'another-secret-that-is-32-bytes-long!!'
    const env = { CAPISCIO_JWT_SECRET: SECRET, APCORE_JWT_SECRET: other }
    const byKey = new JWTAuthenticator({ keyFile: join(dir, 'public.pem'), secret: SECRET, env })
    expect(byKey.keySource).toBe('keyFile')
    const signed = mintToken({ sub: 'k', privateKey: ed.privateKey }).token
    expect((await byKey.authenticate(bearer(signed)))?.id).toBe('k')
    expect(await byKey.authenticate(bearer(mintToken({ sub: 's', secret: SECRET }).token))).toBeNull()

    expect(new JWTAuthenticator({ secret: other, env }).keySource).toBe('secret')
    const fromEnv = new JWTAuthenticator({ env })
    expect(fromEnv.keySource).toBe('CAPISCIO_JWT_SECRET')
    expect((await fromEnv.authenticate(bearer(mintToken({ sub: 'e', secret: SECRET }).token)))?.id).toBe('e')
    const apcore = new JWTAuthenticator({ env: { APCORE_JWT_SECRET: other } })
    expect(apcore.keySource).toBe('APCORE_JWT_SECRET')
    expect(() => new JWTAuthenticator({ env: {} })).toThrow(/CAPISCIO_JWT_SECRET or APCORE_JWT_SECRET/)
    expect(() => new JWTAuthenticator({ env: { CAPISCIO_JWT_SECRET: 'short' } })).toThrow(/at least 32 bytes/)
  })

  it('maps claims with a ClaimMapping and reports why a token was refused, without the token', async () => {
    const errors: CapiscioError[] = []
    const auth = new JWTAuthenticator({
      secret: SECRET,
      claimMapping: {
        idClaim: 'client_id',
        typeClaim: 'kind',
        rolesClaim: 'scope_list',
        attrsClaims: ['tenant', 'missing'],
      },
      requiredClaims: ['client_id'],
      onError: (e) => errors.push(e),
      now: clock,
    })
    const { token } = mintToken({
      sub: 'ignored',
      secret: SECRET,
      claims: { client_id: 42, kind: 'service', scope_list: ['read', 1, null], tenant: { id: 't' } },
      now: clock,
    })
    expect(await auth.authenticate(bearer(token))).toEqual({
      id: '42',
      type: 'service',
      roles: ['read', '1'],
      attrs: { tenant: { id: 't' } },
    })
    const expired = mintToken({
      sub: 's',
      secret: SECRET,
      claims: { client_id: 'c' },
      ttlSeconds: 1,
      now: () => 0,
    }).token
    expect(await auth.authenticate(bearer(expired))).toBeNull()
    expect(errors.map((e) => e.code)).toEqual(['TOKEN_EXPIRED'])
    expect(errors[0]!.message).not.toContain(expired.split('.')[2])
  })

  it('a throwing onError changes nothing: the answer is still null', async () => {
    const auth = new JWTAuthenticator({
      secret: SECRET,
      onError: () => {
        throw new Error('logger down')
      },
    })
    // With a secret the answer comes at once (the contract allows sync or async): null, no throw.
    expect(auth.authenticate(bearer('junk'))).toBeNull()
  })

  it('declares the bearer JWT security scheme', () => {
    expect(new JWTAuthenticator({ secret: SECRET }).securitySchemes()).toEqual({
      bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
    })
  })
})

describe('credential headers', () => {
  it('reads node, plain-object (any case) and WHATWG Headers bags; repeats are not a credential', () => {
    expect(bearerToken({ authorization: 'Bearer abc' })).toEqual({ token: 'abc' })
    expect(bearerToken({ Authorization: 'Bearer abc' })).toEqual({ token: 'abc' })
    expect(bearerToken(new Headers({ Authorization: 'Bearer abc' }))).toEqual({ token: 'abc' })
    expect(bearerToken({ authorization: ['Bearer a', 'Bearer b'] })).toEqual({ invalid: true })
    const h = new Headers()
    h.append('authorization', 'Bearer a')
    h.append('authorization', 'Bearer b')
    expect(bearerToken(h)).toEqual({ invalid: true })
    expect(bearerToken({})).toBeUndefined()
    expect(bearerToken({ authorization: 'Basic abc' })).toEqual({ invalid: true })
  })

  it('no headers at all (plain JS calling with undefined or null) is no credential, not a TypeError', async () => {
    for (const none of [undefined, null]) {
      expect(bearerToken(none as never)).toBeUndefined()
      expect(badgeToken(none as never)).toBeUndefined()
      expect(await new JWTAuthenticator({ secret: 'x'.repeat(32) }).authenticate(none as never)).toBeNull()
      const keys = new StaticKeySource([{ publicKey: edKey().publicKey, kid: 'k' }])
      expect(await new BadgeAuthenticator({ keys }).authenticate(none as never)).toBeNull()
    }
  })

  it('a badge comes from X-Capiscio-Badge or the bearer token; two different ones are not a credential', () => {
    expect(badgeToken({ 'x-capiscio-badge': 'b' })).toEqual({ token: 'b' })
    expect(badgeToken({ authorization: 'Bearer b' })).toEqual({ token: 'b' })
    expect(badgeToken({ 'x-capiscio-badge': 'b', authorization: 'Bearer b' })).toEqual({ token: 'b' })
    expect(badgeToken({ 'x-capiscio-badge': 'b', authorization: 'Bearer c' })).toEqual({ invalid: true })
  })
})

describe('identityFromClaims', () => {
  it('refuses an empty id and ignores inherited names', () => {
    expect(identityFromClaims({ sub: '' })).toBeNull()
    expect(identityFromClaims({ sub: 'x' }, { idClaim: 'constructor' })).toBeNull()
    expect(identityFromClaims({ sub: 'x', roles: 'admin' })?.roles).toEqual([])
  })
})

describe('BadgeAuthenticator', () => {
  it("turns a valid badge into an agent identity and refuses others (the gateway's verifier)", async () => {
    const issuer = edKey()
    const keys = new StaticKeySource([{ publicKey: issuer.publicKey, kid: 'iss-key' }])
    const errors: string[] = []
    const auth = new BadgeAuthenticator({ keys, now: clock, onError: (e) => errors.push(e.code) })
    const { token, claims } = await issueBadge({
      privateKey: issuer.privateKey,
      kid: 'iss-key',
      iss: 'did:web:issuer.example',
      sub: 'did:capiscio:agent:caller',
      level: '2',
      now: clock,
    })
    const identity = await auth.authenticate({ 'x-capiscio-badge': token })
    expect(identity).toEqual({
      id: 'did:capiscio:agent:caller',
      type: 'agent',
      roles: [],
      attrs: { iss: 'did:web:issuer.example', trustLevel: '2', jti: claims.jti, exp: claims.exp },
    })
    expect((await auth.authenticate(bearer(token)))?.id).toBe('did:capiscio:agent:caller')
    const stranger = edKey()
    const forged = await issueBadge({
      privateKey: stranger.privateKey,
      kid: 'iss-key',
      sub: 'did:capiscio:agent:caller',
      iss: 'did:web:issuer.example',
      now: clock,
    })
    expect(await auth.authenticate(bearer(forged.token))).toBeNull()
    expect(errors).toEqual(['BADGE_SIGNATURE_INVALID'])
    expect(() => new BadgeAuthenticator({})).toThrow(/key source/)
  })
})

describe('JWTAuthenticator with a JWKS URL (the remote key source)', () => {
  it('verifies RS256 tokens by kid from the JWKS, binds them to its issuer, and is null while it is down', async () => {
    const { JwksServer } = await import('../../helpers/jwks-server.js')
    const rsa = keyPair('rsa', { modulusLength: 2048 })
    const jwks = await new JwksServer().start()
    try {
      jwks.setKeys([{ ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa-1', alg: 'RS256', use: 'sig' }])
      const errors: string[] = []
      const auth = new JWTAuthenticator({ jwksUrl: jwks.url, onError: (e) => errors.push(e.code) })
      const issuer = jwks.url.replace('/.well-known/jwks.json', '')
      const mint = (iss?: string) =>
        mintToken({ sub: 'svc', privateKey: rsa.privateKey, kid: 'rsa-1', ...(iss ? { iss } : {}) }).token
      expect((await auth.authenticate(bearer(mint(issuer))))?.id).toBe('svc')
      expect((await auth.authenticate(bearer(mint())))?.id).toBe('svc')
      expect(await auth.authenticate(bearer(mint('https://someone-else.example')))).toBeNull()
      expect(errors).toEqual(['TOKEN_SIGNATURE_INVALID'])

      await jwks.stop()
      const cold = new JWTAuthenticator({ jwksUrl: jwks.url, onError: (e) => errors.push(e.code) })
      expect(await cold.authenticate(bearer(mint(issuer)))).toBeNull()
      expect(errors.at(-1)).toBe('NETWORK_ERROR')
    } finally {
      await jwks.stop()
    }
  })
})
