#!/usr/bin/env bash
# The main job end to end (npm run demo): keys for a client agent, a sample agent, the gateway in
# front of it, then a request with a valid badge (200), without one (401), with a forged one (403),
# and a look at /metrics. Everything runs on loopback ports chosen free, in a throw-away directory,
# and everything started is stopped at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
capiscio() { NODE_ENV=production node "$ROOT/bin/run.js" "$@"; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/capiscio-demo.XXXXXX")"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_http() { for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "demo: $1 did not come up" >&2; exit 1; }
show() { # status line and body of a request, as curl -i would, but short
  local out; out=$(curl -s -o "$WORK/body" -w '%{http_code}' "$@"); echo "HTTP $out  $(cat "$WORK/body")"
}

AGENT_PORT=$(free_port)
GW_PORT=$(free_port)

step "capiscio key gen --out client/   (the calling agent's identity)"
capiscio key gen --out client/

step "a sample agent on 127.0.0.1:$AGENT_PORT"
node "$ROOT/scripts/sample-agent.mjs" "$AGENT_PORT" &
PIDS+=($!)
wait_http "http://127.0.0.1:$AGENT_PORT/"

step "capiscio gateway start --port $GW_PORT --target http://127.0.0.1:$AGENT_PORT --local-key client/public.jwk"
# Started as node itself (not through the shell function) so that $! is the gateway's own pid.
NODE_ENV=production node "$ROOT/bin/run.js" gateway start --host 127.0.0.1 --port "$GW_PORT" \
  --target "http://127.0.0.1:$AGENT_PORT" --local-key client/public.jwk 2> gateway.log &
GW_PID=$!
PIDS+=($GW_PID)
wait_http "http://127.0.0.1:$GW_PORT/health"
head -1 gateway.log

step 'BADGE=$(capiscio badge issue --sub "did:capiscio:agent:client" --domain "client.example.com" --key client/private.jwk)'
BADGE=$(capiscio badge issue --sub "did:capiscio:agent:client" --domain "client.example.com" --key client/private.jwk)
echo "${BADGE:0:48}…  (${#BADGE} characters)"

step "a request with the badge  → 200, and the agent sees who called"
show -X POST -H "Authorization: Bearer $BADGE" "http://127.0.0.1:$GW_PORT/api/task" -d '{"task":"summarise"}'

step "a request without a badge → 401"
show -X POST "http://127.0.0.1:$GW_PORT/api/task" -d '{"task":"summarise"}'

step "a request with a forged badge (payload changed, signature kept) → 403"
IFS=. read -r H P S <<< "$BADGE"
FORGED_P=$(node -e 'const p=JSON.parse(Buffer.from(process.argv[1],"base64url"));p.vc.credentialSubject.level="4";process.stdout.write(Buffer.from(JSON.stringify(p)).toString("base64url"))' "$P")
show -X POST -H "Authorization: Bearer $H.$FORGED_P.$S" "http://127.0.0.1:$GW_PORT/api/task" -d '{}'

step "the gateway's log (one line per request, never the badge)"
tail -n 3 gateway.log

step "curl /metrics (a few lines)"
curl -s "http://127.0.0.1:$GW_PORT/metrics" | grep -E '^capiscio_gateway_(requests_total|auth_total)' || true

step "SIGTERM: the gateway drains and exits"
kill -TERM "$GW_PID"
wait "$GW_PID" && echo "gateway exited 0"
tail -n 1 gateway.log

printf '\ndemo: ok\n'
