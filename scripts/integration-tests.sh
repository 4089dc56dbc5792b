#!/usr/bin/env bash
# Integration test of a running deployment, deeper than the smoke test: every venue the
# broadcaster lists serves a consistent REST book, the WebSocket streams books and trades for a
# while with every topic's seq chain unbroken, and /metrics exposes the metrics the alerts use.
#
# usage: scripts/integration-tests.sh WS_BASE_URL METRICS_BASE_URL
# MESSAGES (default 200) data messages to check; DATA_TIMEOUT (s, default 120).
set -euo pipefail

if [[ $# -ne 2 ]]; then
  sed -n '6,7p' "$0" >&2
  exit 2
fi
ws_base=${1%/}
metrics_base=${2%/}
messages=${MESSAGES:-200}
data_timeout=${DATA_TIMEOUT:-120}
here=$(cd "$(dirname "$0")" && pwd)

fail() {
  echo "integration: FAIL $*" >&2
  exit 1
}

"$here/smoke-tests.sh" "$ws_base" "$metrics_base"

# Each served exchange/symbol pair (an exchange may list a second ring) answers a book with both
# sides ordered best first.
pairs=$(curl -fsS --max-time 5 "$ws_base/api/v1/symbols" | bun -e '
  const { exchanges } = await Bun.stdin.json();
  for (const venue of exchanges)
    for (const book of venue.symbols) if (book.served) console.log(venue.exchange, book.symbol);
') || fail "/api/v1/symbols"
[[ -n $pairs ]] || fail "no exchange/symbol pair in /api/v1/symbols"
while read -r exchange symbol; do
  curl -fsS --max-time 5 "$ws_base/api/v1/book/$exchange/$symbol?depth=5" | bun -e '
    const book = await Bun.stdin.json();
    // Exact comparison of non-negative decimal strings (prices are never rounded through floats).
    const cmp = (a, b) => {
      const [ai, af = ""] = a.split("."), [bi, bf = ""] = b.split(".");
      const width = Math.max(af.length, bf.length);
      const x = BigInt(ai + af.padEnd(width, "0")), y = BigInt(bi + bf.padEnd(width, "0"));
      return x < y ? -1 : x > y ? 1 : 0;
    };
    const ordered = (levels, sign) => levels.every((l, i) => i === 0 || cmp(levels[i - 1][0], l[0]) === sign);
    if (!Array.isArray(book.bids) || !Array.isArray(book.asks)) throw new Error("no bids/asks");
    if (!ordered(book.bids, 1) || !ordered(book.asks, -1)) throw new Error("levels not best first");
    if (book.bids.length > 0 && book.asks.length > 0 && cmp(book.bids[0][0], book.asks[0][0]) >= 0)
      throw new Error("crossed book");
  ' || fail "REST book $exchange $symbol"
  echo "integration: REST book $exchange $symbol ok"
done <<<"$pairs"

result=$(bun "$here/ws-probe.ts" "ws${ws_base#http}/ws" --topics 'book.*.*,trades.*.*' \
  --messages "$messages" --timeout-ms $((data_timeout * 1000)) --chain) ||
  fail "WebSocket stream: $result"
echo "integration: $messages data messages, seq chains unbroken: $result"

metrics=$(curl -fsS --max-time 5 "$metrics_base/metrics") || fail "$metrics_base/metrics"
for name in alphapulse_delta_compression_ratio alphapulse_broadcast_clients_connected; do
  grep -q "^$name" <<<"$metrics" || fail "/metrics lacks $name"
done
echo "integration: OK"
