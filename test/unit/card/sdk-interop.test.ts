// Card signatures against the official A2A JS SDK: a card we sign verifies with the SDK's own
// verifyAgentCardSignature, a card the SDK signs verifies with ours, and a change after signing
// is refused by both.
import { createPublicKey } from 'node:crypto'

import { describe, expect, it } from '@jest/globals'
import {
  canonicalizeAgentCard,
  generateAgentCardSignature,
  verifyAgentCardSignature,
  type AgentCard as SdkCard,
} from '@a2a-js/sdk'

import {
  cardSigningPayload,
  signAgentCard,
  verifyAgentCard,
  type AgentCard,
} from '../../../src/lib/card/sign.js'
import { StaticKeySource } from '../../../src/lib/keysource/static.js'
import { v1Card } from '../../helpers/cards.js'
import { keyPair } from '../../helpers/keypair.js'

/** A 1.0 card with every required field set and nothing empty, so both canonical readings agree. */
const CARD: AgentCard = v1Card({ name: 'Interop Agent', description: 'Answers questions' })

describe.each(['ed25519', 'ec'] as const)('agent card signatures with the A2A JS SDK (%s)', (type) => {
  const pair = type === 'ed25519' ? keyPair('ed25519') : keyPair('ec', { namedCurve: 'P-256' })
  const publicKey = createPublicKey(pair.privateKey)
  const keys = new StaticKeySource([{ publicKey, kid: 'k1' }])
  const sdkVerify = verifyAgentCardSignature(async () => publicKey)

  it('the SDK canonicalizes this card to the same bytes', () => {
    expect(canonicalizeAgentCard(CARD as unknown as SdkCard)).toBe(cardSigningPayload(CARD))
  })

  it('a card we sign verifies with the SDK, and is refused there once changed', async () => {
    const signed = signAgentCard(CARD, { privateKey: pair.privateKey, kid: 'k1' })
    await expect(sdkVerify(signed as unknown as SdkCard)).resolves.toBeUndefined()
    await expect(sdkVerify({ ...signed, name: 'Other Agent' } as unknown as SdkCard)).rejects.toThrow()
  })

  it('a card the SDK signs verifies with verifyAgentCard, and is refused once changed', async () => {
    const alg = type === 'ed25519' ? 'EdDSA' : 'ES256'
    const sdkSigned = (await generateAgentCardSignature(pair.privateKey, { alg, kid: 'k1', typ: 'JOSE' })(
      CARD as unknown as SdkCard,
    )) as unknown as AgentCard
    await expect(verifyAgentCard(sdkSigned, { keys })).resolves.toMatchObject({ valid: true })
    const changed = await verifyAgentCard({ ...sdkSigned, version: '2.0.0' }, { keys })
    expect(changed).toMatchObject({ valid: false, signatures: [{ status: 'invalid' }] })
  })
})
