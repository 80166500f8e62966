// The Python SDK's Flask guide, in Node: an A2A agent whose task endpoint accepts only requests
// signed by a trusted caller over their exact body (SimpleGuard), signs every answer into
// X-A2A-Signature, answers failures as JSON-RPC errors, and serves its agent card to anyone.
//
//   capiscio key gen                                   # the agent's key, in ./capiscio_keys
//   capiscio trust add ../caller/capiscio_keys/public.jwk   # the caller it accepts
//   node examples/express-agent/agent.mjs              # PORT (default 8000), CAPISCIO_DEV_MODE
import { pathToFileURL } from 'node:url'

import express from 'express'
import { captureRawBody, getIdentity, requireSignature, signResponse, SimpleGuard } from 'capiscio-toolkit'

/** The agent card: public (it says how to call the agent, not who may). */
const CARD = {
  name: 'Express SimpleGuard agent',
  description: 'Echoes tasks from trusted callers; every request and answer is signed',
  url: '/a2a/tasks',
  version: '1.0.0',
  capabilities: { streaming: false },
  skills: [{ id: 'echo', name: 'Echo', description: 'Returns the task it was sent' }],
}

/** JSON-RPC error answers for what goes wrong after authentication. */
function rpcError(res, status, code, message, id = null) {
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id })
}

/** The Express app around a SimpleGuard (its keys and trust store under the guard's project root). */
export function createAgent(guard) {
  const app = express()
  app.disable('x-powered-by')
  app.get('/.well-known/agent-card.json', (_req, res) => {
    res.json(CARD)
  })
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' })
  })
  // Parsed for the handler, with the exact bytes kept for the signature check.
  app.use(express.json({ verify: captureRawBody, limit: '1mb' }))
  const tasks = express.Router()
  tasks.use(signResponse(guard))
  tasks.use(requireSignature(guard, { errorFormat: 'jsonrpc' }))
  tasks.post('/', (req, res) => {
    const { id = null, method, params } = req.body ?? {}
    if (method !== 'tasks/send') return rpcError(res, 400, -32601, `method not found: ${String(method)}`, id)
    res.json({
      jsonrpc: '2.0',
      result: { status: 'completed', echo: params ?? null, caller: getIdentity()?.id ?? null },
      id,
    })
  })
  app.use('/a2a/tasks', tasks)
  // A body that is not JSON, or anything thrown: a JSON-RPC error, never an HTML stack trace.
  app.use((err, _req, res, _next) => {
    if (err?.type === 'entity.parse.failed') return rpcError(res, 400, -32700, 'parse error')
    if (err?.type === 'entity.too.large') return rpcError(res, 413, -32600, 'request too large')
    rpcError(res, 500, -32603, 'internal error')
  })
  return app
}

/** Starts the agent; resolves to {url, guard, close}. */
export async function startAgent({
  baseDir = process.cwd(),
  port = 0,
  host = '127.0.0.1',
  devMode = false,
} = {}) {
  const guard = new SimpleGuard({ baseDir, devMode })
  await guard.whoami() // the key is loaded (or, in dev mode, made) before the first request
  const app = createAgent(guard)
  const server = await new Promise((resolve, reject) => {
    const s = app.listen(port, host, (err) => (err ? reject(err) : resolve(s)))
  })
  return {
    url: `http://${host}:${server.address().port}`,
    guard,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const devMode = ['1', 'true', 'yes'].includes(String(process.env.CAPISCIO_DEV_MODE ?? '').toLowerCase())
  try {
    const agent = await startAgent({
      port: Number(process.env.PORT ?? 8000),
      host: process.env.HOST ?? '127.0.0.1',
      devMode,
    })
    const { agentId, kid } = await agent.guard.whoami()
    process.stdout.write(`${agent.url}\n`)
    process.stderr.write(`agent ${agentId} (kid ${kid}); trusting keys in ${agent.guard.trustDir}\n`)
    for (const signal of ['SIGINT', 'SIGTERM'])
      process.once(signal, () => agent.close().then(() => process.exit(0)))
  } catch (err) {
    process.stderr.write(`cannot start: ${err.message}${err.hint ? `\n${err.hint}` : ''}\n`)
    process.exit(1)
  }
}
