import { lstat, stat, unlink } from 'node:fs/promises'
import type { KeyObject } from 'node:crypto'
import { dirname, join } from 'node:path'

import { CapiscioError } from '../errors.js'
import { readTextFile } from '../io.js'
import type { GeneratedKey } from '../keys/generate.js'
import { defaultKidOf, privateJwkOf, publicJwkOf } from '../keys/key.js'
import { parseKey, type ParsedKey, type PassphraseSource } from '../keys/parse.js'
import { ensureDir, writeFilesAtomic, type FileToWrite } from './atomic.js'

/** The file names of a key directory (DESIGN §4). */
export const KEY_FILES = {
  privateJwk: 'private.jwk',
  publicJwk: 'public.jwk',
  privatePem: 'private.pem',
  publicPem: 'public.pem',
  did: 'did.txt',
  trustDir: 'trusted',
} as const

export const DEFAULT_KEY_DIR = 'capiscio_keys'

export interface WriteKeyDirOptions {
  force?: boolean
  /** With a passphrase the private key is stored only as encrypted PKCS#8 PEM (no private.jwk). */
  passphrase?: string
}

export interface KeyDirFiles {
  privateJwk?: string
  publicJwk: string
  privatePem: string
  publicPem: string
  did?: string
  trustDir: string
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path)
    return true
  } catch {
    return false
  }
}

/**
 * Writes a key pair as DESIGN §4 lays it out. Refuses to replace an existing private key unless
 * `force`; with `force`, files the new key does not have (a plaintext private.jwk when the new key
 * is encrypted, a did.txt for a non-Ed25519 key) are removed so no stale key is left beside it.
 */
/** Fails with KEY_EXISTS if the directory already holds a private key (checked before any prompt). */
export async function assertNoPrivateKey(dir: string): Promise<void> {
  for (const name of [KEY_FILES.privateJwk, KEY_FILES.privatePem]) {
    const path = join(dir, name)
    if (await exists(path)) {
      throw new CapiscioError('KEY_EXISTS', `${path} already exists; refusing to overwrite a private key`, {
        hint: 'use force to replace it, or choose another out directory',
        options: ['force', 'out'],
      })
    }
  }
}

export async function writeKeyDir(
  dir: string,
  key: GeneratedKey,
  options: WriteKeyDirOptions = {},
): Promise<KeyDirFiles> {
  const p = (name: string) => join(dir, name)
  if (!options.force) await assertNoPrivateKey(dir)
  if (options.passphrase !== undefined && options.passphrase.length === 0) {
    throw new CapiscioError('USAGE', 'the passphrase is empty')
  }
  await ensureDir(dir)
  await ensureDir(p(KEY_FILES.trustDir))

  const encrypted = options.passphrase !== undefined
  const privatePem = key.privateKey.export(
    encrypted
      ? { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: options.passphrase! }
      : { type: 'pkcs8', format: 'pem' },
  ) as string
  const json = (value: unknown) => JSON.stringify(value, null, 2) + '\n'

  const files: KeyDirFiles = {
    publicJwk: p(KEY_FILES.publicJwk),
    privatePem: p(KEY_FILES.privatePem),
    publicPem: p(KEY_FILES.publicPem),
    trustDir: p(KEY_FILES.trustDir),
  }
  const writes: FileToWrite[] = [
    { path: files.privatePem, data: privatePem, mode: 0o600 },
    { path: files.publicJwk, data: json(publicJwkOf(key.publicKey, key.kid)), mode: 0o644 },
    {
      path: files.publicPem,
      data: key.publicKey.export({ type: 'spki', format: 'pem' }) as string,
      mode: 0o644,
    },
  ]
  if (!encrypted) {
    files.privateJwk = p(KEY_FILES.privateJwk)
    writes.unshift({ path: files.privateJwk, data: json(privateJwkOf(key.privateKey, key.kid)), mode: 0o600 })
  }
  if (key.did) {
    files.did = p(KEY_FILES.did)
    writes.push({ path: files.did, data: key.did + '\n', mode: 0o644 })
  }
  await writeFilesAtomic(writes)

  const stale = [!files.privateJwk && p(KEY_FILES.privateJwk), !files.did && p(KEY_FILES.did)].filter(
    (x): x is string => typeof x === 'string',
  )
  for (const path of stale) await unlink(path).catch(() => undefined)
  return files
}

/**
 * Finds the key to describe or sign with in a directory, by DESIGN §4's file names, in the order
 * `prefer` asks for.
 */
export interface ReadKeyOptions {
  passphrase?: PassphraseSource
  /** 'public' (describing a key) reads public files first; 'private' (signing) the private ones. */
  prefer?: 'public' | 'private'
}

const PRIVATE_FIRST = [
  KEY_FILES.privateJwk,
  KEY_FILES.privatePem,
  KEY_FILES.publicJwk,
  KEY_FILES.publicPem,
  KEY_FILES.did,
]
const PUBLIC_FIRST = [
  KEY_FILES.publicJwk,
  KEY_FILES.privateJwk,
  KEY_FILES.publicPem,
  KEY_FILES.did,
  KEY_FILES.privatePem,
]

export async function readKeyDir(dir: string, options: ReadKeyOptions = {}): Promise<ParsedKey> {
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory')
  } catch {
    throw new CapiscioError('FILE_NOT_FOUND', `${dir} is not a key directory`)
  }
  for (const name of options.prefer === 'public' ? PUBLIC_FIRST : PRIVATE_FIRST) {
    const path = join(dir, name)
    if (await exists(path)) return parseKey(await readTextFile(path), options)
  }
  throw new CapiscioError('KEY_NOT_FOUND', `${dir} holds no key file`)
}

/** Reads a key from a file or a key directory, by content. */
export async function readKeyFrom(path: string, options: ReadKeyOptions = {}): Promise<ParsedKey> {
  let isDir = false
  try {
    isDir = (await stat(path)).isDirectory()
  } catch {
    // fall through: readTextFile reports the missing file with its code
  }
  if (isDir) return readKeyDir(path, options)
  return parseKey(await readTextFile(path), options)
}

export interface SigningKey {
  privateKey: KeyObject
  /** The kid to put in headers: the key file's, else public.jwk's beside it, else the default kid. */
  kid: string
}

/** Reads a private key to sign with, from a key file or a key directory. */
export async function readSigningKey(
  path: string,
  options: { passphrase?: PassphraseSource } = {},
): Promise<SigningKey> {
  const key = await readKeyFrom(path, { ...options, prefer: 'private' })
  if (!key.privateKey) {
    throw new CapiscioError('KEY_INVALID', `${path} holds a public key; signing needs the private key`, {
      hint: 'give private.jwk, private.pem or the key directory',
    })
  }
  let kid = key.kid
  if (kid === undefined) {
    // A PEM has no kid; key gen wrote the kid into public.jwk beside it (or inside the directory).
    const dir = (await stat(path)).isDirectory() ? path : dirname(path)
    try {
      const sibling = await parseKey(await readTextFile(join(dir, KEY_FILES.publicJwk)))
      if (sibling.publicKey.equals(key.publicKey)) kid = sibling.kid
    } catch {
      // no usable public.jwk beside it
    }
  }
  return { privateKey: key.privateKey, kid: kid ?? (await defaultKidOf(key.publicKey)) }
}
