// Bearer-JWT verification throughput on distinct tokens, for HS256, ES256 and EdDSA, against
// fast-jwt's verifier (the baseline: the fastest maintained JWT verifier for Node, cache off) and
// jose's jwtVerify, all checking the same things (signature, exp, audience). Then the cost
// authMiddleware adds per request over calling the authenticator directly.
import { createHmac, createPublicKey, timingSafeEqual, verify } from 'node:crypto'

import { createVerifier } from 'fast-jwt'
import { jwtVerify } from 'jose'

import { loop, race } from './measure.js'
import {
  authMiddleware,
  createTokenVerifier,
  generateKey,
  JWTAuthenticator,
  mintToken,
  StaticKeySource,
} from '../dist/index.js'

const N = Number(process.env.BENCH_JWT_TOKENS ?? 5000)
const ROUNDS = Number(process.env.BENCH_JWT_ROUNDS ?? 7)
const AUD = 'https://api.example.com'
const SECRET = 'a-48-character-shared-secret-for-the-hs256-bench'
const MIDDLEWARE_TARGET_US = 5

async function setup(alg) {
  let signWith
  let verifyKey
  let joseKey
  let fastKey
  if (alg === 'HS256') {
    signWith = { secret: SECRET }
    verifyKey = { secret: SECRET }
    joseKey = Buffer.from(SECRET, 'utf8')
    fastKey = SECRET
  } else {
    const key = await generateKey(alg)
    const publicKey = createPublicKey(key.privateKey)
    signWith = { privateKey: key.privateKey, kid: key.kid }
    verifyKey = { keys: new StaticKeySource([{ publicKey, kid: key.kid }]) }
    joseKey = publicKey
    fastKey = publicKey.export({ type: 'spki', format: 'pem' })
  }
  const tokens = []
  for (let i = 0; i < N; i++)
    tokens.push(
      mintToken({ ...signWith, sub: `service-${i}`, aud: AUD, type: 'service', roles: ['reader'] }).token,
    )
  return { tokens, verifyKey, joseKey, fastKey }
}

/**
 * The signature check alone (HMAC, or node:crypto's verify), on the token's own bytes, with no
 * decoding or claim checks: how much of each algorithm's cost is node:crypto's cryptography. The
 * floor for a verifier built on node:crypto; not for ours on EdDSA, which verifies Ed25519 with
 * libsodium when sodium-native loads (badge/jws.ts, verifySignature).
 */
function bareCheck(alg, verifyKey) {
  const split = (t) => {
    const dot = t.lastIndexOf('.')
    return [Buffer.from(t.slice(0, dot), 'latin1'), Buffer.from(t.slice(dot + 1), 'base64url')]
  }
  if (alg === 'HS256') {
    const secret = Buffer.from(verifyKey.secret, 'utf8')
    return (t) => {
      const [data, sig] = split(t)
      return timingSafeEqual(createHmac('sha256', secret).update(data).digest(), sig)
    }
  }
  const [{ publicKey }] = verifyKey.keys.findSync({ alg, iss: '' })
  const key = alg === 'ES256' ? { key: publicKey, dsaEncoding: 'ieee-p1363' } : publicKey
  return (t) => {
    const [data, sig] = split(t)
    return verify(alg === 'ES256' ? 'sha256' : null, data, key, sig)
  }
}

export async function jwtBench() {
  const lines = [
    '## Bearer-token verification throughput',
    '',
    `${N} distinct valid tokens per algorithm, median of ${ROUNDS} interleaved rounds. Every verifier checks the ` +
      'signature, `exp` and the audience, and must accept every token. Baseline: fast-jwt `createVerifier` ' +
      '(cache off). Goal: `JWTAuthenticator` (verify + claim mapping to an Identity) ≥ 1.0× fast-jwt.',
    '',
    '| alg | bare `node:crypto` signature check (no JWT work) | fast-jwt | jose `jwtVerify` | `createTokenVerifier` | `JWTAuthenticator` | goal |',
    '|---|---|---|---|---|---|---|',
  ]
  let hs256
  for (const alg of ['HS256', 'ES256', 'EdDSA']) {
    const { tokens, verifyKey, joseKey, fastKey } = await setup(alg)
    const fast = createVerifier({ key: fastKey, algorithms: [alg], allowedAud: AUD, cache: false })
    const verify = createTokenVerifier({ ...verifyKey, audience: AUD })
    const auth = new JWTAuthenticator({ ...verifyKey, audience: AUD })
    // Headers as a server has them: built before the clock starts, as the other contenders' tokens are.
    const headers = tokens.map((t) => ({ authorization: `Bearer ${t}` }))
    if (alg === 'HS256') hs256 = { tokens, auth }
    const bare = bareCheck(alg, verifyKey)
    const [b, f, j, v, a] = await race(ROUNDS, N, [
      { run: loop('bare', tokens, bare) },
      { run: loop('fast-jwt', tokens, (t) => fast(t).sub !== undefined) },
      {
        run: loop(
          'jose',
          tokens,
          async (t) => (await jwtVerify(t, joseKey, { algorithms: [alg], audience: AUD })).payload.sub,
        ),
      },
      { run: loop('createTokenVerifier', tokens, async (t) => (await verify(t)).claims.sub) },
      {
        run: loop('JWTAuthenticator', headers, async (h) => (await auth.authenticate(h)) !== null),
      },
    ])
    const ratio = (x) => `${(x / f).toFixed(2)}×`
    lines.push(
      `| ${alg} | ${b.toFixed(0)}/s (${ratio(b)}) | ${f.toFixed(0)}/s (1.00×) | ${j.toFixed(0)}/s (${ratio(j)}) | ${v.toFixed(0)}/s (${ratio(v)}) | ` +
        `${a.toFixed(0)}/s (${ratio(a)}) | ${a >= f ? 'met' : 'NOT met'} |`,
    )
  }

  // The middleware's own cost: the same HS256 tokens through authMiddleware (exemption check,
  // authenticate, AsyncLocalStorage around next) against calling authenticate directly.
  const { tokens, auth } = hs256
  const middleware = authMiddleware({ authenticator: auth })
  const res = {
    headersSent: false,
    setHeader() {},
    end() {
      throw new Error('the middleware refused a valid token')
    },
  }
  const requests = tokens.map((t) => ({
    method: 'POST',
    url: '/',
    headers: { authorization: `Bearer ${t}` },
  }))
  const [direct, through] = await race(ROUNDS, N, [
    { run: loop('authenticate', requests, async (req) => (await auth.authenticate(req.headers)) !== null) },
    {
      run: loop(
        'authMiddleware',
        requests,
        (req) => new Promise((resolve) => middleware(req, res, () => resolve(true))),
      ),
    },
  ])
  const overheadUs = (1 / through - 1 / direct) * 1e6
  lines.push(
    '',
    `\`authMiddleware\` over \`authenticate\` (HS256, same tokens): ${direct.toFixed(0)}/s direct, ` +
      `${through.toFixed(0)}/s through the middleware: **${overheadUs.toFixed(2)} µs** per request ` +
      `(goal < ${MIDDLEWARE_TARGET_US} µs: ${overheadUs < MIDDLEWARE_TARGET_US ? 'met' : 'NOT met'}).`,
    '',
  )
  return lines.join('\n')
}
