import { readFileSync } from 'node:fs'
import { open } from 'node:fs/promises'

import { CapiscioError } from './errors.js'

/** Key files, JWKS documents and configs are small; anything bigger is a mistake or an attack. */
export const MAX_KEY_FILE_BYTES = 1024 * 1024

/**
 * Reads a text input with the toolkit's error codes: a missing file, a directory or an oversized
 * file each get a coded error that names the path (paths are not secret; contents never appear).
 * The cap holds for inputs that are not regular files too: a device (/dev/zero) or a FIFO reports
 * size 0, so the read itself stops one byte past the cap instead of trusting `stat`.
 */
export async function readTextFile(path: string, maxBytes = MAX_KEY_FILE_BYTES): Promise<string> {
  return (await readFileBytes(path, maxBytes)).toString('utf8')
}

/** readTextFile's bytes, for inputs that are not text (a request body that is signed as it is). */
export async function readFileBytes(path: string, maxBytes = MAX_KEY_FILE_BYTES): Promise<Buffer> {
  let handle
  try {
    handle = await open(path, 'r')
  } catch (err) {
    throw fsError(err, path)
  }
  try {
    const info = await handle.stat()
    if (info.isDirectory()) {
      throw new CapiscioError('FILE_UNREADABLE', `${path} is a directory, not a file`)
    }
    if (info.size > maxBytes) {
      throw new CapiscioError('FILE_TOO_LARGE', `${path} is ${info.size} bytes; the limit is ${maxBytes}`)
    }
    const chunks: Buffer[] = []
    let total = 0
    for (;;) {
      // Never more than one byte past the cap, whatever the file says its size is.
      const chunk = Buffer.alloc(Math.min(64 * 1024, maxBytes + 1 - total))
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null)
      if (bytesRead === 0) break
      chunks.push(chunk.subarray(0, bytesRead))
      total += bytesRead
      if (total > maxBytes) {
        throw new CapiscioError('FILE_TOO_LARGE', `${path} is larger than ${maxBytes} bytes`)
      }
    }
    return Buffer.concat(chunks, total)
  } catch (err) {
    throw err instanceof CapiscioError ? err : fsError(err, path)
  } finally {
    await handle.close()
  }
}

/**
 * readTextFile for callers that cannot wait (a constructor that must fail at once on a bad path),
 * with the same codes. Regular files only: the size is checked after the read.
 */
export function readTextFileSync(path: string, maxBytes = MAX_KEY_FILE_BYTES): string {
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch (err) {
    throw fsError(err, path)
  }
  if (bytes.length > maxBytes)
    throw new CapiscioError('FILE_TOO_LARGE', `${path} is ${bytes.length} bytes; the limit is ${maxBytes}`)
  return bytes.toString('utf8')
}

/** Reads all of a stream (stdin) up to a limit, failing with FILE_TOO_LARGE past it. */
export async function readStream(
  stream: NodeJS.ReadableStream,
  maxBytes = MAX_KEY_FILE_BYTES,
): Promise<string> {
  return (await readStreamBytes(stream, maxBytes)).toString('utf8')
}

/** readStream's bytes. */
export async function readStreamBytes(
  stream: NodeJS.ReadableStream,
  maxBytes = MAX_KEY_FILE_BYTES,
): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    size += buf.length
    if (size > maxBytes) {
      throw new CapiscioError('FILE_TOO_LARGE', `standard input is larger than ${maxBytes} bytes`)
    }
    chunks.push(buf)
  }
  return Buffer.concat(chunks)
}

export function fsError(err: unknown, path: string): CapiscioError {
  const code = (err as NodeJS.ErrnoException)?.code
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new CapiscioError('FILE_NOT_FOUND', `${path} does not exist`, { cause: err })
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new CapiscioError('FILE_UNREADABLE', `${path} is not readable (permission denied)`, { cause: err })
  }
  if (code === 'ENAMETOOLONG') {
    return new CapiscioError('FILE_UNREADABLE', `${path} is too long for a file name (ENAMETOOLONG)`, {
      cause: err,
      hint: 'shorten the path',
    })
  }
  if (code === 'EISDIR') {
    return new CapiscioError('FILE_UNREADABLE', `${path} is a directory, not a file`, { cause: err })
  }
  return new CapiscioError('FILE_UNREADABLE', `${path} cannot be read (${code ?? 'unknown error'})`, {
    cause: err,
  })
}
