// Types for agent.mjs.
import type { Express } from 'express'
import type { SimpleGuard } from 'capiscio-toolkit'

export function createAgent(guard: SimpleGuard): Express

export function startAgent(options?: {
  baseDir?: string
  port?: number
  host?: string
  devMode?: boolean
}): Promise<{ url: string; guard: SimpleGuard; close(): Promise<void> }>
