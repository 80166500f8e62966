import { describe, expect, it } from '@jest/globals'

import fc from 'fast-check'

import {
  checkRequestTarget,
  downstreamHeaders,
  extractCredential,
  upstreamHeaders,
} from '../../../src/lib/gateway/headers.js'

const identity = {
  subject: 'did:capiscio:agent:client',
  issuer: 'did:key:z6Mk',
  trustLevel: '1',
  jti: 'j-1',
  exp: 0,
}
const base = { identity, forwardCredential: false, clientIp: '192.0.2.1', proto: 'http' as const }

describe('upstreamHeaders: headers the gateway sets cannot be forged', () => {
  // Node lower-cases names; a CGI/WSGI agent reads `x_capiscio_subject` as HTTP_X_CAPISCIO_SUBJECT.
  const forged = {
    host: 'gw.example.com',
    x_capiscio_subject: 'did:web:admin.example.com',
    x_capiscio_trust_level: '4',
    'x-capiscio-issuer': 'did:web:evil.example.com',
    x_capiscio_badge: 'forged.badge.token',
    x_forwarded_for: '203.0.113.9',
    x_forwarded_proto: 'https',
    'x-forwarded-port': '443',
    forwarded: 'for=203.0.113.9;proto=https',
    'x-real-ip': '203.0.113.9',
    x_real_ip: '203.0.113.9',
    'x-keep': 'yes',
    x_custom_header: 'kept',
  }

  it('drops every client header that, with _ read as -, is one the gateway sets', () => {
    const out = upstreamHeaders(forged, { ...base, trustForwarded: false })
    expect(out).toEqual({
      'x-keep': 'yes',
      x_custom_header: 'kept',
      'x-forwarded-for': '192.0.2.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'gw.example.com',
      'x-real-ip': '192.0.2.1',
      'x-capiscio-subject': identity.subject,
      'x-capiscio-issuer': identity.issuer,
      'x-capiscio-trust-level': '1',
      'x-capiscio-badge-jti': 'j-1',
      'x-capiscio-jti': 'j-1',
      'x-capiscio-credential': 'badge',
    })
  })

  it('keeps Forwarded, X-Real-IP and X-Forwarded-* from a trusted proxy, but never the underscore spellings', () => {
    const out = upstreamHeaders(forged, { ...base, trustForwarded: true })
    expect(out).toMatchObject({
      forwarded: 'for=203.0.113.9;proto=https',
      'x-real-ip': '203.0.113.9',
      'x-forwarded-port': '443',
      'x-forwarded-for': '192.0.2.1',
      'x-capiscio-subject': identity.subject,
    })
    for (const name of Object.keys(out)) expect(name).not.toContain('_capiscio_')
    expect(out).not.toHaveProperty('x_forwarded_for')
    expect(out).not.toHaveProperty('x_real_ip')
    expect(out).not.toHaveProperty('x_capiscio_badge')
  })

  it('replaces a client X-Forwarded-For with the connection address, and extends only a trusted chain', () => {
    const sent = { 'x-forwarded-for': '6.6.6.6' }
    expect(upstreamHeaders(sent, { ...base, trustForwarded: false })['x-forwarded-for']).toBe('192.0.2.1')
    expect(upstreamHeaders(sent, { ...base, trustForwarded: true })['x-forwarded-for']).toBe(
      '6.6.6.6, 192.0.2.1',
    )
  })

  it('forwards the credential header only under its real name, and only with forwardCredential', () => {
    const out = upstreamHeaders(
      { 'x-capiscio-badge': 'real.badge.token', x_capiscio_badge: 'forged' },
      { ...base, forwardCredential: true },
    )
    expect(out['x-capiscio-badge']).toBe('real.badge.token')
    expect(out).not.toHaveProperty('x_capiscio_badge')
  })
})

describe('hop-by-hop headers, and those a Connection header lists, go no further', () => {
  const hop = { 'keep-alive': 'timeout=5', 'transfer-encoding': 'chunked', te: 'trailers', upgrade: 'h2c' }

  it.each([
    ['keep-alive', ['x-keep', 'x-other']],
    ['close', ['x-keep', 'x-other']],
    ['Keep-Alive, X-Other', ['x-keep']],
    ['close,x-other , X-KEEP', []],
  ])('Connection: %s from a client leaves only %j of its own headers', (connection, kept) => {
    const out = upstreamHeaders(
      { connection, ...hop, 'x-keep': '1', 'x-other': '2' },
      { ...base, identity: undefined },
    )
    const own = Object.keys(out).filter((n) => !n.startsWith('x-forwarded-') && n !== 'x-real-ip')
    expect(own.sort()).toEqual([...kept].sort())
  })

  it.each([
    ['keep-alive', ['content-type', 'x-keep', 'x-other']],
    ['close', ['content-type', 'x-keep', 'x-other']],
    ['keep-alive, X-Other', ['content-type', 'x-keep']],
  ])('Connection: %s from the target leaves %j', (connection, kept) => {
    const out = downstreamHeaders({
      connection,
      ...hop,
      'content-type': 'text/plain',
      'x-keep': '1',
      'x-other': '2',
    })
    expect(Object.keys(out).sort()).toEqual([...kept].sort())
  })
})

describe('checkRequestTarget: only origin-form targets that stay under the prefix', () => {
  it.each([
    ['/', true],
    ['/api/task?x=1', true],
    ['/a/../b', true],
    ['/a/./b/', true],
    ['/a/b..c/..d', true],
    ['/..', false],
    ['/../admin', false],
    ['/a/../../admin', false],
    ['/%2e%2e/admin', false],
    ['/%2E%2e/admin', false],
    ['/a/.%2e/%2e./admin', false],
    ['/..%2fadmin', false],
    ['/..%5cadmin', false],
    ['/..\\admin', false],
    ['/ok?next=/../../x', true],
    ['http://evil.example.com/admin', false],
    ['HTTP://evil.example.com/', false],
    ['*', false],
    ['evil.example.com:443', false],
    // A fragment is never part of a request-target; agents drop it and then resolve the '..'.
    ['/..#/x', false],
    ['/a#b', false],
    // Path parameters: Tomcat and Spring read '..;' as '..'.
    ['/..;/admin', false],
    ['/a/..;x=1/../admin', false],
    ['/a;v=1/b', true],
    // Double encoding: an agent that decodes twice sees '..' and '/'.
    ['/%252e%252e/admin', false],
    ['/..%252fadmin', false],
    ['/ok?u=%252Fx', true],
  ])('%s → %s', (target, ok) => {
    expect(checkRequestTarget(target)).toBe(ok)
  })
})

describe('extractCredential: the Bearer token', () => {
  // RFC 6750 §2.1 as the gateway reads it: the scheme in any case, spaces or tabs around one token.
  const reference = (auth: string) => /^bearer[ \t]+(\S+)[ \t]*$/i.exec(auth)?.[1]

  it('reads a header exactly as the reference expression does, for any header', () => {
    const piece = fc.constantFrom(
      'Bearer',
      'bearer',
      'BEARER',
      'Basic',
      ' ',
      '\t',
      '  ',
      'tok.en',
      'a',
      '\u00a0',
      '\n',
      ',',
      '=',
    )
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 6 }), fc.string(), (parts, tail) => {
        const auth = parts.join('') + tail
        expect(extractCredential({ authorization: auth }).credential).toBe(reference(auth))
      }),
      { numRuns: 3000 },
    )
  })

  it('takes the token of the usual forms and refuses the rest', () => {
    const token = (auth: string) => extractCredential({ authorization: auth }).credential
    expect(token('Bearer abc.def.ghi')).toBe('abc.def.ghi')
    expect(token('bEaReR \t abc \t')).toBe('abc')
    expect(token('Bearer')).toBeUndefined()
    expect(token('Bearer ')).toBeUndefined()
    expect(token('Bearerabc')).toBeUndefined()
    expect(token('Bearer abc def')).toBeUndefined()
    expect(token('Basic abc')).toBeUndefined()
  })
})
