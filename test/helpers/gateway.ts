import { createGateway, type Gateway, type GatewayOptions } from '../../src/lib/gateway/server.js'
import type { GatewayVerifier, RequestLogEntry } from '../../src/lib/gateway/types.js'
import { echoAgent, startUpstream, type Upstream } from './servers.js'

/** An agent on a loopback port and an in-process gateway in front of it, collecting its log lines. */
export async function gatewayWithAgent(
  verifier: GatewayVerifier,
  overrides: Partial<GatewayOptions> = {},
  handler = echoAgent,
): Promise<{ gw: Gateway; up: Upstream; logs: RequestLogEntry[] }> {
  const up = await startUpstream(handler)
  const logs: RequestLogEntry[] = []
  const gw = await createGateway({ target: up.url, verifier, onLog: (e) => logs.push(e), ...overrides })
  return { gw, up, logs }
}
