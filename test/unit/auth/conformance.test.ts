import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { describe, expect, it } from '@jest/globals'

import { JWTAuthenticator } from '../../../src/lib/auth/jwt.js'
import { CONFORMANCE } from '../../helpers/paths.js'

// apcore's A-AUTH parity vectors: each case's payload is signed HS256 with the file's secret (or
// its sign_with_secret) and run through authenticate(); the Identity or the refusal must match.
interface Case {
  id: string
  claims?: Record<string, unknown>
  headers?: Record<string, string>
  sign_with_secret?: string
  expected_identity?: { id: string; type: string; roles: string[] }
  expected_reject?: boolean
}
const vectors = JSON.parse(readFileSync(join(CONFORMANCE, 'apcore', 'jwt_claim_coercion.json'), 'utf8')) as {
  secret: string
  algorithm: string
  test_cases: Case[]
  reject_cases: Case[]
}

const NOW = 1_800_000_000_000
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

function tokenFor(c: Case): string {
  const { exp_offset_seconds: offset, ...claims } = c.claims ?? {}
  if (typeof offset === 'number') claims.exp = NOW / 1000 + offset
  const input = `${b64({ alg: vectors.algorithm, typ: 'JWT' })}.${b64(claims)}`
  const secret = c.sign_with_secret ?? vectors.secret
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

const headersFor = (c: Case) => c.headers ?? { authorization: `Bearer ${tokenFor(c)}` }
const authenticator = new JWTAuthenticator({ secret: vectors.secret, now: () => NOW })

describe('apcore/jwt_claim_coercion.json', () => {
  it('has the cases this runner knows how to run', () => {
    expect(vectors.algorithm).toBe('HS256')
    expect(vectors.test_cases.length + vectors.reject_cases.length).toBeGreaterThan(10)
  })

  it.each(vectors.test_cases.map((c) => [c.id, c] as const))('accepts %s', async (_id, c) => {
    const identity = await authenticator.authenticate(headersFor(c))
    expect(identity).not.toBeNull()
    expect({ id: identity!.id, type: identity!.type, roles: identity!.roles }).toEqual(c.expected_identity)
  })

  it.each(vectors.reject_cases.map((c) => [c.id, c] as const))('rejects %s', async (_id, c) => {
    expect(c.expected_reject).toBe(true)
    expect(await authenticator.authenticate(headersFor(c))).toBeNull()
  })
})
