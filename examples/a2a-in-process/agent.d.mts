// Types for agent.mjs, so that TypeScript code (and this repository's tests) can use it.
import type { Authenticator, SecurityScheme } from 'capiscio-toolkit'

export function agentCard(
  url: string,
  securitySchemes: Record<string, SecurityScheme>,
): Record<string, unknown>

export function startAgent(options: {
  authenticator: Authenticator
  port?: number
  host?: string
}): Promise<{ url: string; close(): Promise<void> }>
