import { createHash, type KeyObject } from 'node:crypto'
import { readdir, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'

import { CapiscioError } from '../errors.js'
import { MAX_KEY_FILE_BYTES, readTextFile } from '../io.js'
import { didKeyOf } from '../keys/didkey.js'
import { publicJwkOf, thumbprintOf, type KeyAlg } from '../keys/key.js'
import { parseJwk, parseKey } from '../keys/parse.js'
import { isIssuer } from '../badge/claims.js'
import { ensureDir, writeFilesAtomic, type FileToWrite } from './atomic.js'

export const ISSUERS_FILE = 'issuers.json'
export const REVOKED_FILE = 'revoked.json'
/** The .jwk member holding the highest badge level a key may vouch for (the Python SDK reads .pem only). */
export const MAX_LEVEL_MEMBER = 'capiscio_max_level'
const LEVELS = ['0', '1', '2', '3', '4']
const MAX_KID_LENGTH = 1024
const SAFE_STEM = /^[A-Za-z0-9._:-]{1,128}$/

export interface TrustedKey {
  kid: string
  publicKey: KeyObject
  alg: KeyAlg
  /** The highest badge level the key may vouch for; unset means any. */
  maxLevel?: number
  /** Only `<kid>.pem`, as the Python SimpleGuard keeps keys: dropped in by hand, bound to nothing. */
  lonePem?: true
}

export interface TrustedKeyInfo {
  kid: string
  alg: KeyAlg
  thumbprint: string
  did?: string
  issuers: string[]
  maxLevel?: number
  files: { jwk?: string; pem: string }
}

export interface AddResult {
  kid: string
  replaced: boolean
  /** The issuers the key is bound to; empty means its own identity only. */
  issuers: string[]
  files: { jwk: string; pem: string }
}

export function assertValidKid(kid: string): void {
  if (typeof kid !== 'string' || kid.length === 0)
    throw new CapiscioError('TRUST_KID_INVALID', 'the key id is empty')
  if (kid.length > MAX_KID_LENGTH) {
    throw new CapiscioError(
      'TRUST_KID_INVALID',
      `the key id is ${kid.length} characters; the limit is ${MAX_KID_LENGTH}`,
    )
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(kid)) {
    throw new CapiscioError('TRUST_KID_INVALID', 'the key id contains control characters')
  }
}

/**
 * The file stem for a kid (docs/formats.md, "Trust store"): the kid itself when it is a safe file name, so that the
 * Python SimpleGuard finds `trusted/<kid>.pem`; otherwise every unsafe character becomes `_`, a
 * leading dot too, and an over-long name is shortened with a hash of the kid. Nothing a kid can
 * contain makes the stem leave the directory: it never holds a separator and never starts with '.'.
 */
export function stemForKid(kid: string, platform: NodeJS.Platform = process.platform): string {
  const windows = platform === 'win32'
  if (SAFE_STEM.test(kid) && !kid.startsWith('.') && !(windows && kid.includes(':'))) return kid
  let stem = kid
    .replace(windows ? /[^A-Za-z0-9._-]/g : /[^A-Za-z0-9._:-]/g, '_')
    .replace(/^\.+/, (dots) => '_'.repeat(dots.length))
  if (stem.length > 128)
    stem = stem.slice(0, 111) + '_' + createHash('sha256').update(kid).digest('hex').slice(0, 16)
  return stem
}

/** An issuer a key may be bound to: a DID or an https origin/URL, as a badge's iss must be. */
export function assertValidIssuer(issuer: string): void {
  // isIssuer allows plain http only for loopback (a local registry).
  if (!isIssuer(issuer))
    throw new CapiscioError(
      'USAGE',
      `the issuer ${JSON.stringify(issuer)} is not a DID or an https URL (http only for localhost or 127.x)`,
    )
}

/** Makes `issuers` bind `kid` to exactly `bound`; says whether anything changed. */
function bindKid(issuers: Map<string, string[]>, kid: string, bound: readonly string[]): boolean {
  let changed = false
  for (const [iss, kids] of issuers) {
    if (!kids.includes(kid) || bound.includes(iss)) continue
    changed = true
    const rest = kids.filter((k) => k !== kid)
    if (rest.length) issuers.set(iss, rest)
    else issuers.delete(iss)
  }
  for (const iss of bound) {
    const kids = issuers.get(iss) ?? []
    if (kids.includes(kid)) continue
    issuers.set(iss, [...kids, kid])
    changed = true
  }
  return changed
}

/**
 * Runs a key parse for a trust-store file: a key the file does not hold is a corrupt store
 * (TRUST_STORE_INVALID, docs/errors.md) and the message names the file to fix or remove.
 */
async function asStoreError<T>(path: string, parse: () => T | Promise<T>): Promise<T> {
  try {
    return await parse()
  } catch (err) {
    if (!(err instanceof CapiscioError)) throw err
    const message = err.message.includes(path) ? err.message : `${path}: ${err.message}`
    throw new CapiscioError('TRUST_STORE_INVALID', message, { cause: err })
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT'
}

/** The trust store: one directory of partner public keys (docs/formats.md, "Trust store"). */
export class TrustStore {
  constructor(
    readonly dir: string,
    private readonly platform: NodeJS.Platform = process.platform,
  ) {}

  private paths(kid: string): { stem: string; jwk: string; pem: string } {
    const stem = stemForKid(kid, this.platform)
    return { stem, jwk: join(this.dir, `${stem}.jwk`), pem: join(this.dir, `${stem}.pem`) }
  }

  /**
   * The kid that owns a stem's files: the JWK's kid, or the stem itself for a lone PEM (as the
   * Python SDK writes them); undefined if neither file exists.
   */
  private async ownerOf(stem: string): Promise<string | undefined> {
    const jwkPath = join(this.dir, `${stem}.jwk`)
    let text: string
    try {
      text = await readFile(jwkPath, 'utf8')
    } catch (err) {
      if (!isMissing(err))
        throw new CapiscioError('TRUST_STORE_INVALID', `${jwkPath} cannot be read`, { cause: err })
      try {
        await readFile(join(this.dir, `${stem}.pem`))
        return stem
      } catch {
        return undefined
      }
    }
    try {
      const kid = (JSON.parse(text) as { kid?: unknown }).kid
      if (typeof kid === 'string') return kid
    } catch {
      // reported below
    }
    throw new CapiscioError('TRUST_STORE_INVALID', `${jwkPath} is not a JWK with a kid`)
  }

  /**
   * Adds (or replaces) a public key under a kid, bound to exactly the given issuers (docs/formats.md, "Trust store"): with
   * none, the key may sign only as its own identity. The key's files and issuers.json are written in
   * one atomic step, so a failure never leaves the key trusted with a binding it was not given.
   */
  async add(
    publicKey: KeyObject,
    kid: string,
    options: { issuers?: readonly string[]; maxLevel?: number } = {},
  ): Promise<AddResult> {
    assertValidKid(kid)
    if (publicKey.type !== 'public') {
      throw new CapiscioError('TRUST_PRIVATE_KEY', 'the trust store keeps public keys only')
    }
    const wanted = [...new Set(options.issuers ?? [])]
    for (const iss of wanted) assertValidIssuer(iss)
    const { maxLevel } = options
    if (maxLevel !== undefined && !LEVELS.includes(String(maxLevel)))
      throw new CapiscioError('USAGE', 'the maximum level must be 0, 1, 2, 3 or 4')
    const { stem, jwk, pem } = this.paths(kid)
    await ensureDir(this.dir)
    const owner = await this.ownerOf(stem)
    if (owner !== undefined && owner !== kid) {
      throw new CapiscioError(
        'TRUST_KID_CONFLICT',
        `key id "${kid}" would share the file ${stem}.jwk with "${owner}"`,
      )
    }
    const issuers = await this.issuers()
    const rebound = bindKid(issuers, kid, wanted)
    const files: FileToWrite[] = [
      {
        path: jwk,
        data:
          JSON.stringify(
            {
              ...publicJwkOf(publicKey, kid),
              ...(maxLevel === undefined ? {} : { [MAX_LEVEL_MEMBER]: String(maxLevel) }),
            },
            null,
            2,
          ) + '\n',
        mode: 0o644,
      },
      { path: pem, data: publicKey.export({ type: 'spki', format: 'pem' }) as string, mode: 0o644 },
    ]
    // Renamed last: a crash between the renames leaves the kid with its previous binding (none if new).
    if (rebound) files.push(this.issuersFile(issuers))
    await writeFilesAtomic(files)
    return { kid, replaced: owner === kid, issuers: wanted, files: { jwk, pem } }
  }

  /** The trusted key with this kid, or undefined. A kid that could never be stored is simply not found. */
  async get(kid: string): Promise<TrustedKey | undefined> {
    try {
      assertValidKid(kid)
    } catch {
      return undefined
    }
    const { stem, jwk, pem } = this.paths(kid)
    let text: string | undefined
    try {
      text = await readTextFile(jwk, MAX_KEY_FILE_BYTES)
    } catch (err) {
      if (!(err instanceof CapiscioError && err.code === 'FILE_NOT_FOUND')) throw err
    }
    if (text !== undefined) {
      let doc: unknown
      try {
        doc = JSON.parse(text)
      } catch (err) {
        throw new CapiscioError('TRUST_STORE_INVALID', `${jwk} is not valid JSON`, { cause: err })
      }
      if ((doc as { kid?: unknown })?.kid !== kid) return undefined
      const parsed = await asStoreError(jwk, () => parseJwk(doc, jwk))
      if (parsed.privateKey)
        throw new CapiscioError('TRUST_STORE_INVALID', `${jwk} holds private key material`)
      const found: TrustedKey = { kid, publicKey: parsed.publicKey, alg: parsed.alg }
      const maxLevel = (doc as Record<string, unknown>)[MAX_LEVEL_MEMBER]
      if (maxLevel !== undefined) {
        if (typeof maxLevel !== 'string' || !LEVELS.includes(maxLevel))
          throw new CapiscioError('TRUST_STORE_INVALID', `${jwk}: ${MAX_LEVEL_MEMBER} must be "0" to "4"`)
        found.maxLevel = Number(maxLevel)
      }
      return found
    }
    // A lone PEM named exactly for the kid, as the Python SimpleGuard's trust store keeps them.
    if (stem !== kid) return undefined
    let pemText: string
    try {
      pemText = await readTextFile(pem, MAX_KEY_FILE_BYTES)
    } catch (err) {
      if (err instanceof CapiscioError && err.code === 'FILE_NOT_FOUND') return undefined
      throw err
    }
    const parsed = await asStoreError(pem, () => parseKey(pemText))
    if (parsed.privateKey) throw new CapiscioError('TRUST_STORE_INVALID', `${pem} holds private key material`)
    return { kid, publicKey: parsed.publicKey, alg: parsed.alg, lonePem: true }
  }

  async list(): Promise<TrustedKeyInfo[]> {
    let names: string[]
    try {
      names = await readdir(this.dir)
    } catch (err) {
      if (isMissing(err)) return []
      throw new CapiscioError('FILE_UNREADABLE', `${this.dir} cannot be read`, { cause: err })
    }
    const stems = new Set(
      names
        .filter((n) => !n.startsWith('.') && /\.(jwk|pem)$/.test(n))
        .map((n) => n.replace(/\.(jwk|pem)$/, '')),
    )
    const issuers = await this.issuers()
    const out: TrustedKeyInfo[] = []
    for (const stem of stems) {
      const kid = await this.ownerOf(stem)
      if (kid === undefined) continue
      const key = await this.get(kid)
      if (!key) continue
      const info: TrustedKeyInfo = {
        kid,
        alg: key.alg,
        thumbprint: await thumbprintOf(key.publicKey),
        issuers: [...issuers].filter(([, kids]) => kids.includes(kid)).map(([iss]) => iss),
        files: { pem: join(this.dir, `${stem}.pem`) },
      }
      const did = didKeyOf(key.publicKey)
      if (did) info.did = did
      if (key.maxLevel !== undefined) info.maxLevel = key.maxLevel
      if (names.includes(`${stem}.jwk`)) info.files.jwk = join(this.dir, `${stem}.jwk`)
      out.push(info)
    }
    return out.sort((a, b) => a.kid.localeCompare(b.kid))
  }

  async remove(kid: string): Promise<{ kid: string; files: string[] }> {
    assertValidKid(kid)
    const { stem, jwk, pem } = this.paths(kid)
    if ((await this.ownerOf(stem)) !== kid) {
      throw new CapiscioError('TRUST_KEY_NOT_FOUND', `no trusted key has the id "${kid}"`, {
        hint: 'run `capiscio trust list` to see the stored key ids',
      })
    }
    const removed: string[] = []
    for (const path of [jwk, pem]) {
      try {
        await unlink(path)
        removed.push(path)
      } catch (err) {
        if (!isMissing(err))
          throw new CapiscioError('WRITE_FAILED', `could not remove ${path}`, { cause: err })
      }
    }
    const issuers = await this.issuers()
    if (bindKid(issuers, kid, [])) await writeFilesAtomic([this.issuersFile(issuers)])
    return { kid, files: removed }
  }

  /**
   * issuers.json: issuer → the kids bound to it. Missing means empty. A Map, so that issuer names
   * such as `__proto__` or `constructor` are plain keys.
   */
  async issuers(): Promise<Map<string, string[]>> {
    const doc = await this.readJson(ISSUERS_FILE)
    if (doc === undefined) return new Map()
    const ok =
      typeof doc === 'object' &&
      doc !== null &&
      !Array.isArray(doc) &&
      Object.values(doc).every((v) => Array.isArray(v) && v.every((k) => typeof k === 'string'))
    if (!ok)
      throw new CapiscioError(
        'TRUST_STORE_INVALID',
        `${join(this.dir, ISSUERS_FILE)} must map issuers to arrays of key ids`,
      )
    // JSON.parse makes every member an own property (`__proto__` included); entries reads only those.
    return new Map(Object.entries(doc as Record<string, string[]>))
  }

  async kidsForIssuer(issuer: string): Promise<string[]> {
    return (await this.issuers()).get(issuer) ?? []
  }

  /** revoked.json: an array of revoked badge jtis. Missing means none. */
  async revokedJtis(): Promise<Set<string>> {
    const doc = await this.readJson(REVOKED_FILE)
    if (doc === undefined) return new Set()
    if (!Array.isArray(doc) || !doc.every((j) => typeof j === 'string')) {
      throw new CapiscioError(
        'TRUST_STORE_INVALID',
        `${join(this.dir, REVOKED_FILE)} must be an array of jti strings`,
      )
    }
    return new Set(doc)
  }

  private issuersFile(issuers: Map<string, string[]>): FileToWrite {
    // Object.fromEntries defines own properties, so `__proto__` stays an ordinary member.
    const data = JSON.stringify(Object.fromEntries(issuers), null, 2) + '\n'
    return { path: join(this.dir, ISSUERS_FILE), data, mode: 0o644 }
  }

  private async readJson(name: string): Promise<unknown> {
    const path = join(this.dir, name)
    let text: string
    try {
      text = await readTextFile(path)
    } catch (err) {
      if (err instanceof CapiscioError && err.code === 'FILE_NOT_FOUND') return undefined
      throw err
    }
    try {
      return JSON.parse(text)
    } catch (err) {
      throw new CapiscioError('TRUST_STORE_INVALID', `${path} is not valid JSON`, { cause: err })
    }
  }
}
