import { Flags } from '@oclif/core'

import { parseDuration, parseTime } from './lib/duration.js'
import type { IssueBadgeOptions } from './lib/badge/issue.js'
import { readKeyFrom, readSigningKey } from './lib/store/keydir.js'
import type { PassphraseSource } from './lib/keys/parse.js'
import { CapiscioError } from './lib/errors.js'
import { passphraseFileFlag } from './flags.js'
import { commaList } from './token-flags.js'

/** The flags `badge issue` and `badge keep` share: what goes into a badge and what signs it. */
export const issueFlags = {
  aud: Flags.string({
    description: 'audience (repeat the flag or give a comma list)',
    multiple: true,
    helpValue: 'AUD',
  }),
  domain: Flags.string({ description: "the subject agent's domain (vc.credentialSubject.domain)" }),
  iss: Flags.string({ description: "issuer DID or https URL [default: the key's did:key]" }),
  key: Flags.string({
    description: 'signing key: private.jwk, private.pem or a key directory',
    helpValue: 'FILE',
  }),
  level: Flags.integer({ description: 'trust level 0-4 [default: 1; self-signed: 0]', min: 0, max: 4 }),
  nbf: Flags.string({ description: 'not valid before: unix seconds, an ISO 8601 date or +DURATION' }),
  'passphrase-file': passphraseFileFlag,
  'self-sign': Flags.boolean({ description: "self-signed badge: iss = sub = the key's did:key, level 0" }),
  sub: Flags.string({
    description: 'subject agent DID, e.g. did:web:agent.example.com (required unless --self-sign)',
  }),
  'subject-key': Flags.string({
    description: "the subject's public key for the key claim",
    helpValue: 'FILE',
  }),
  ttl: Flags.string({ description: 'lifetime: 300, 90s, 5m, 1h [default: 5m]' }),
}

export interface IssueFlagValues {
  aud?: string[]
  domain?: string
  iss?: string
  key?: string
  level?: number
  nbf?: string
  'self-sign'?: boolean
  sub?: string
  'subject-key'?: string
  ttl?: string
}

/**
 * Turns the issue flags into IssueBadgeOptions. `defaultKey` gives the key directory used by
 * --self-sign without --key (asked for only then: reading the config costs start-up time).
 */
export async function issueOptionsFromFlags(
  flags: IssueFlagValues,
  passphrase: PassphraseSource,
  defaultKey: () => Promise<string>,
): Promise<Omit<IssueBadgeOptions, 'now'>> {
  const keyPath = flags.key ?? (flags['self-sign'] ? await defaultKey() : undefined)
  if (keyPath === undefined) {
    throw new CapiscioError('USAGE', '--key is required', {
      hint: 'pass --key private.jwk (or --self-sign to use ./capiscio_keys)',
    })
  }
  const signing = await readSigningKey(keyPath, { passphrase })
  const options: Omit<IssueBadgeOptions, 'now'> = { privateKey: signing.privateKey, kid: signing.kid }
  if (flags['self-sign']) options.selfSigned = true
  if (flags.sub !== undefined) options.sub = flags.sub
  if (flags.iss !== undefined) options.iss = flags.iss
  if (flags.domain !== undefined) options.domain = flags.domain
  if (flags.level !== undefined) options.level = String(flags.level) as IssueBadgeOptions['level']
  // `--aud ''` is a mistake (an unset variable), not a badge for every audience.
  const aud = commaList(flags.aud, '--aud')
  if (aud) options.aud = aud
  options.ttlSeconds = flags.ttl === undefined ? undefined : parseDuration(flags.ttl, '--ttl')
  if (flags.nbf !== undefined) options.nbf = parseTime(flags.nbf, Date.now(), '--nbf')
  if (flags['subject-key'] !== undefined)
    options.subjectKey = (await readKeyFrom(flags['subject-key'], { prefer: 'public' })).publicKey
  return options
}
