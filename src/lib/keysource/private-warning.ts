/**
 * The warning for a verifier given a private key (`--key`, `--local-key`): it works, as only the
 * public half is used, but the operator now holds a secret that belongs to the key's owner.
 */
export function privateKeyWarning(path: string): string {
  return `${path} holds a private key; only its public half is used. A verifier needs only the public key (public.jwk): keep the private key with its owner`
}
