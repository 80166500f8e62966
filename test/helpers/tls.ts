import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

/** A throwaway P-256 certificate for localhost, made by openssl: `{key, cert}` PEM paths in `dir`. */
export function selfSignedCert(dir: string, stem = 'tls'): { key: string; cert: string } {
  const key = join(dir, `${stem}.key`)
  const cert = join(dir, `${stem}.crt`)
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
  args.push('-keyout', key, '-out', cert, '-subj', '/CN=localhost', '-days', '1')
  execFileSync('openssl', args, { stdio: 'ignore' })
  return { key, cert }
}
