import { describe, expect, it } from '@jest/globals'

import { decodeBadge } from '../../src/lib/badge/decode.js'
import { issueBadge } from '../../src/lib/badge/issue.js'
import { verifyToken } from '../../src/lib/token/verify.js'
import { edKey } from '../helpers/badges.js'

const usage = (options?: string[]) =>
  expect.objectContaining({ code: 'USAGE', ...(options ? { options } : {}) })

describe('the library called from plain JS with the wrong things: a coded usage error, never a TypeError', () => {
  it('issueBadge without a private key, or with a PEM string for one', async () => {
    await expect(issueBadge({ sub: 'did:web:a.example' } as never)).rejects.toEqual(usage(['privateKey']))
    await expect(
      issueBadge({ privateKey: '-----BEGIN PRIVATE KEY-----' as never, sub: 'did:web:a.example' }),
    ).rejects.toEqual(usage(['privateKey']))
  })

  it('issueBadge takes one audience as a string, as mintToken does; anything else but strings is refused', async () => {
    const { privateKey } = edKey()
    const issued = await issueBadge({ privateKey, sub: 'did:web:a.example', aud: 'https://agent.example' })
    expect(decodeBadge(issued.token).claims.aud).toEqual(['https://agent.example'])
    for (const aud of [42, [''], ['ok', 7], {}])
      await expect(issueBadge({ privateKey, sub: 'did:web:a.example', aud: aud as never })).rejects.toEqual(
        usage(['aud']),
      )
  })

  it('verifyToken without options says what it needs', async () => {
    await expect(verifyToken('a.b.c', undefined as never)).rejects.toEqual(usage(['secret', 'keys']))
  })
})
