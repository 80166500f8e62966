import { describe, expect, it } from '@jest/globals'

import { closest, synonymOf } from '../../src/suggest.js'

describe('flag suggestions', () => {
  it('a slip of the fingers finds the flag; a far-off word finds nothing', () => {
    expect(closest('jwk', ['jwks', 'key', 'trust-dir'])).toBe('jwks')
    expect(closest('trust-dri', ['jwks', 'key', 'trust-dir'])).toBe('trust-dir')
    expect(closest('local-key', ['jwks', 'key', 'trust-dir'])).toBeUndefined()
  })

  it("another command's name for a flag points at this command's, only if it has one", () => {
    expect(synonymOf('local-key', ['jwks', 'key', 'trust-dir'])).toBe('key')
    expect(synonymOf('key', ['local-key', 'jwt-key', 'registry-url'])).toBe('local-key')
    expect(synonymOf('registry-url', ['jwks', 'key'])).toBe('jwks')
    expect(synonymOf('aud', ['audience'])).toBe('audience')
    expect(synonymOf('audience', ['aud', 'iss'])).toBe('aud')
    expect(synonymOf('local-key', ['trust-dir'])).toBeUndefined()
    expect(synonymOf('no-such-flag', ['key'])).toBeUndefined()
    // Not an inherited property of a plain object.
    expect(synonymOf('constructor', ['key'])).toBeUndefined()
  })
})
