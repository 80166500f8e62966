import {
  createECDH,
  createPrivateKey,
  createPublicKey,
  X509Certificate,
  type KeyObject,
  type JsonWebKey,
} from 'node:crypto'

import { CapiscioError } from '../errors.js'
import { isDidKey, publicKeyFromDidKey } from './didkey.js'
import { algOf, type KeyAlg } from './key.js'

/** A passphrase, or a way to ask for one only when an encrypted key actually needs it. */
export type PassphraseSource = string | (() => Promise<string>)

export interface ParsedKey {
  publicKey: KeyObject
  /** Present when the input held private material. */
  privateKey?: KeyObject
  /** The kid written in the input (JWK/JWKS), or the did:key itself; undefined for PEM. */
  kid?: string
  alg: KeyAlg
  format: 'jwk' | 'jwks' | 'pem' | 'did:key'
}

export interface ParseOptions {
  passphrase?: PassphraseSource
}

/** A JWKS bigger than this is not a key set anyone should trust wholesale. */
const MAX_JWKS_KEYS = 100
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

/**
 * Reads key material by content, not by file name: a JWK, a JWKS, PEM (SPKI, PKCS#8, encrypted
 * PKCS#8, SEC1/PKCS#1, X.509 certificate) or a did:key string. Every failure is a coded error that
 * never echoes the input, since it may hold private material.
 */
export async function parseKeys(text: string, options: ParseOptions = {}): Promise<ParsedKey[]> {
  // A passphrase source is asked only when the key is encrypted.
  const ask = typeof options.passphrase === 'function' && isEncryptedPem(text)
  const passphrase = ask ? await (options.passphrase as () => Promise<string>)() : options.passphrase
  return parseKeysSync(text, { passphrase: typeof passphrase === 'string' ? passphrase : undefined })
}

/** parseKeys for callers that cannot wait (a constructor); an encrypted key needs its passphrase given. */
export function parseKeysSync(text: string, options: { passphrase?: string | undefined } = {}): ParsedKey[] {
  const trimmed = text.replace(/^\uFEFF/, '').trim()
  if (trimmed === '') throw new CapiscioError('KEY_INVALID', 'the key input is empty')
  if (trimmed.startsWith('{')) return parseJson(trimmed)
  if (trimmed.startsWith('-----BEGIN ')) return [parsePem(trimmed, options.passphrase)]
  if (isDidKey(trimmed)) return [fromDidKey(trimmed)]
  throw new CapiscioError('KEY_INVALID', 'the input is not a JWK, JWKS, PEM key or did:key', {
    hint: 'give a public.jwk, public.pem, private.pem or a did:key:z6Mk… string',
  })
}

/** Like parseKeys, but the input must hold exactly one key. */
export async function parseKey(text: string, options: ParseOptions = {}): Promise<ParsedKey> {
  const keys = await parseKeys(text, options)
  if (keys.length !== 1) {
    throw new CapiscioError('KEY_INVALID', `expected one key but the JWKS holds ${keys.length}`)
  }
  return keys[0]!
}

function fromDidKey(did: string): ParsedKey {
  if (/\s/.test(did)) throw new CapiscioError('KEY_INVALID', 'a did:key must be a single token')
  const publicKey = publicKeyFromDidKey(did)
  return { publicKey, kid: did.split('#', 1)[0], alg: 'EdDSA', format: 'did:key' }
}

function parseJson(text: string): ParsedKey[] {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    throw new CapiscioError('KEY_INVALID', 'the key input looks like JSON but does not parse')
  }
  if (!isObject(doc)) throw new CapiscioError('KEY_INVALID', 'a JWK must be a JSON object')
  if ('keys' in doc) {
    const keys = doc.keys
    if (!Array.isArray(keys)) throw new CapiscioError('KEY_INVALID', 'a JWKS must have a "keys" array')
    if (keys.length === 0) throw new CapiscioError('KEY_INVALID', 'the JWKS holds no keys')
    if (keys.length > MAX_JWKS_KEYS) {
      throw new CapiscioError(
        'KEY_INVALID',
        `the JWKS holds ${keys.length} keys; the limit is ${MAX_JWKS_KEYS}`,
      )
    }
    return keys.map((k, i) => parseJwk(k, `key ${i + 1} of the JWKS`, 'jwks'))
  }
  return [parseJwk(doc, 'the JWK', 'jwk')]
}

export function parseJwk(value: unknown, what = 'the JWK', format: 'jwk' | 'jwks' = 'jwk'): ParsedKey {
  if (!isObject(value) || typeof value.kty !== 'string') {
    throw new CapiscioError('KEY_INVALID', `${what} has no "kty" member`)
  }
  if (value.kty === 'oct') {
    throw new CapiscioError(
      'KEY_UNSUPPORTED',
      `${what} is a symmetric (oct) key; only asymmetric keys are accepted`,
    )
  }
  if (value.kid !== undefined && typeof value.kid !== 'string') {
    throw new CapiscioError('KEY_INVALID', `${what} has a "kid" that is not a string`)
  }
  const isPrivate = PRIVATE_JWK_MEMBERS.some((m) => value[m] !== undefined)
  let publicKey: KeyObject
  let privateKey: KeyObject | undefined
  try {
    if (isPrivate) {
      privateKey = createPrivateKey({ key: value as JsonWebKey, format: 'jwk' })
      publicKey = createPublicKey(privateKey)
    } else {
      publicKey = createPublicKey({ key: value as JsonWebKey, format: 'jwk' })
    }
  } catch (err) {
    throw new CapiscioError('KEY_INVALID', `${what} is not a valid ${value.kty} key`, { cause: err })
  }
  const alg = algOf(publicKey)
  if (privateKey) assertPublicPartMatches(value, privateKey, what)
  if (value.alg !== undefined && value.alg !== alg) {
    throw new CapiscioError(
      'KEY_INVALID',
      `${what} says alg ${String(value.alg)} but its key signs with ${alg}`,
    )
  }
  const parsed: ParsedKey = { publicKey, alg, format }
  if (privateKey) parsed.privateKey = privateKey
  if (typeof value.kid === 'string') parsed.kid = value.kid
  return parsed
}

/**
 * A private JWK carries its public members too; Node builds the key from them without checking
 * them against the private part, so a JWK with another key's x (or x and y) would sign with one key
 * and announce another. The public members are derived from the private part here and compared.
 */
function assertPublicPartMatches(value: Record<string, unknown>, privateKey: KeyObject, what: string): void {
  let derived: Record<string, string | undefined>
  try {
    derived = derivedPublicMembers(privateKey)
  } catch (err) {
    throw new CapiscioError('KEY_INVALID', `${what} is not a valid ${String(value.kty)} key`, {
      cause: err,
    })
  }
  for (const [member, expected] of Object.entries(derived)) {
    if (value[member] !== expected)
      throw new CapiscioError('KEY_INVALID', `the public part of ${what} does not match its private key`)
  }
}

/** The public members of a private key, computed from its private part alone (OKP: x; EC: x, y). */
function derivedPublicMembers(privateKey: KeyObject): Record<string, string | undefined> {
  const jwk = privateKey.export({ format: 'jwk' })
  if (jwk.kty === 'OKP') {
    // An OKP key's public half is computed from its seed, whatever x the JWK said.
    return { x: createPublicKey(privateKey).export({ format: 'jwk' }).x }
  }
  if (jwk.kty === 'EC') {
    // Node keeps an EC JWK's x and y as given, so the point is computed from d here (algOf allows P-256 only).
    const ecdh = createECDH('prime256v1')
    ecdh.setPrivateKey(Buffer.from(jwk.d!, 'base64url'))
    const point = ecdh.getPublicKey() // 0x04 ‖ x ‖ y
    return {
      x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33, 65).toString('base64url'),
    }
  }
  // RSA: n and e are the key itself; there is no separate public part to contradict.
  return {}
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----/

function parsePem(text: string, passphrase: string | undefined): ParsedKey {
  const label = PEM_BLOCK.exec(text)?.[1]
  try {
    switch (label) {
      case 'PUBLIC KEY':
      case 'RSA PUBLIC KEY':
        return fromPublic(createPublicKey(text))
      case 'CERTIFICATE':
        return fromPublic(new X509Certificate(text).publicKey)
      case 'PRIVATE KEY':
      case 'EC PRIVATE KEY':
      case 'RSA PRIVATE KEY':
        if (!/Proc-Type: 4,ENCRYPTED/.test(text)) return fromPrivate(createPrivateKey(text))
        return fromPrivate(decrypt(text, passphrase))
      case 'ENCRYPTED PRIVATE KEY':
        return fromPrivate(decrypt(text, passphrase))
      default:
        throw new CapiscioError('KEY_INVALID', `PEM type "${label ?? '?'}" is not a key the toolkit reads`)
    }
  } catch (err) {
    if (err instanceof CapiscioError) throw err
    throw new CapiscioError(
      'KEY_INVALID',
      `the PEM ${label?.toLowerCase() ?? 'block'} is corrupt or truncated`,
      {
        cause: err,
      },
    )
  }
}

function decrypt(text: string, passphrase: string | undefined): KeyObject {
  if (passphrase === undefined) {
    throw new CapiscioError(
      'KEY_PASSPHRASE_REQUIRED',
      'the private key is encrypted and no passphrase was given',
    )
  }
  try {
    return createPrivateKey({ key: text, format: 'pem', passphrase })
  } catch (err) {
    throw new CapiscioError('KEY_PASSPHRASE_INVALID', 'the passphrase does not decrypt the private key', {
      cause: err,
    })
  }
}

function fromPublic(publicKey: KeyObject): ParsedKey {
  return { publicKey, alg: algOf(publicKey), format: 'pem' }
}

function fromPrivate(privateKey: KeyObject): ParsedKey {
  const publicKey = createPublicKey(privateKey)
  const alg = algOf(publicKey)
  // A PEM EC key (SEC1, or PKCS#8 around one) may carry its public point, which is taken as it is.
  if (privateKey.asymmetricKeyType === 'ec')
    assertPublicPartMatches(privateKey.export({ format: 'jwk' }), privateKey, 'the PEM key')
  return { publicKey, privateKey, alg, format: 'pem' }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Whether a PEM text is an encrypted private key (so a command can ask for the passphrase up front). */
export function isEncryptedPem(text: string): boolean {
  return text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || /Proc-Type: 4,ENCRYPTED/.test(text)
}
