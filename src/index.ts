// The public library API: re-exports only (docs/architecture.md §1).
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
export {
  issueBadge,
  DEFAULT_BADGE_TTL_SECONDS,
  type IssueBadgeOptions,
  type IssuedBadge,
} from './lib/badge/issue.js'
export { verifyBadge, type VerifyBadgeOptions, type VerificationResult } from './lib/badge/verify.js'
export { decodeBadge, type DecodedBadge } from './lib/badge/decode.js'
export { BadgeKeeper, type BadgeKeeperOptions, type KeeperEvent } from './lib/badge/keeper.js'
export { validateClaims, isDid, TRUST_LEVELS, type BadgeClaims, type TrustLevel } from './lib/badge/claims.js'
export { BADGE_ALGS, type BadgeAlg, type SignatureAlg } from './lib/keys/alg.js'
export type { KeySource, KeyQuery, CandidateKey } from './lib/keysource/types.js'
export { StaticKeySource } from './lib/keysource/static.js'
export { TrustStoreKeySource, type TrustStoreSourceOptions } from './lib/keysource/truststore.js'
export {
  RemoteJwksKeySource,
  parseJwks,
  type RemoteJwksOptions,
  type JwksFetchOutcome,
} from './lib/keysource/jwks.js'
export { DidKeySource } from './lib/keysource/didkey.js'
export { keySourceFrom, type KeySourceSpec } from './lib/keysource/index.js'
export { readSigningKey, type SigningKey } from './lib/store/keydir.js'
export { parseDuration } from './lib/duration.js'
export { createGateway, type Gateway, type GatewayOptions } from './lib/gateway/server.js'
export { createBadgeVerifier, type BadgeVerifierOptions } from './lib/gateway/badge-verifier.js'
export { startGateway, type GatewaySettings, type StartedGateway } from './lib/gateway/start.js'
export { GatewayMetrics } from './lib/gateway/metrics.js'
export { MemoryReplayStore } from './lib/gateway/replay.js'
export { RedisReplayStore } from './lib/gateway/replay-redis.js'
export { formatLogLine } from './lib/gateway/log.js'
export type { GatewayIdentity, GatewayVerifier, ReplayStore, RequestLogEntry } from './lib/gateway/types.js'
export { TOKEN_ALGS, HMAC_ALGS, MIN_SECRET_BYTES, type TokenAlg } from './lib/token/algs.js'
export {
  mintToken,
  DEFAULT_TOKEN_TTL_SECONDS,
  type MintTokenOptions,
  type MintedToken,
} from './lib/token/mint.js'
export {
  verifyToken,
  createTokenVerifier,
  type VerifyTokenOptions,
  type VerifiedToken,
  type TokenVerifier,
} from './lib/token/verify.js'
export {
  claimToString,
  identityFromClaims,
  makeIdentity,
  DEFAULT_CLAIM_MAPPING,
  type Identity,
  type ClaimMapping,
} from './lib/auth/identity.js'
export type { Authenticator, SecurityScheme } from './lib/auth/authenticator.js'
export type { HeaderBag } from './lib/auth/headers.js'
export { JWTAuthenticator, SECRET_ENV, type JWTAuthenticatorOptions } from './lib/auth/jwt.js'
export { BadgeAuthenticator, type BadgeAuthenticatorOptions } from './lib/auth/badge.js'
export { getIdentity, runWithIdentity } from './lib/auth/context.js'
export {
  authMiddleware,
  withAuth,
  DEFAULT_EXEMPT_PATHS,
  type AuthMiddlewareOptions,
} from './lib/auth/middleware.js'
export {
  a2aUserBuilder,
  credentialInterceptor,
  CapiscioUser,
  type CredentialInterceptorOptions,
} from './lib/auth/a2a.js'
export { SimpleGuard, findProjectRoot, type SimpleGuardOptions } from './lib/guard/guard.js'
export {
  bodyHash,
  EMPTY_BODY_HASH,
  GUARD_CLOCK_SKEW_SECONDS,
  GUARD_TOKEN_TTL_SECONDS,
  signGuardToken,
  verifyGuardToken,
  type Body,
  type GuardClaims,
  type GuardKeyLookup,
  type LazyBody,
  type SignGuardTokenOptions,
  type VerifiedGuardToken,
  type VerifyGuardTokenOptions,
} from './lib/guard/token.js'
export {
  captureRawBody,
  guardedFetch,
  requireSignature,
  signResponse,
  SIGNATURE_HEADER,
  type GuardedFetchOptions,
  type RequireSignatureOptions,
} from './lib/guard/http.js'
export { canonicalize, canonicalizeText, MAX_JCS_DEPTH } from './lib/card/canonicalize.js'
export {
  cardSigningPayload,
  parseCardSignatureHeader,
  signAgentCard,
  verifyAgentCard,
  type AgentCard,
  type CardSignature,
  type CardVerification,
  type ProtectedHeader,
  type SignAgentCardOptions,
  type SignatureReport,
} from './lib/card/sign.js'
export { answerCard, cardHandler, CARD_PATHS, servedCard, type ServedCard } from './lib/card/serve.js'
export { loadCard as loadAgentCard, parseCard } from './lib/card/load.js'
export { CARD_V1_MEMBERS, portabilityIssues } from './lib/card/portable.js'
export {
  CARD_RULES,
  validateAgentCard,
  type CardFinding,
  type CardRule,
  type CardValidation,
} from './lib/card/validate.js'
export { discoverCard, type DiscoveredCard } from './lib/card/discover.js'
export {
  buildAgentCard,
  inputFromPartialCard,
  missingCardFields,
  parseSkillSpec,
  REQUIRED_CARD_FIELDS,
  type CardInput,
  type CardVersion,
  type SkillInput,
} from './lib/card/build.js'
