// The public library API: re-exports only (DESIGN §2).
export {
  CapiscioError,
  ERROR_CODES,
  EXIT,
  isCapiscioError,
  type ErrorCode,
  type ExitCode,
} from './lib/errors.js'
export { loadConfig, resolveSetting, type CapiscioConfig, type LoadedConfig } from './lib/config.js'
export { generateKey, type GeneratedKey } from './lib/keys/generate.js'
export {
  parseKey,
  parseKeys,
  parseJwk,
  type ParsedKey,
  type ParseOptions,
  type PassphraseSource,
} from './lib/keys/parse.js'
export {
  algOf,
  publicJwkOf,
  privateJwkOf,
  thumbprintOf,
  defaultKidOf,
  KEY_ALGS,
  type KeyAlg,
  type PublicJwk,
} from './lib/keys/key.js'
export { didKeyFromEd25519, didKeyFromX, didKeyOf, publicKeyFromDidKey } from './lib/keys/didkey.js'
export { describeKey, type KeyDescription } from './lib/keys/describe.js'
export { writeKeyDir, readKeyDir, readKeyFrom, KEY_FILES, DEFAULT_KEY_DIR } from './lib/store/keydir.js'
export {
  TrustStore,
  stemForKid,
  type TrustedKey,
  type TrustedKeyInfo,
  type AddResult,
} from './lib/store/truststore.js'
export { addTrustedKeys, type TrustAddOptions } from './lib/store/trust-add.js'
