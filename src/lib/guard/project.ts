import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

/** The nearest ancestor (or the directory itself) holding agent-card.json, else the directory. */
export function findProjectRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'agent-card.json'))) return dir
    if (dirname(dir) === dir) return start
  }
}

/** The legacy agent-card.json `agent_id` the Python SDK reads, when there is one. */
export function agentIdFromCard(root: string): string | undefined {
  try {
    const card = JSON.parse(readFileSync(join(root, 'agent-card.json'), 'utf8')) as { agent_id?: unknown }
    return typeof card.agent_id === 'string' && card.agent_id !== '' ? card.agent_id : undefined
  } catch {
    return undefined
  }
}
