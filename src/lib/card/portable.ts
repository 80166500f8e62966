/**
 * The members of an A2A 1.0 agent card (a2a.proto's AgentCard, in JSON names). The official A2A JS
 * SDK canonicalizes a card after a round trip through that schema, which drops any other member,
 * and after removing empty strings, arrays and objects; plain RFC 8785 keeps both. A card holding
 * either is signed over different bytes by the two, so a signature made by one fails in the other.
 */
export const CARD_V1_MEMBERS: readonly string[] = [
  'name',
  'description',
  'supportedInterfaces',
  'provider',
  'version',
  'documentationUrl',
  'capabilities',
  'securitySchemes',
  'securityRequirements',
  'defaultInputModes',
  'defaultOutputModes',
  'skills',
  'signatures',
  'iconUrl',
]

/** Where the card holds members that make the SDK's bytes differ from RFC 8785's: JSON paths. */
export function portabilityIssues(card: Record<string, unknown>): string[] {
  const issues: string[] = []
  for (const key of Object.keys(card))
    if (!CARD_V1_MEMBERS.includes(key)) issues.push(`${key} (not an A2A 1.0 card member)`)
  const walk = (value: unknown, path: string): void => {
    if (value === '' || (Array.isArray(value) && value.length === 0)) issues.push(`${path} (empty)`)
    else if (
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      Object.keys(value).length === 0
    )
      issues.push(`${path} (empty)`)
    else if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`))
    else if (typeof value === 'object' && value !== null)
      for (const [k, v] of Object.entries(value)) walk(v, path === '' ? k : `${path}.${k}`)
  }
  for (const [k, v] of Object.entries(card)) if (k !== 'signatures') walk(v, k)
  return issues
}
