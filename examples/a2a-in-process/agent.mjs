// An A2A agent built with the official SDK (@a2a-js/sdk) that protects itself in-process:
// authMiddleware refuses a call without a valid credential (401), and a2aUserBuilder hands the
// verified caller to the SDK, so the AgentExecutor sees it as requestContext.context.user.
//
//   node examples/a2a-in-process/agent.mjs --trust-dir capiscio_keys/trusted   # accept trust badges
//   CAPISCIO_JWT_SECRET=… node examples/a2a-in-process/agent.mjs                 # or bearer JWTs
//
// It prints its URL on the first line of stdout. PORT sets the port (default: any free one).
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'

import express from 'express'
import { A2A_PROTOCOL_VERSION, Role } from '@a2a-js/sdk'
import { AgentEvent, DefaultRequestHandler, InMemoryTaskStore } from '@a2a-js/sdk/server'
import { agentCardHandler, jsonRpcHandler } from '@a2a-js/sdk/server/express'
import {
  a2aUserBuilder,
  authMiddleware,
  BadgeAuthenticator,
  getIdentity,
  JWTAuthenticator,
  TrustStore,
  TrustStoreKeySource,
} from 'capiscio-toolkit'

/** The agent card: public, so that clients can discover how to call the agent. */
export function agentCard(url, securitySchemes) {
  return {
    name: 'Who-am-I agent',
    description: 'Answers with the caller it verified',
    supportedInterfaces: [
      { url, protocolBinding: 'JSONRPC', tenant: '', protocolVersion: A2A_PROTOCOL_VERSION },
    ],
    version: '1.0.0',
    capabilities: { streaming: false, pushNotifications: false, extensions: [], extendedAgentCard: false },
    defaultInputModes: ['text'],
    defaultOutputModes: ['text'],
    skills: [
      {
        id: 'whoami',
        name: 'Who am I',
        description: 'Says who called',
        tags: ['identity'],
        examples: ['who am I?'],
        inputModes: ['text'],
        outputModes: ['text'],
        securityRequirements: [],
      },
    ],
    securityRequirements: [{ schemes: { Bearer: { list: [] } } }],
    securitySchemes: {
      Bearer: {
        scheme: {
          $case: 'httpAuthSecurityScheme',
          value: {
            description: securitySchemes.bearerAuth?.description ?? 'Bearer credential',
            scheme: 'bearer',
            bearerFormat: securitySchemes.bearerAuth?.bearerFormat ?? 'JWT',
          },
        },
      },
    },
    signatures: [],
  }
}

/** Answers with the verified caller: the SDK's User, and the same Identity through getIdentity(). */
class WhoAmIExecutor {
  cancelTask = async () => {}

  async execute(requestContext, eventBus) {
    const user = requestContext.context?.user
    const answer = {
      isAuthenticated: Boolean(user?.isAuthenticated),
      userName: user?.userName ?? '',
      identity: user?.identity ?? null,
      // The identity also travels with the request's async context.
      sameAsContext: getIdentity() === (user?.identity ?? null),
    }
    eventBus.publish(
      AgentEvent.message({
        messageId: randomUUID(),
        role: Role.ROLE_AGENT,
        parts: [
          {
            content: { $case: 'text', value: JSON.stringify(answer) },
            metadata: undefined,
            filename: '',
            mediaType: 'application/json',
          },
        ],
        taskId: requestContext.taskId,
        contextId: requestContext.contextId,
        extensions: [],
        metadata: {},
        referenceTaskIds: [],
      }),
    )
  }
}

/**
 * Starts the agent on 127.0.0.1 behind `authenticator` (a BadgeAuthenticator, a JWTAuthenticator,
 * or any Authenticator). Resolves to {url, close}.
 */
export async function startAgent({ authenticator, port = 0, host = '127.0.0.1' }) {
  const app = express()
  const server = await new Promise((resolve, reject) => {
    const s = app.listen(port, host, (err) => (err ? reject(err) : resolve(s)))
  })
  const url = `http://${host}:${server.address().port}/`
  const requestHandler = new DefaultRequestHandler(
    agentCard(url, authenticator.securitySchemes()),
    new InMemoryTaskStore(),
    new WhoAmIExecutor(),
  )
  // The card stays public: /.well-known/agent-card.json is one of authMiddleware's default exempt paths.
  app.use('/.well-known/agent-card.json', agentCardHandler({ agentCardProvider: requestHandler }))
  app.use(authMiddleware({ authenticator }))
  app.use(jsonRpcHandler({ requestHandler, userBuilder: a2aUserBuilder(authenticator) }))
  return {
    url,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** The authenticator the command line asks for: badges from a trust store, else bearer JWTs. */
function authenticatorFrom(values) {
  const onError = (err) => process.stderr.write(`refused: ${err.code}: ${err.message}\n`)
  if (values['trust-dir'])
    return new BadgeAuthenticator({
      keys: new TrustStoreKeySource(new TrustStore(values['trust-dir'])),
      onError,
    })
  // Reads CAPISCIO_JWT_SECRET or APCORE_JWT_SECRET; throws a usage error when neither is set.
  return new JWTAuthenticator({ onError })
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { 'trust-dir': { type: 'string' } } })
  const agent = await startAgent({
    authenticator: authenticatorFrom(values),
    port: Number(process.env.PORT ?? 0),
  })
  process.stdout.write(agent.url + '\n')
  for (const signal of ['SIGINT', 'SIGTERM'])
    process.once(signal, () => agent.close().then(() => process.exit(0)))
}
