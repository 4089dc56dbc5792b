#!/usr/bin/env bash
# Smoke test of a running broadcaster: /health and /ready on its metrics port, the REST symbol
# list and a WebSocket subscription that receives data. Used after every deploy and in CI.
#
# usage: scripts/smoke-tests.sh WS_BASE_URL METRICS_BASE_URL
#   e.g. scripts/smoke-tests.sh http://127.0.0.1:8765 http://127.0.0.1:8766
# READY_TIMEOUT (s, default 60) bounds the wait for /ready; DATA_TIMEOUT (s, default 30) the
# wait for the first data message.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  sed -n '5,6p' "$0" >&2
  exit 2
fi
ws_base=${1%/}
metrics_base=${2%/}
ready_timeout=${READY_TIMEOUT:-60}
data_timeout=${DATA_TIMEOUT:-30}
here=$(cd "$(dirname "$0")" && pwd)

fail() {
  echo "smoke: FAIL $*" >&2
  exit 1
}

curl -fsS -o /dev/null --max-time 5 "$metrics_base/health" || fail "$metrics_base/health"
echo "smoke: /health ok"

deadline=$((SECONDS + ready_timeout))
until curl -fsS -o /dev/null --max-time 5 "$metrics_base/ready"; do
  if ((SECONDS > deadline)); then
    fail "/ready not 200 after ${ready_timeout}s: $(curl -sS --max-time 5 "$metrics_base/ready" || true)"
  fi
  sleep 1
done
echo "smoke: /ready ok"

symbols=$(curl -fsS --max-time 5 "$ws_base/api/v1/symbols") || fail "$ws_base/api/v1/symbols"
[[ $symbols == *'"symbol"'* ]] || fail "/api/v1/symbols lists no symbol: $symbols"
echo "smoke: /api/v1/symbols ok"

ws_url="ws${ws_base#http}/ws"
result=$(bun "$here/ws-probe.ts" "$ws_url" --messages 1 --timeout-ms $((data_timeout * 1000))) ||
  fail "WebSocket subscription: $result"
echo "smoke: WebSocket data ok $result"
echo "smoke: OK"
