import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const BIN = join(ROOT, 'bin', 'run.js')
/** The shared conformance data, beside the repository (../shared/conformance). */
export const CONFORMANCE = resolve(ROOT, '..', 'shared', 'conformance')
