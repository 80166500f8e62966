import { Flags } from '@oclif/core'

/** Flags shared by several commands, so each is described once. */
export const trustDirFlag = Flags.string({
  description: 'trust store directory [default: CAPISCIO_TRUST_DIR, config trustDir, or <key dir>/trusted]',
  helpValue: 'DIR',
})

export const passphraseFileFlag = Flags.string({
  description: 'file holding the private key passphrase (or set CAPISCIO_KEY_PASSPHRASE)',
  helpValue: 'FILE',
})

/**
 * The flag for each library option an error may name (CapiscioError.options), where it is not
 * simply the option in kebab case. The library says `sub is required`; the CLI says `--sub`.
 */
const OPTION_FLAGS: Record<string, string> = {
  passphrase: '--passphrase-file',
  ttlSeconds: '--ttl',
  clockSkewSeconds: '--clock-skew',
  issuers: '--issuer',
  // token mint / token verify
  claims: '--claim',
  roles: '--role',
  privateKey: '--key',
  algorithms: '--alg',
  requiredClaims: '--require-claim',
  maxAgeSeconds: '--max-age',
}

/** `localKey` → `--local-key`, unless the table above names another flag. */
export function flagText(option: string): string {
  return OPTION_FLAGS[option] ?? '--' + option.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())
}
