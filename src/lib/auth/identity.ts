/** Who an authenticated caller is (docs/architecture.md §7): the same shape for every credential. */
export interface Identity {
  readonly id: string
  /** "user", "service", "agent", …: the token's type claim, "user" when it has none. */
  readonly type: string
  readonly roles: readonly string[]
  /** The claims ClaimMapping.attrsClaims names, as the token carries them. */
  readonly attrs: Readonly<Record<string, unknown>>
}

/**
 * The value as an Identity, or null when it is not one: what an Authenticator answered is trusted
 * only in that shape. A custom authenticator (plain JS, or one that forgot a return) answering
 * undefined, false or {} must refuse the request, never let it through without an identity.
 */
export function asIdentity(value: unknown): Identity | null {
  if (typeof value !== 'object' || value === null) return null
  const v = value as Partial<Record<keyof Identity, unknown>>
  return typeof v.id === 'string' &&
    v.id !== '' &&
    typeof v.type === 'string' &&
    Array.isArray(v.roles) &&
    typeof v.attrs === 'object' &&
    v.attrs !== null
    ? (value as Identity)
    : null
}

/** Which claims make an Identity (the defaults are apcore's). */
export interface ClaimMapping {
  /** Default "sub". */
  idClaim?: string
  /** Default "type". */
  typeClaim?: string
  /** Default "roles". */
  rolesClaim?: string
  /** Claims copied into attrs (default none). */
  attrsClaims?: readonly string[]
}

export const DEFAULT_CLAIM_MAPPING: Required<ClaimMapping> = Object.freeze({
  idClaim: 'sub',
  typeClaim: 'type',
  rolesClaim: 'roles',
  attrsClaims: Object.freeze([]) as readonly string[],
})

/**
 * The one coercion rule for claims that must be strings (conformance
 * apcore/jwt_claim_coercion.json): a string as it is (empty included), a number in its JSON
 * spelling, a boolean as "true"/"false"; anything else (null, an object, an array) is not a string.
 */
export function claimToString(value: unknown): string | null {
  switch (typeof value) {
    case 'string':
      return value
    case 'number':
      return Number.isFinite(value) ? String(value) : null
    case 'boolean':
      return value ? 'true' : 'false'
    default:
      return null
  }
}

/** A claim the token itself carries, never one inherited from Object.prototype ("constructor"). */
function own(claims: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : undefined
}

/**
 * Maps verified claims to an Identity, or null when the id claim is missing, empty or not a
 * scalar. An absent or null type is "user"; an explicit "" stays "". Roles keep their scalar
 * elements, coerced; objects and arrays among them are dropped; a roles claim that is not an array
 * gives no roles.
 */
export function identityFromClaims(
  claims: Record<string, unknown>,
  mapping: ClaimMapping = {},
): Identity | null {
  return claimMapper(mapping)(claims)
}

/** identityFromClaims with the mapping resolved once, for a verifier that maps every request. */
export function claimMapper(
  mapping: ClaimMapping = {},
): (claims: Record<string, unknown>) => Identity | null {
  const { idClaim, typeClaim, rolesClaim, attrsClaims } = { ...DEFAULT_CLAIM_MAPPING, ...mapping }
  const attrNames = [...attrsClaims]
  // It runs for every request: one pass, no intermediate arrays, a shared empty attrs object.
  return (claims) => {
    const id = claimToString(own(claims, idClaim))
    if (id === null || id === '') return null
    const type = claimToString(own(claims, typeClaim)) ?? 'user'
    const rawRoles = own(claims, rolesClaim)
    const roles: string[] = []
    if (Array.isArray(rawRoles)) {
      for (const r of rawRoles) {
        const role = claimToString(r)
        if (role !== null) roles.push(role)
      }
    }
    let attrs = NO_ATTRS
    if (attrNames.length > 0) {
      const picked: Record<string, unknown> = {}
      for (const name of attrNames) {
        if (Object.hasOwn(claims, name))
          Object.defineProperty(picked, name, { value: claims[name], enumerable: true })
      }
      attrs = Object.freeze(picked)
    }
    return Object.freeze({ id, type, roles: Object.freeze(roles), attrs })
  }
}

const NO_ATTRS: Readonly<Record<string, unknown>> = Object.freeze({})

/** A frozen Identity: it is shared by everything that runs for the request, so nothing may change it. */
export function makeIdentity(
  id: string,
  type: string,
  roles: readonly string[],
  attrs: Record<string, unknown> = {},
): Identity {
  return Object.freeze({
    id,
    type,
    roles: Object.freeze([...roles]),
    attrs: Object.freeze(attrs),
  })
}
