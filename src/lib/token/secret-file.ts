import { CapiscioError } from '../errors.js'
import { readStream, readTextFile } from '../io.js'

/** Upper bound on a secret file: a secret is bytes, not a document. */
const MAX_SECRET_BYTES = 4096

/**
 * An HMAC secret from a file, or from a stream ('-' on the command line). One trailing newline is
 * dropped, since `openssl rand -base64 48 > secret` writes one; every other byte is the secret,
 * as-is. Secrets are text, as in the environment and in PyJWT or jose given a string: raw random
 * bytes would not survive being shared that way, so they are refused, not silently mangled.
 */
export async function readSecret(source: string | NodeJS.ReadableStream, from: string): Promise<Buffer> {
  const text =
    typeof source === 'string'
      ? await readTextFile(source, MAX_SECRET_BYTES)
      : await readStream(source, MAX_SECRET_BYTES)
  if (text.includes('\uFFFD'))
    throw new CapiscioError('USAGE', `the secret in ${from} is not UTF-8 text`, {
      hint: 'store the secret as text, e.g. openssl rand -base64 48 > secret',
    })
  const secret = Buffer.from(text.replace(/\r?\n$/, ''), 'utf8')
  if (secret.length === 0) throw new CapiscioError('USAGE', `the secret in ${from} is empty`)
  return secret
}
