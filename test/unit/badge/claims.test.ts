import { describe, expect, it } from '@jest/globals'

import { isIssuer } from '../../../src/lib/badge/claims.js'
import { CapiscioError } from '../../../src/lib/errors.js'

describe('isIssuer: DIDs and https URLs (http on loopback)', () => {
  it('answers the same for a URL issuer the second time (the remembered answer) as the first', () => {
    for (const iss of [
      'https://registry.example.com',
      'http://localhost:8080/issuer',
      'did:web:a.example.com',
    ])
      expect([isIssuer(iss), isIssuer(iss)]).toEqual([true, true])
    for (const iss of ['https://[::1', 'https://exa mple.com', 'ftp://example.com', 'https://é.example', ''])
      expect([isIssuer(iss), isIssuer(iss)]).toEqual([false, false])
  })

  it('takes plain http only for a loopback host, as trust add does (DESIGN: a DID or an https origin)', () => {
    for (const iss of ['http://localhost:8080', 'http://127.0.0.1/registry', 'http://[::1]:8080'])
      expect([iss, isIssuer(iss), isIssuer(iss)]).toEqual([iss, true, true])
    for (const iss of ['http://x.example.com', 'http://10.0.0.5:8080', 'http://localhost.example.com'])
      expect([iss, isIssuer(iss), isIssuer(iss)]).toEqual([iss, false, false])
  })

  it('stays correct past the number of issuers it remembers', () => {
    for (let i = 0; i < 3000; i++) expect(isIssuer(`https://issuer-${i}.example.com`)).toBe(true)
    expect(isIssuer('https://[bad')).toBe(false)
    expect(isIssuer('https://issuer-0.example.com')).toBe(true)
  })
})

describe('CapiscioError', () => {
  it('keeps no stack for a refused credential (an answer, not a fault), and a stack for other errors', () => {
    const refused = new CapiscioError('BADGE_EXPIRED', 'the badge expired')
    expect(refused.stack).toBe('CapiscioError: the badge expired')
    expect(new CapiscioError('INTERNAL_ERROR', 'a bug').stack).toMatch(/\n\s+at /)
    // The limit is restored for everybody else.
    expect(new Error('x').stack).toMatch(/\n\s+at /)
  })
})
