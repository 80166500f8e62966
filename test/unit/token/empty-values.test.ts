import { generateKeyPairSync } from 'node:crypto'

import { describe, expect, it } from '@jest/globals'

import { signGuardToken } from '../../../src/lib/guard/token.js'
import { mintToken } from '../../../src/lib/token/mint.js'

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256!'

function codeOf(fn: () => unknown): { code: string; options?: readonly string[] } | 'OK' {
  try {
    fn()
    return 'OK'
  } catch (err) {
    const e = err as { code: string; options?: readonly string[] }
    return { code: e.code, options: e.options }
  }
}

describe('an empty issuer or id is refused when signing, not signed into a token no verifier takes', () => {
  it.each(['iss', 'jti', 'kid', 'type'] as const)(
    'mintToken with %s "" is a usage error naming the option',
    (name) => {
      expect(codeOf(() => mintToken({ secret: SECRET, sub: 'svc', [name]: '' }))).toEqual({
        code: 'USAGE',
        options: [name],
      })
      expect(codeOf(() => mintToken({ secret: SECRET, sub: 'svc', [name]: 'x' }))).toBe('OK')
    },
  )

  it.each(['iss', 'kid'] as const)('signGuardToken with %s "" is a usage error naming the option', (name) => {
    const { privateKey } = generateKeyPairSync('ed25519')
    const options = { privateKey, kid: 'k', iss: 'did:web:a.example.com' }
    expect(codeOf(() => signGuardToken({ ...options, [name]: '' }))).toEqual({
      code: 'USAGE',
      options: [name],
    })
    expect(codeOf(() => signGuardToken(options))).toBe('OK')
  })
})

describe('mintToken roles', () => {
  it.each([[['']], [['admin', '']], [['a,b']]])(
    'refuses %j: a role is a non-empty name without a comma',
    (roles) => {
      expect(codeOf(() => mintToken({ secret: SECRET, sub: 'svc', roles }))).toEqual({
        code: 'USAGE',
        options: ['roles'],
      })
    },
  )

  it('signs roles that are names', () => {
    expect(mintToken({ secret: SECRET, sub: 'svc', roles: ['admin', 'billing:read'] }).claims.roles).toEqual([
      'admin',
      'billing:read',
    ])
  })
})
