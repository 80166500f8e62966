import { randomBytes } from 'node:crypto'
import type { Stats } from 'node:fs'
import { chmod, lstat, mkdir, open, readlink, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'

import { CapiscioError } from '../errors.js'
import { MAX_KEY_FILE_BYTES } from '../io.js'
import { holdsPrivateKey } from './private-key-text.js'

export interface FileToWrite {
  path: string
  data: string
  /** POSIX mode, applied explicitly so a permissive umask cannot widen a private key's mode. */
  mode: number
}

/** A temporary name beside `path`: hidden, random, recognisable as ours (`.<name>.<12 hex>.tmp`). */
export function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
}

/** Matches tempNameFor's names for one file name. */
export function isTempNameOf(entry: string, name: string): boolean {
  return (
    entry.length === name.length + 18 &&
    entry.startsWith(`.${name}.`) &&
    /^\.[0-9a-f]{12}\.tmp$/.test(entry.slice(name.length + 1))
  )
}

function describeNonRegular(info: Stats): string {
  if (info.isDirectory()) return 'a directory'
  if (info.isFIFO()) return 'a FIFO'
  if (info.isSocket()) return 'a socket'
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device'
  return 'not a regular file'
}

/**
 * Where a write to `path` must land: `path` itself if it is a regular file or does not exist; the
 * file a symlink (chain) points to, so that writing through a link updates its target and keeps the
 * link; and a WRITE_FAILED for anything else (a FIFO, device, socket or directory), which a rename
 * over it would silently replace (as root, `--out /dev/full` replaced the device node).
 */
export async function resolveWriteTarget(path: string): Promise<string> {
  let current = path
  for (let hops = 0; hops <= 40; hops++) {
    let info: Stats
    try {
      info = await lstat(current)
    } catch (err) {
      // A link to a file not made yet gets it made, as a shell's `>` would (only links we may follow).
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return current
      throw writeFailed(path, err)
    }
    if (info.isFile()) return current
    if (!info.isSymbolicLink()) {
      throw new CapiscioError(
        'WRITE_FAILED',
        `${path} is ${describeNonRegular(info)}, not a regular file; refusing to replace it`,
        // Not the code's default hint (permissions, free space): neither is the trouble here.
        {
          hint: info.isDirectory() ? 'name a file to write, not a directory' : 'name a regular file to write',
        },
      )
    }
    await assertLinkMayBeFollowed(current, info)
    current = resolve(dirname(current), await readlink(current))
  }
  throw new CapiscioError('WRITE_FAILED', `${path}: too many levels of symbolic links`)
}

/**
 * The kernel's fs.protected_symlinks rule, which resolving links ourselves would bypass: in a
 * sticky, world-writable directory (/tmp), a link is followed only when it belongs to us or to the
 * directory's owner. Anyone can plant a link in /tmp; nobody else's may steer our writes.
 */
async function assertLinkMayBeFollowed(link: string, info: Stats): Promise<void> {
  const uid = process.geteuid?.()
  if (uid === undefined) return // not POSIX: no sticky directories to guard
  const dir = await lstat(dirname(link))
  const stickyWorldWritable = (dir.mode & 0o1002) === 0o1002
  if (stickyWorldWritable && info.uid !== uid && info.uid !== dir.uid) {
    throw new CapiscioError(
      'WRITE_FAILED',
      `${link} is a symbolic link owned by another user in a shared directory; refusing to follow it`,
    )
  }
}

function writeFailed(path: string, err: unknown): CapiscioError {
  const code = (err as NodeJS.ErrnoException).code ?? 'unknown error'
  if (code === 'ENOTDIR')
    return new CapiscioError(
      'WRITE_FAILED',
      `could not write ${path}: a part of its path is a file, not a directory`,
      {
        hint: 'choose another path, or move the file away',
        cause: err,
      },
    )
  return new CapiscioError('WRITE_FAILED', `could not write ${path} (${code})`, { cause: err })
}

/**
 * Writes `data` to a new temporary file beside `path` and fsyncs it; returns the temporary's path.
 * A temporary that could not be written whole (a full disk) is removed before the error goes on:
 * the caller only knows of the temporaries it was given.
 */
export async function stage(path: string, data: string, mode: number): Promise<string> {
  const tmp = tempNameFor(path)
  const handle = await open(tmp, 'wx', mode)
  try {
    try {
      await handle.writeFile(data)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await chmod(tmp, mode)
  } catch (err) {
    await unlink(tmp).catch(() => undefined)
    throw err
  }
  return tmp
}

/** Makes the renames in a directory durable (fsync of the directory itself). */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Writes several files so that each either has its complete new content or its old content: every
 * file is first written and fsynced to a temporary name beside its target, then all are renamed.
 * If any write fails, the temporaries are removed and no target is touched. A target that is a
 * symlink is written through (its final target replaced); one that is not a regular file is refused.
 * The files switch one by one; a key set switches as one (keydir.ts, KEY_SWITCH_JOURNAL).
 */
export async function writeFilesAtomic(files: FileToWrite[]): Promise<void> {
  const staged: { tmp: string; path: string }[] = []
  let current = files[0]?.path ?? 'file'
  try {
    const targets: string[] = []
    for (const file of files) targets.push(await resolveWriteTarget(file.path))
    for (const [i, file] of files.entries()) await refuseKeyOverwrite(targets[i]!, file.path)
    for (const [i, file] of files.entries()) {
      current = file.path
      staged.push({ tmp: await stage(targets[i]!, file.data, file.mode), path: targets[i]! })
    }
    for (const { tmp, path } of staged) await rename(tmp, path)
  } catch (err) {
    await Promise.all(staged.map(({ tmp }) => unlink(tmp).catch(() => undefined)))
    if (err instanceof CapiscioError) throw err
    throw writeFailed(current, err)
  }
}

/**
 * Fails with KEY_EXISTS when `target` holds a private key: no output (a badge, a card, a trust
 * store file) is ever written over one, so `--out` pointed at the wrong file cannot destroy a key.
 * Replacing a key is the key generator's job alone, behind its own force option (it stages and
 * renames without coming here).
 */
async function refuseKeyOverwrite(target: string, shown: string): Promise<void> {
  let text: string
  try {
    const handle = await open(target, 'r')
    try {
      // A key file is small; a large file is no key this toolkit wrote.
      if ((await handle.stat()).size > MAX_KEY_FILE_BYTES) return
      text = (await handle.readFile()).toString('utf8')
    } finally {
      await handle.close()
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return // nothing there to protect
    // A file that cannot be read may be a key: a rename needs only the directory, and would replace it.
    throw new CapiscioError(
      'WRITE_FAILED',
      `${shown} exists and cannot be read (${code ?? 'unknown error'}); refusing to replace what may be a private key`,
      { cause: err },
    )
  }
  if (holdsPrivateKey(text))
    throw new CapiscioError('KEY_EXISTS', `${shown} holds a private key; refusing to write over it`, {
      hint: 'write to another file, or move the key away first if it is really to be replaced',
    })
}

export async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  await writeFilesAtomic([{ path, data, mode }])
}

/** Creates a directory (and parents) with mode 0700 unless told otherwise; existing ones are kept. */
export async function ensureDir(path: string, mode = 0o700): Promise<void> {
  try {
    await mkdir(path, { recursive: true, mode })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error'
    // EEXIST or ENOTDIR from a recursive mkdir: the path, or a parent of it, is a file; say which.
    const file = code === 'EEXIST' || code === 'ENOTDIR' ? await fileInTheWay(path) : undefined
    if (file !== undefined)
      throw new CapiscioError(
        'WRITE_FAILED',
        file === path
          ? `${path} is a file, not a directory`
          : `could not create directory ${path}: ${file} is a file, not a directory`,
        { hint: 'choose another directory, or move the file away', cause: err },
      )
    throw new CapiscioError('WRITE_FAILED', `could not create directory ${path} (${code})`, { cause: err })
  }
}

/** The nearest of `path` and its parents that exists and is not a directory, if any. */
async function fileInTheWay(path: string): Promise<string | undefined> {
  for (let p = path; ; p = dirname(p)) {
    const info = await stat(p).catch(() => undefined)
    if (info !== undefined) return info.isDirectory() ? undefined : p
    if (dirname(p) === p) return undefined
  }
}
