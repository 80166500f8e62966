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
