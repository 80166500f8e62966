import { startCli, waitForOutput, type Running } from './processes.js'
import { freePort } from './servers.js'

/** `capiscio gateway start` on a free loopback port, as a child process, once it is listening. */
export async function startGatewayCli(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ gw: Running; url: string }> {
  const port = await freePort()
  const gw = startCli(['gateway', 'start', '--port', String(port), '--host', '127.0.0.1', ...args], {
    cwd,
    env,
  })
  await waitForOutput(gw, /listening on/)
  return { gw, url: `http://127.0.0.1:${port}` }
}

/**
 * `capiscio gateway start` on port 0 trusting the client's key, plus `extra`: for the runs expected
 * to refuse their settings before listening (run with runCli, they exit).
 */
export function gatewayStartArgs(...extra: string[]): string[] {
  return ['gateway', 'start', '--port', '0', '--local-key', 'client/public.jwk', ...extra]
}
