import { describe, expect, it } from '@jest/globals'

import { a2aUserBuilder, credentialInterceptor } from '../../../src/lib/auth/a2a.js'
import type { Authenticator } from '../../../src/lib/auth/authenticator.js'
import { runWithIdentity } from '../../../src/lib/auth/context.js'
import { makeIdentity } from '../../../src/lib/auth/identity.js'
import { BadgeKeeper } from '../../../src/lib/badge/keeper.js'
import type { IssuedBadge } from '../../../src/lib/badge/issue.js'
import { CapiscioError } from '../../../src/lib/errors.js'

const alice = makeIdentity('alice', 'agent', ['caller'])

function countingAuthenticator(answer: ReturnType<typeof makeIdentity> | null) {
  const seen: unknown[] = []
  const authenticator: Authenticator = {
    authenticate(headers) {
      seen.push(headers)
      return answer
    },
    securitySchemes: () => ({}),
  }
  return { authenticator, seen }
}

describe('a2aUserBuilder', () => {
  it('takes the identity authMiddleware stored, without verifying again', async () => {
    const { authenticator, seen } = countingAuthenticator(null)
    const user = await runWithIdentity(alice, () => a2aUserBuilder(authenticator)({ headers: {} }))
    expect(user.isAuthenticated).toBe(true)
    expect(user.userName).toBe('alice')
    expect(user.identity).toBe(alice)
    expect(seen).toHaveLength(0)
  })

  it('asks the authenticator when no middleware ran', async () => {
    const { authenticator, seen } = countingAuthenticator(alice)
    const user = await a2aUserBuilder(authenticator)({ headers: { authorization: 'Bearer x' } })
    expect(user.userName).toBe('alice')
    expect(seen).toHaveLength(1)
  })

  it('gives the shape of the SDK UnauthenticatedUser when nobody is verified', async () => {
    const throwing: Authenticator = {
      authenticate: () => {
        throw new Error('boom')
      },
      securitySchemes: () => ({}),
    }
    for (const build of [a2aUserBuilder(), a2aUserBuilder(throwing)]) {
      const user = await build({ headers: {} })
      expect(user.isAuthenticated).toBe(false)
      expect(user.userName).toBe('')
    }
  })
})

describe('a2aUserBuilder with an authenticator that answers no identity', () => {
  it.each([
    ['undefined', undefined],
    ['false', false],
    ['{}', {}],
  ])('answered %s → not authenticated', async (_n, answer) => {
    const authenticator = { authenticate: async () => answer, securitySchemes: () => ({}) }
    const user = await a2aUserBuilder(authenticator as unknown as Authenticator)({ headers: {} })
    expect(user.isAuthenticated).toBe(false)
    expect(user.identity).toBeNull()
    expect(user.userName).toBe('')
  })
})

describe('credentialInterceptor', () => {
  it('replaces an authorization header of any case with a fresh Bearer credential', async () => {
    let n = 0
    const interceptor = credentialInterceptor({ credential: () => `tok${++n}` })
    const args = {
      options: { serviceParameters: { AUTHORIZATION: 'Bearer old', authorization: 'x', other: 'y' } },
    }
    await interceptor.before(args)
    expect(args.options.serviceParameters).toEqual({ Authorization: 'Bearer tok1', other: 'y' })
    await interceptor.before(args)
    expect(args.options.serviceParameters).toEqual({ Authorization: 'Bearer tok2', other: 'y' })
  })

  it('creates the options when the call has none, and can use X-Capiscio-Badge', async () => {
    const interceptor = credentialInterceptor({ credential: async () => 'badge', header: 'x-capiscio-badge' })
    const args: { options?: { serviceParameters?: Record<string, string> } } = {}
    await interceptor.before(args)
    expect(args.options?.serviceParameters).toEqual({ 'X-Capiscio-Badge': 'badge' })
  })

  it("fails the call with the keeper's error once the badge expired and renewal fails", async () => {
    let clock = 1_000_000_000_000
    let calls = 0
    const refusal = new CapiscioError('INTERNAL_ERROR', 'issuer down')
    const keeper = new BadgeKeeper({
      now: () => clock,
      renewBeforeSeconds: 5,
      issue: async () => {
        if (calls++ > 0) throw refusal
        const exp = clock / 1000 + 10
        return {
          token: 'first',
          header: { alg: 'EdDSA', typ: 'JWT' },
          claims: { exp },
        } as unknown as IssuedBadge
      },
    })
    const interceptor = credentialInterceptor({ credential: keeper })
    const args: { options?: { serviceParameters?: Record<string, string> } } = {}
    await interceptor.before(args)
    expect(args.options?.serviceParameters?.Authorization).toBe('Bearer first')
    clock += 7_000 // within renewBefore: renewal fails, the still-valid badge is kept
    await interceptor.before(args)
    expect(args.options?.serviceParameters?.Authorization).toBe('Bearer first')
    clock += 4_000 // expired
    await expect(interceptor.before(args)).rejects.toBe(refusal)
    await keeper.stop()
  })
})
