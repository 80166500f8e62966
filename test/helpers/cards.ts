import type { AgentCard } from '../../src/lib/card/sign.js'

/**
 * An A2A 1.0 agent card with every member set and nothing empty, so that RFC 8785 and the A2A JS
 * SDK agree on its canonical bytes. Tests change what they are about through `overrides`.
 */
export function v1Card(
  overrides: Record<string, unknown> = {},
  url = 'https://agent.example.com/a2a',
): AgentCard {
  return {
    name: 'Agent',
    description: 'Does things',
    version: '1.0.0',
    supportedInterfaces: [{ url, protocolBinding: 'JSONRPC', protocolVersion: '1.0' }],
    capabilities: { streaming: true },
    defaultInputModes: ['text/plain'],
    defaultOutputModes: ['text/plain'],
    skills: [{ id: 'x', name: 'X', description: 'x', tags: ['x'] }],
    ...overrides,
  }
}
