// An A2A client built with the official SDK that calls a protected agent with a fresh credential
// on every call: credentialInterceptor asks a BadgeKeeper, which renews the badge before it
// expires, so a long-running client keeps working past any one badge's lifetime.
//
//   node examples/a2a-in-process/client.mjs --url http://127.0.0.1:PORT/ --key client/ \
//     --sub did:web:client.example.com --ttl 5 --calls 3 --every 3
//   CAPISCIO_JWT_SECRET=… node examples/a2a-in-process/client.mjs --url … --sub alice   # a bearer JWT instead
//
// Each reply is printed as one JSON line on stdout.
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'

import { Role } from '@a2a-js/sdk'
import { ClientFactory, ClientFactoryOptions } from '@a2a-js/sdk/client'
import { BadgeKeeper, credentialInterceptor, issueBadge, mintToken, readSigningKey } from 'capiscio-toolkit'

/** An SDK client for the agent at `url` whose every call carries `credential` (a BadgeKeeper or a function). */
export async function connect(url, credential) {
  const factory = new ClientFactory(
    ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
      clientConfig: { interceptors: [credentialInterceptor({ credential })] },
    }),
  )
  return factory.createFromUrl(url)
}

/** Sends one text message and returns the agent's reply text. */
export async function ask(client, text) {
  const reply = await client.sendMessage({
    tenant: '',
    metadata: {},
    message: {
      messageId: randomUUID(),
      role: Role.ROLE_USER,
      parts: [
        {
          content: { $case: 'text', value: text },
          metadata: undefined,
          filename: '',
          mediaType: 'text/plain',
        },
      ],
      taskId: '',
      contextId: '',
      extensions: [],
      metadata: {},
      referenceTaskIds: [],
    },
    configuration: undefined,
  })
  const part = reply.parts?.find((p) => p.content?.$case === 'text')
  return part?.content.value
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      key: { type: 'string' },
      sub: { type: 'string' },
      ttl: { type: 'string', default: '300' },
      'renew-before': { type: 'string' },
      calls: { type: 'string', default: '1' },
      every: { type: 'string', default: '0' },
    },
  })
  if (!values.url || !values.sub) {
    process.stderr.write(
      'usage: client.mjs --url URL --sub SUBJECT [--key KEYDIR] [--ttl S] [--calls N] [--every S]\n',
    )
    process.exit(2)
  }
  const ttlSeconds = Number(values.ttl)
  let credential
  let keeper
  if (values.key) {
    const { privateKey, kid } = await readSigningKey(values.key)
    keeper = new BadgeKeeper({
      issue: () => issueBadge({ privateKey, kid, sub: values.sub, ttlSeconds }),
      renewBeforeSeconds: Number(values['renew-before'] ?? Math.min(60, Math.floor(ttlSeconds / 3))),
    })
    await keeper.start()
    credential = keeper
  } else {
    // Reads CAPISCIO_JWT_SECRET (or APCORE_JWT_SECRET) for a short-lived token per call.
    const secret = process.env.CAPISCIO_JWT_SECRET ?? process.env.APCORE_JWT_SECRET
    credential = () => mintToken({ sub: values.sub, secret, ttlSeconds }).token
  }
  try {
    const client = await connect(values.url, credential)
    for (let i = 0; i < Number(values.calls); i++) {
      if (i > 0) await sleep(Number(values.every) * 1000)
      process.stdout.write((await ask(client, 'who am I?')) + '\n')
    }
  } catch (err) {
    process.stderr.write(`call failed: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  } finally {
    await keeper?.stop()
  }
}
