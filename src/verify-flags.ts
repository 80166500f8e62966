import { Flags } from '@oclif/core'

import { parseDuration } from './lib/duration.js'
import { commaList } from './token-flags.js'
import type { VerifyBadgeOptions } from './lib/badge/verify.js'

/** Verifier flags shared by `badge verify` and `gateway start`. */
export const verifierFlags = {
  'accept-self-signed': Flags.boolean({ description: 'accept self-signed badges (did:key issuer, level 0)' }),
  audience: Flags.string({ description: "this verifier's identity; a badge with an aud must list it" }),
  'clock-skew': Flags.string({ description: 'tolerated clock difference [default: 60s]' }),
  issuer: Flags.string({
    description: 'allowed issuer (repeatable); others are refused before any key lookup',
    multiple: true,
  }),
}

export interface VerifierFlagValues {
  'accept-self-signed'?: boolean
  audience?: string
  'clock-skew'?: string
  issuer?: string[]
  'max-age'?: string
}

export function verifyOptionsFromFlags(flags: VerifierFlagValues): Omit<VerifyBadgeOptions, 'keys'> {
  const options: Omit<VerifyBadgeOptions, 'keys'> = {}
  if (flags['accept-self-signed']) options.acceptSelfSigned = true
  if (flags.audience !== undefined) options.audience = flags.audience
  if (flags['clock-skew'] !== undefined)
    options.clockSkewSeconds = parseDuration(flags['clock-skew'], '--clock-skew')
  if (flags['max-age'] !== undefined) options.maxAgeSeconds = parseDuration(flags['max-age'], '--max-age')
  if (flags.issuer?.length) options.issuers = commaList(flags.issuer, '--issuer')
  return options
}
