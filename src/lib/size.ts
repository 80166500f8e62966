import { CapiscioError } from './errors.js'

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
}

/** Parses a byte size as nginx writes them: `1048576`, `512k`, `10mb`, `1g` (binary units). */
export function parseSize(text: string, what = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text)
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined
  if (!m || unit === undefined)
    throw new CapiscioError('USAGE', `${what} "${text}" is not a size; write 1048576, 512k, 10mb or 1g`)
  return Math.floor(Number(m[1]) * unit)
}
