import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, describe, expect, it } from '@jest/globals'
import { importJWK, jwtVerify } from 'jose'

import { issueBadge } from '../../../src/lib/badge/issue.js'
import { generateKey } from '../../../src/lib/keys/generate.js'
import { readSigningKey, writeKeyDir } from '../../../src/lib/store/keydir.js'
import { pythonWithCryptography } from '../../helpers/python.js'
import { cleanupTmp, tmpDir } from '../../helpers/tmp.js'

afterAll(cleanupTmp)

describe('badges verify under other JOSE implementations', () => {
  it.each(['EdDSA', 'ES256'] as const)(
    'jose verifies a %s badge with the public.jwk from key gen',
    async (alg) => {
      const dir = tmpDir()
      await writeKeyDir(dir, await generateKey(alg))
      const signing = await readSigningKey(join(dir, 'private.jwk'))
      const badge = await issueBadge({
        ...signing,
        sub: 'did:capiscio:agent:client',
        iss: 'https://issuer.example.com',
        aud: ['https://api.example.com'],
      })
      const publicJwk = JSON.parse(readFileSync(join(dir, 'public.jwk'), 'utf8'))
      const { payload, protectedHeader } = await jwtVerify(badge.token, await importJWK(publicJwk), {
        algorithms: [alg],
        issuer: 'https://issuer.example.com',
        audience: 'https://api.example.com',
        typ: 'JWT',
      })
      expect(protectedHeader.kid).toBe(publicJwk.kid)
      expect(payload.sub).toBe('did:capiscio:agent:client')
    },
  )

  it("Python's cryptography verifies the Ed25519 signature with public.pem", async () => {
    const dir = tmpDir()
    await writeKeyDir(dir, await generateKey('EdDSA'))
    const badge = await issueBadge({ ...(await readSigningKey(dir)), sub: 'did:web:agent.example.com' })
    const py = [
      'import sys, base64',
      'from cryptography.hazmat.primitives.serialization import load_pem_public_key',
      'h, p, s = sys.argv[2].split(".")',
      's += "=" * (-len(s) % 4)',
      'load_pem_public_key(open(sys.argv[1], "rb").read()).verify(base64.urlsafe_b64decode(s), f"{h}.{p}".encode())',
      'print("ok")',
    ].join('\n')
    expect(
      execFileSync(pythonWithCryptography(), ['-c', py, join(dir, 'public.pem'), badge.token])
        .toString()
        .trim(),
    ).toBe('ok')
  })
})
