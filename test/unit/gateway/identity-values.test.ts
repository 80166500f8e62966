import { afterEach, describe, expect, it } from '@jest/globals'

import { createBadgeVerifier } from '../../../src/lib/gateway/badge-verifier.js'
import { createGateway } from '../../../src/lib/gateway/server.js'
import { StaticKeySource } from '../../../src/lib/keysource/static.js'
import { claims, edKey, signRaw } from '../../helpers/badges.js'
import { echoAgent, startUpstream } from '../../helpers/servers.js'

// The claims the gateway passes on as X-Capiscio-* header values (iss, sub, jti) must be values an
// HTTP client accepts: a verified badge with `iss: https://issuer.example.com/é` used to reach the
// proxy and end as a 502 when undici refused the header. Such a badge is refused as invalid claims.
const signer = edKey()
const keys = new StaticKeySource([{ publicKey: signer.publicKey, kid: 'k' }])
const open: { close(): Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()))
})

describe('gateway: claims that become header values', () => {
  it.each([
    ['a non-ASCII issuer', { iss: 'https://issuer.example.com/é' }],
    ['a non-ASCII jti', { jti: 'jti-é' }],
    ['a jti with a line break', { jti: 'a\nb' }],
  ])('refuses %s with 403 BADGE_CLAIMS_INVALID, never 502', async (_name, override) => {
    const up = await startUpstream(echoAgent)
    const gw = await createGateway({ target: up.url, verifier: createBadgeVerifier({ keys }) })
    open.push(gw, up)
    const now = Math.floor(Date.now() / 1000)
    const token = signRaw(
      { alg: 'EdDSA', kid: 'k' },
      claims({ iat: now, exp: now + 300, ...override }),
      signer.privateKey,
    )
    const res = await fetch(`${gw.url}/task`, { headers: { authorization: `Bearer ${token}` } })
    expect(res.status).toBe(403)
    expect(await res.json()).toMatchObject({ code: 'BADGE_CLAIMS_INVALID' })
  })
})
