// The agent-card signing vectors in ../shared/conformance/a2a/, read unchanged and run through the
// library: JCS bytes, protected headers, signatures, cross-SDK verification and the depth bound.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { describe, expect, it } from '@jest/globals'

import { canonicalizeText, MAX_JCS_DEPTH } from '../../../src/lib/card/canonicalize.js'
import {
  cardSigningPayload,
  parseCardSignatureHeader,
  signAgentCard,
  verifyAgentCard,
  type AgentCard,
  type ProtectedHeader,
} from '../../../src/lib/card/sign.js'
import { CapiscioError } from '../../../src/lib/errors.js'
import { parseJwk } from '../../../src/lib/keys/parse.js'
import { StaticKeySource } from '../../../src/lib/keysource/static.js'
import { CONFORMANCE } from '../../helpers/paths.js'

const read = <T>(name: string): T => JSON.parse(readFileSync(join(CONFORMANCE, 'a2a', name), 'utf8')) as T

interface CanonCase {
  id: string
  agent_card: AgentCard
  expected_jcs_payload: string
}
const signing = read<{
  public_jwk: Record<string, unknown>
  private_jwk: Record<string, unknown>
  canonicalization_cases: CanonCase[]
  signing_cases: (CanonCase & {
    kid: string
    expected_protected_b64: string
    expected_signing_input: string
    signature: string
  })[]
}>('card_signing_vectors.json')
const canon = read<{ cases: CanonCase[] }>('card_signing_canonicalization_vectors.json')
const headers = read<{
  cases: {
    id: string
    agent_card: AgentCard
    expected_valid: boolean
    expected_error?: string
    decoded_alg?: string
    decoded_kid?: string
  }[]
}>('card_signing_protected_header_vectors.json')
const interop = read<{
  test_key: { kid: string; jwk: Record<string, unknown> }
  counts: { accept: number; reject: number }
  vectors: {
    id: string
    disposition: 'MUST-ACCEPT' | 'MUST-REJECT'
    canonical_utf8_hex: string
    served_card: AgentCard
  }[]
}>('signing_interop_vectors.json')
const depth = read<{
  max_depth: number
  preimage_rule_form: { openers: Record<string, string>; closers?: Record<string, string> }
  vectors: {
    vector_id: string
    outcome: 'accept' | 'reject'
    preimage_rule: { containers: ('object' | 'array')[]; count: number; leaf: string }
    preimage_sha256: string
    expected_sha256?: string
  }[]
}>('jcs_depth_vectors.json')

const keysOf = (jwk: Record<string, unknown>) => {
  const parsed = parseJwk(jwk)
  return new StaticKeySource([{ publicKey: parsed.publicKey, kid: jwk.kid as string }])
}

describe('card canonicalization (RFC 8785) vectors', () => {
  const cases = [...signing.canonicalization_cases, ...canon.cases]
  it.each(cases.map((c) => [c.id, c] as const))('%s: the signing payload is the expected JCS', (_id, c) => {
    expect(cardSigningPayload(c.agent_card)).toBe(c.expected_jcs_payload)
  })
})

describe('card signing vectors (EdDSA, byte-reproducible)', () => {
  const privateKey = parseJwk(signing.private_jwk).privateKey!
  it.each(signing.signing_cases.map((c) => [c.id, c] as const))(
    '%s: header, signing input and signature as published',
    async (_id, c) => {
      const signed = signAgentCard(c.agent_card, { privateKey, kid: c.kid })
      const sig = signed.signatures!.at(-1)!
      expect(sig.protected).toBe(c.expected_protected_b64)
      expect(`${sig.protected}.${Buffer.from(c.expected_jcs_payload).toString('base64url')}`).toBe(
        c.expected_signing_input,
      )
      expect(sig.signature).toBe(c.signature)
      await expect(verifyAgentCard(signed, { keys: keysOf(signing.public_jwk) })).resolves.toMatchObject({
        valid: true,
      })
    },
  )
})

describe('protected header vectors (CARD-SIGN-003)', () => {
  it.each(headers.cases.map((c) => [c.id, c] as const))('%s', (_id, c) => {
    const outcomes = c.agent_card.signatures!.map((s): { header?: ProtectedHeader; error?: string } => {
      try {
        return { header: parseCardSignatureHeader(s) }
      } catch (err) {
        expect(err).toBeInstanceOf(CapiscioError)
        return { error: (err as CapiscioError).message }
      }
    })
    if (c.expected_valid) {
      expect(outcomes.every((o) => o.header !== undefined)).toBe(true)
      expect(outcomes.map((o) => [o.header?.alg, o.header?.kid])).toContainEqual([
        c.decoded_alg,
        c.decoded_kid,
      ])
    } else {
      expect(outcomes.some((o) => o.error === c.expected_error)).toBe(true)
    }
  })
})

describe('cross-SDK signing interop vectors', () => {
  it('has the published counts', () => {
    const accept = interop.vectors.filter((v) => v.disposition === 'MUST-ACCEPT').length
    expect([accept, interop.vectors.length - accept]).toEqual([interop.counts.accept, interop.counts.reject])
  })
  it.each(interop.vectors.map((v) => [v.id, v] as const))('%s', async (_id, v) => {
    expect(Buffer.from(cardSigningPayload(v.served_card)).toString('hex')).toBe(v.canonical_utf8_hex)
    const result = await verifyAgentCard(v.served_card, { keys: keysOf(interop.test_key.jwk) })
    expect(result.valid).toBe(v.disposition === 'MUST-ACCEPT')
  })
})

describe('JCS depth bound vectors', () => {
  it('uses the published bound', () => {
    expect(MAX_JCS_DEPTH).toBe(depth.max_depth)
  })
  const open = { object: '{"a":', array: '[' } as const
  const close = { object: '}', array: ']' } as const
  const materialise = (rule: (typeof depth.vectors)[number]['preimage_rule']) => {
    const kinds = Array.from({ length: rule.count }, (_, i) => rule.containers[i % rule.containers.length]!)
    return (
      kinds.map((k) => open[k]).join('') +
      rule.leaf +
      kinds
        .reverse()
        .map((k) => close[k])
        .join('')
    )
  }
  it.each(depth.vectors.map((v) => [v.vector_id, v] as const))('%s', (_id, v) => {
    const text = materialise(v.preimage_rule)
    expect(createHash('sha256').update(text).digest('hex')).toBe(v.preimage_sha256)
    if (v.outcome === 'accept') {
      expect(createHash('sha256').update(canonicalizeText(text)).digest('hex')).toBe(v.expected_sha256)
    } else {
      expect(() => canonicalizeText(text)).toThrow(
        expect.objectContaining({ code: 'CARD_INVALID' }) as unknown as Error,
      )
    }
  })
})
