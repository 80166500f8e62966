#!/usr/bin/env bash
# The main job end to end, in a throw-away directory: make keys for an agent and a partner, trust the
# partner, and list the trust store. Later capabilities extend this script.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
capiscio() { NODE_ENV=production node "$ROOT/bin/run.js" "$@"; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/capiscio-demo.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "capiscio key gen --out capiscio_keys/   (our agent's identity)"
capiscio key gen --out capiscio_keys/

step "capiscio key gen --out partner_keys/ --alg ES256   (a partner agent)"
capiscio key gen --out partner_keys/ --alg ES256 --quiet

step "capiscio trust add partner_keys/public.jwk --issuer https://partner.example.com"
capiscio trust add partner_keys/public.jwk --issuer https://partner.example.com

step "capiscio trust list"
capiscio trust list

step "files"
ls -l capiscio_keys capiscio_keys/trusted

printf '\ndemo: ok\n'
