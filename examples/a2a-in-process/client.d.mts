// Types for client.mjs, so that TypeScript code (and this repository's tests) can use it.
import type { Client } from '@a2a-js/sdk/client'

export function connect(
  url: string,
  credential: { current(): Promise<string> } | (() => string | Promise<string>),
): Promise<Client>

export function ask(client: Client, text: string): Promise<string | undefined>
