// portabilityIssues against the official A2A JS SDK's own canonicalization: a card it finds nothing
// in canonicalizes to the same bytes under the SDK; each member it names makes the bytes differ.
import { describe, expect, it } from '@jest/globals'
import { canonicalizeAgentCard, type AgentCard as SdkCard } from '@a2a-js/sdk'

import { portabilityIssues } from '../../../src/lib/card/portable.js'
import { cardSigningPayload, type AgentCard } from '../../../src/lib/card/sign.js'
import { v1Card } from '../../helpers/cards.js'

const BASE: AgentCard = v1Card()
const sdkBytes = (card: AgentCard) => canonicalizeAgentCard(card as unknown as SdkCard)

describe('portabilityIssues', () => {
  it('finds nothing in a card with every member set and nothing empty, and the SDK agrees on its bytes', () => {
    expect(portabilityIssues(BASE)).toEqual([])
    expect(sdkBytes(BASE)).toBe(cardSigningPayload(BASE))
  })

  it.each<[string, AgentCard, string]>([
    ['an empty description', { ...BASE, description: '' }, 'description (empty)'],
    ['an empty skills array', { ...BASE, skills: [] }, 'skills (empty)'],
    ['an empty capabilities object', { ...BASE, capabilities: {} }, 'capabilities (empty)'],
    [
      'a member outside the 1.0 card',
      { ...BASE, url: 'https://agent.example.com' },
      'url (not an A2A 1.0 card member)',
    ],
    [
      'an empty string deep inside',
      { ...BASE, provider: { organization: 'Org', url: '' } },
      'provider.url (empty)',
    ],
  ])('names %s, and the SDK signs other bytes for it', (_name, card, issue) => {
    expect(portabilityIssues(card)).toContain(issue)
    expect(sdkBytes(card)).not.toBe(cardSigningPayload(card))
  })
})
