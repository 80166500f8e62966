import { randomBytes } from 'node:crypto'
import { chmod, mkdir, open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

import { CapiscioError } from '../errors.js'

export interface FileToWrite {
  path: string
  data: string
  /** POSIX mode, applied explicitly so a permissive umask cannot widen a private key's mode. */
  mode: number
}

/**
 * Writes several files so that each either has its complete new content or its old content: every
 * file is first written and fsynced to a temporary name beside its target, then all are renamed.
 * If any write fails, the temporaries are removed and no target is touched.
 */
export async function writeFilesAtomic(files: FileToWrite[]): Promise<void> {
  const staged: { tmp: string; path: string }[] = []
  try {
    for (const file of files) {
      const tmp = join(dirname(file.path), `.${basename(file.path)}.${randomBytes(6).toString('hex')}.tmp`)
      staged.push({ tmp, path: file.path })
      const handle = await open(tmp, 'wx', file.mode)
      try {
        await handle.writeFile(file.data)
        await handle.sync()
      } finally {
        await handle.close()
      }
      await chmod(tmp, file.mode)
    }
    for (const { tmp, path } of staged) await rename(tmp, path)
  } catch (err) {
    await Promise.all(staged.map(({ tmp }) => unlink(tmp).catch(() => undefined)))
    if (err instanceof CapiscioError) throw err
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error'
    const target = staged.at(-1)?.path ?? files[0]?.path ?? 'file'
    throw new CapiscioError('WRITE_FAILED', `could not write ${target} (${code})`, { cause: err })
  }
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
    throw new CapiscioError('WRITE_FAILED', `could not create directory ${path} (${code})`, { cause: err })
  }
}
