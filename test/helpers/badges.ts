import { createHmac, randomUUID, sign, type KeyObject } from 'node:crypto'

import { toLowS } from '../../src/lib/badge/jws.js'
import { didKeyOf } from '../../src/lib/keys/didkey.js'
import { keyPair } from './keypair.js'

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')

/** Signs any header and payload as a compact JWS with node:crypto, so tests can build hostile tokens. */
export function signRaw(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  key: KeyObject,
): string {
  const input = `${b64(header)}.${b64(payload)}`
  const alg = header.alg
  // ES256: the low-S form, the only one verifiers accept (tests make high-S twins on purpose).
  const sig =
    alg === 'ES256'
      ? toLowS(sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }))
      : sign(null, Buffer.from(input), key)
  return `${input}.${sig.toString('base64url')}`
}

/** An HS256 token whose HMAC secret is the given text (the "public key as HMAC secret" attack). */
export function signHmac(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  secret: string,
): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

export function unsigned(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  return `${b64(header)}.${b64(payload)}.`
}

export const NOW = 1_800_000_000_000 // a fixed clock (ms) for time checks
export const clock = () => NOW

export function edKey(): { privateKey: KeyObject; publicKey: KeyObject; did: string } {
  const pair = keyPair('ed25519')
  return { ...pair, did: didKeyOf(pair.publicKey)! }
}

/** Claims of a valid badge at NOW, with overrides. */
export function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(NOW / 1000)
  return {
    jti: randomUUID(),
    iss: 'did:web:issuer.example.com',
    sub: 'did:capiscio:agent:client',
    iat,
    exp: iat + 300,
    ial: '0',
    vc: {
      type: ['VerifiableCredential', 'AgentIdentity'],
      credentialSubject: { level: '1', domain: 'client.example.com' },
    },
    ...overrides,
  }
}
