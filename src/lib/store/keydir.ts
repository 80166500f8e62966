import { link, lstat, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises'
import type { KeyObject } from 'node:crypto'
import { basename, dirname, join } from 'node:path'

import { CapiscioError } from '../errors.js'
import { readTextFile } from '../io.js'
import type { GeneratedKey } from '../keys/generate.js'
import { defaultKidOf, privateJwkOf, publicJwkOf } from '../keys/key.js'
import { parseKey, type ParsedKey, type PassphraseSource } from '../keys/parse.js'
import { ensureDir, isTempNameOf, stage, syncDir, writeFileAtomic } from './atomic.js'

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

/**
 * The key set switches as one through this journal (hidden, in the key directory): the new files
 * are staged and fsynced under temporary names, then the journal naming them is written, which
 * commits the switch, then they are renamed into place and the journal is removed. A run killed
 * before the commit leaves the old set (its temporaries are removed by the next run); one killed
 * after it leaves a switch the next run finishes, and that readers already see whole.
 */
export const KEY_SWITCH_JOURNAL = '.capiscio-keyset.json'

const SET_FILES: readonly string[] = [
  KEY_FILES.privateJwk,
  KEY_FILES.publicJwk,
  KEY_FILES.privatePem,
  KEY_FILES.publicPem,
  KEY_FILES.did,
]

interface KeySwitch {
  /** [temporary, key file] pairs: the new set, staged. */
  rename: [string, string][]
  /** Key files the new set does not have (private.jwk of an encrypted key, did.txt of a non-Ed25519 key). */
  remove: string[]
}

function isKeySwitch(value: unknown): value is KeySwitch {
  const v = value as KeySwitch
  return (
    typeof v === 'object' &&
    v !== null &&
    Array.isArray(v.rename) &&
    v.rename.every(
      (e) =>
        Array.isArray(e) && e.length === 2 && SET_FILES.includes(e[1]) && isTempNameOf(String(e[0]), e[1]),
    ) &&
    Array.isArray(v.remove) &&
    v.remove.every((name) => SET_FILES.includes(name))
  )
}

/** The pending switch in a key directory, if a `key gen` was killed after committing one. */
async function readKeySwitch(dir: string): Promise<KeySwitch | undefined> {
  const path = join(dir, KEY_SWITCH_JOURNAL)
  let text: string
  try {
    text = await readTextFile(path, 64 * 1024)
  } catch (err) {
    if (err instanceof CapiscioError && err.code === 'FILE_NOT_FOUND') return undefined
    throw err
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    // reported below
  }
  if (!isKeySwitch(value)) {
    throw new CapiscioError('KEY_INVALID', `${path} (an unfinished key switch) is corrupt`, {
      hint: 'remove it, and generate the key set again (forcing the overwrite) if the key files do not match',
    })
  }
  return value
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
}

/**
 * Finishes what a killed `key gen` left in `dir`: a committed switch is carried through (renames
 * that already happened are skipped) and stray temporaries of key files, private ones included, are
 * removed. Every key-set write runs it first.
 */
export async function completeKeySwitch(dir: string): Promise<void> {
  try {
    const pending = await readKeySwitch(dir)
    if (pending) {
      for (const [tmp, name] of pending.rename)
        await rename(join(dir, tmp), join(dir, name)).catch(ignoreMissing)
      for (const name of pending.remove) await unlink(join(dir, name)).catch(ignoreMissing)
      await syncDir(dir)
      await unlink(join(dir, KEY_SWITCH_JOURNAL))
    }
    const ours = [...SET_FILES, KEY_SWITCH_JOURNAL]
    for (const entry of await readdir(dir)) {
      if (ours.some((name) => isTempNameOf(entry, name)) || isDeadRunsPidFile(entry))
        await unlink(join(dir, entry)).catch(ignoreMissing)
    }
    await syncDir(dir)
  } catch (err) {
    if (err instanceof CapiscioError) throw err
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error'
    throw new CapiscioError('WRITE_FAILED', `could not finish the key switch in ${dir} (${code})`, {
      cause: err,
    })
  }
}

/**
 * Writes a key pair as DESIGN §4 lays it out, switching the whole set at once (see
 * KEY_SWITCH_JOURNAL) and keeping `trusted/`. Refuses to replace an existing private key unless
 * `force`; with `force`, files the new key does not have (a plaintext private.jwk when the new key
 * is encrypted, a did.txt for a non-Ed25519 key) are removed so no stale key is left beside it.
 */
export async function writeKeyDir(
  dir: string,
  key: GeneratedKey,
  options: WriteKeyDirOptions = {},
): Promise<KeyDirFiles> {
  if (!options.force) await assertNoPrivateKey(dir)
  if (options.passphrase !== undefined && options.passphrase.length === 0) {
    throw new CapiscioError('USAGE', 'the passphrase is empty')
  }
  await ensureDir(dir)
  await ensureDir(join(dir, KEY_FILES.trustDir))
  const release = await lockKeyDir(dir)
  try {
    // Checked again under the lock: another run may have written a key since.
    if (!options.force) await assertNoPrivateKey(dir)
    return await switchKeySet(dir, key, options)
  } finally {
    await release()
  }
}

/** Held while a key set is written, so two runs never interleave their stages and renames. */
export const KEY_DIR_LOCK = '.capiscio-keyset.lock'
/** The lock files this process holds (a library may run two writes at once). */
const locksHeld = new Set<string>()

/**
 * Takes the directory's key-set lock: a file holding our pid, put in place by link(2) so it never
 * exists empty (a run that found it empty could not tell a lock being written from a stale one).
 * A lock whose pid is gone (a killed run) is taken over; one held by a live process, or by another
 * write in this process, is WRITE_FAILED. Two runs that find the same stale lock at the same
 * instant could both take it over: the lock guards against overlapping runs, which is the case
 * that happens, not against that double coincidence.
 */
async function lockKeyDir(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, KEY_DIR_LOCK)
  // Claimed synchronously, so a second write in this process sees it before any I/O interleaves.
  if (locksHeld.has(path)) throw lockHeld(dir, path, process.pid)
  locksHeld.add(path)
  const release = async () => {
    locksHeld.delete(path)
    await unlink(path).catch(() => undefined)
  }
  // Named for its pid, so a killed run's file can be told from a live run's and removed.
  const pidFile = `${path}.${process.pid}.tmp`
  try {
    // A directory we may not write (EACCES), a full disk: the key files could not be written either.
    await writeFile(pidFile, `${process.pid}\n`, { mode: 0o600 }).catch((err: unknown) => {
      throw writeFailedIn(dir, err)
    })
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await link(pidFile, path)
        return release
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw writeFailedIn(dir, err)
      }
      const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10)
      // Our own pid there is a dead run's pid reused: this process's own writes are in locksHeld.
      if (pid !== process.pid && Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
        throw lockHeld(dir, path, pid)
      }
      await unlink(path).catch(() => undefined) // stale: its run was killed
    }
    throw new CapiscioError('WRITE_FAILED', `could not take the lock ${path}`)
  } catch (err) {
    locksHeld.delete(path)
    throw err
  } finally {
    await unlink(pidFile).catch(() => undefined)
  }
}

function lockHeld(dir: string, path: string, pid: number): CapiscioError {
  return new CapiscioError('WRITE_FAILED', `another key gen (pid ${pid}) is writing keys in ${dir}`, {
    hint: `wait for it to finish; if no such run exists, remove ${path}`,
  })
}

/** A lock's pid file left by a run that was killed while taking the lock. */
function isDeadRunsPidFile(entry: string): boolean {
  const m = /^\.capiscio-keyset\.lock\.(\d+)\.tmp$/.exec(entry)
  if (!m) return false
  const pid = Number(m[1])
  // Our own pid: this process may be taking a lock right now.
  return pid !== process.pid && !isAlive(pid)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' // alive, another user's
  }
}

function writeFailedIn(dir: string, err: unknown): CapiscioError {
  const code = (err as NodeJS.ErrnoException).code ?? 'unknown error'
  return new CapiscioError('WRITE_FAILED', `could not write the key files in ${dir} (${code})`, {
    cause: err,
  })
}

async function switchKeySet(
  dir: string,
  key: GeneratedKey,
  options: WriteKeyDirOptions,
): Promise<KeyDirFiles> {
  const p = (name: string) => join(dir, name)
  await completeKeySwitch(dir)

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
  const writes: { name: string; data: string; mode: number }[] = [
    { name: KEY_FILES.privatePem, data: privatePem, mode: 0o600 },
    { name: KEY_FILES.publicJwk, data: json(publicJwkOf(key.publicKey, key.kid)), mode: 0o644 },
    {
      name: KEY_FILES.publicPem,
      data: key.publicKey.export({ type: 'spki', format: 'pem' }) as string,
      mode: 0o644,
    },
  ]
  if (!encrypted) {
    files.privateJwk = p(KEY_FILES.privateJwk)
    writes.unshift({
      name: KEY_FILES.privateJwk,
      data: json(privateJwkOf(key.privateKey, key.kid)),
      mode: 0o600,
    })
  }
  if (key.did) {
    files.did = p(KEY_FILES.did)
    writes.push({ name: KEY_FILES.did, data: key.did + '\n', mode: 0o644 })
  }

  // Key files are replaced by rename: refuse anything but regular files in their place (a symlink
  // would be replaced rather than written through; a FIFO or device would vanish).
  for (const name of SET_FILES) {
    const info = await lstat(p(name)).catch(() => undefined)
    if (info && !info.isFile()) {
      throw new CapiscioError('WRITE_FAILED', `${p(name)} is not a regular file; refusing to replace it`)
    }
  }

  const staged: [string, string][] = []
  try {
    for (const w of writes) staged.push([basename(await stage(p(w.name), w.data, w.mode)), w.name])
    const remove = SET_FILES.filter((name) => !writes.some((w) => w.name === name))
    // The commit point: from here on the new set is what the directory holds.
    await writeFileAtomic(p(KEY_SWITCH_JOURNAL), JSON.stringify({ rename: staged, remove }) + '\n', 0o600)
  } catch (err) {
    await Promise.all(staged.map(([tmp]) => unlink(p(tmp)).catch(() => undefined)))
    if (err instanceof CapiscioError) throw err
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error'
    throw new CapiscioError('WRITE_FAILED', `could not write the key files in ${dir} (${code})`, {
      cause: err,
    })
  }
  await completeKeySwitch(dir)
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

/**
 * A key file's text, or undefined when the set has no such file. While a switch is pending (see
 * KEY_SWITCH_JOURNAL) the staged new file is read, so a reader never mixes two key sets.
 */
async function readKeyFile(dir: string, name: string, pending?: KeySwitch): Promise<string | undefined> {
  if (pending?.remove.includes(name)) return undefined
  const staged = pending?.rename.find(([, target]) => target === name)?.[0]
  if (staged !== undefined) {
    try {
      return await readTextFile(join(dir, staged))
    } catch (err) {
      // Renamed into place meanwhile: read it there.
      if (!(err instanceof CapiscioError && err.code === 'FILE_NOT_FOUND')) throw err
    }
  }
  const path = join(dir, name)
  return (await exists(path)) ? readTextFile(path) : undefined
}

export async function readKeyDir(dir: string, options: ReadKeyOptions = {}): Promise<ParsedKey> {
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory')
  } catch {
    throw new CapiscioError('FILE_NOT_FOUND', `${dir} is not a key directory`)
  }
  const pending = await readKeySwitch(dir)
  for (const name of options.prefer === 'public' ? PUBLIC_FIRST : PRIVATE_FIRST) {
    const text = await readKeyFile(dir, name, pending)
    if (text !== undefined) return parseKey(text, options)
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
  return {
    privateKey: key.privateKey,
    kid: (await kidBeside(path, key)) ?? (await defaultKidOf(key.publicKey)),
  }
}

/**
 * The kid of a key read from `path`: its own, else (a PEM has none) the kid key gen wrote into the
 * public.jwk beside it or inside the directory, when that file holds the same key. Undefined when
 * neither says; the caller falls back to the default kid. `key show` and the signing commands
 * alike, so that what one shows is what the other puts in headers.
 */
export async function kidBeside(path: string, key: ParsedKey): Promise<string | undefined> {
  if (key.kid !== undefined) return key.kid
  try {
    const dir = (await stat(path)).isDirectory() ? path : dirname(path)
    const text = await readKeyFile(dir, KEY_FILES.publicJwk, await readKeySwitch(dir))
    const sibling = text === undefined ? undefined : await parseKey(text)
    return sibling?.publicKey.equals(key.publicKey) ? sibling.kid : undefined
  } catch {
    return undefined // no usable public.jwk beside it
  }
}
