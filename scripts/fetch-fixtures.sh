#!/usr/bin/env bash
# The captured exchange frames the tests read. They belong to other public projects, so they stay
# out of this repository: this script holds the pinned list (where each file comes from, and its
# sha256) and fetches each file from raw.githubusercontent.com into a git-ignored cache, checked
# against its sha256. A mismatch stops the script.
#
# Where the tests look for a fixture (test/support/fixtures.ts, in this order):
#   1. $ALPHAPULSE_FIXTURES, when set: this script checks that folder and downloads into it;
#   2. ../shared/fixtures beside the clone, when it holds the file: checked, never written;
#   3. .fixtures/ in the repository: this script's cache.
# A file already present there and verified is not downloaded again.
#
# usage: scripts/fetch-fixtures.sh
#   FIXTURES_BASE_URL  a mirror of https://raw.githubusercontent.com (same <repo>/<commit>/<path> layout)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
base_url=${FIXTURES_BASE_URL:-https://raw.githubusercontent.com}
cache="$repo/.fixtures"
shared=$(cd "$repo/.." && pwd)/shared/fixtures

# How each file was made, in the last column:
#   exact    byte for byte the upstream file at that commit.
#   rebuilt  rebuilt from the upstream file's published text and checked against its length and
#            content (ccxt's recordings): the download is expected to match the pinned sum.
#
# local name | sha256 | upstream repository | commit | path in the repository | how
pins=$(
  cat <<'EOF'
ccxt/coinbase.json d77a6a469d00a2c74ce04ea23ca57a04ac5bd55b6067e0adb06a31abfff7f0e4 ccxt/ccxt 089cd5cd0391b220e297af9dc46d19683994dc40 ts/src/test/static/ws/coinbase.json rebuilt
ccxt/kraken.json 5ae5b625b09cb3c914d2df3f157a0388d51aebee4a46e2c87a4a2d5bd3a60136 ccxt/ccxt 0564593f8303cf3769087700b16f9dcd3081f0fd ts/src/test/static/ws/kraken.json rebuilt
cryptofeed/BINANCE.http.0.0 f482e6ea64cb2cbbf2ea6d038f509d9587720631f4287747d2edc480e880c21d bmoscon/cryptofeed ce58c2a0015040aa2271e80bac783d74fa2cdcff sample_data/BINANCE.http.0.0 exact
cryptofeed/BINANCE.ws.1.0 5ba2e0cc8204e49dff3d4c608dbb1c3cacc06d432d910ccc31f6b94136bfa5d2 bmoscon/cryptofeed ce58c2a0015040aa2271e80bac783d74fa2cdcff sample_data/BINANCE.ws.1.0 exact
cryptofeed/BINANCE_US.http.0.0 5c43b120b5a03a67f4681975b1ec2ac5cb52ffe027a9ad19f995c9e7248f0470 bmoscon/cryptofeed ce58c2a0015040aa2271e80bac783d74fa2cdcff sample_data/BINANCE_US.http.0.0 exact
cryptofeed/BINANCE_US.ws.1.0 02b24e620a776d59fd08ed331ac27d810dc191b3ac1d57a924340be87d007987 bmoscon/cryptofeed ce58c2a0015040aa2271e80bac783d74fa2cdcff sample_data/BINANCE_US.ws.1.0 exact
cryptofeed/KRAKEN.ws.50.0 b7faccd1f457a11fd39de563500369a18b7c7e159e8725497a36ad66136907cb bmoscon/cryptofeed ce58c2a0015040aa2271e80bac783d74fa2cdcff sample_data/KRAKEN.ws.50.0 exact
cryptofeed/OKX.0 ce3fda8890fb4c17835ea72b7ae6e02a12c38167a182a31f2cef4335137e3914 bmoscon/cryptofeed ce58c2a0015040aa2271e80bac783d74fa2cdcff sample_data/OKX.0 exact
cryptofeed/OKX.ws.1.0 a9b65fb84bda877ac799d3afe6e3630f0929751b31c6fa1bb4a55e0e6aceac91 bmoscon/cryptofeed ce58c2a0015040aa2271e80bac783d74fa2cdcff sample_data/OKX.ws.1.0 exact
nautilus/coinbase/ws_l2_data_snapshot.json a3d6083c2da04e07db53a4d2f778c028f468ba7581d6db96b939ce2ede9a54ed nautechsystems/nautilus_trader da3425add0b960de61cf3a3cdf3175f70745e1a0 crates/adapters/coinbase/test_data/ws_l2_data_snapshot.json exact
nautilus/coinbase/ws_l2_data_update.json c75f372ac854411bbf629a6ad3f054205b2fe79499d8efa7fbb63c8aef842d5e nautechsystems/nautilus_trader da3425add0b960de61cf3a3cdf3175f70745e1a0 crates/adapters/coinbase/test_data/ws_l2_data_update.json exact
nautilus/coinbase/ws_market_trades.json 0db3fa776f3efa1c80e8ed3aac36d8450181fa970e406487f1a0d754e9a1b399 nautechsystems/nautilus_trader da3425add0b960de61cf3a3cdf3175f70745e1a0 crates/adapters/coinbase/test_data/ws_market_trades.json exact
nautilus/kraken/ws_trade_update.json d80987074a1e46f407585e3c06b48f903a9b5c0d3a15aaee6dc45118488cada8 nautechsystems/nautilus_trader 17b9c239c1d86a16ae1ed6d937aacc7f4c4633a8 crates/adapters/kraken/test_data/ws_trade_update.json exact
EOF
)

sha256_of() {
  if command -v sha256sum >/dev/null; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

failures=0
verified=0
where="" # the folders the fixtures are in, comma-separated
downloaded=0
fail() {
  echo "fetch-fixtures: $*" >&2
  failures=$((failures + 1))
}

# verify NAME FILE SHA256: true when FILE holds the pinned bytes; a mismatch is a failure.
verify() {
  local actual
  actual=$(sha256_of "$2")
  if [[ $actual != "$3" ]]; then
    fail "$1: $2 has sha256 $actual, pinned $3 (a different file: remove it and run this again)"
    return 1
  fi
}

# download NAME DIR SHA256 REPOSITORY COMMIT PATH HOW: fetches into DIR/NAME, checked before it lands.
download() {
  local name=$1 dir=$2 sum=$3 upstream=$4 commit=$5 path=$6 how=$7
  local url="$base_url/$upstream/$commit/$path" partial="$dir/$name.partial"
  mkdir -p "$(dirname "$partial")"
  if ! curl -fsSL --retry 3 --connect-timeout 20 -o "$partial" "$url"; then
    rm -f "$partial"
    fail "$name: cannot download $url"
    return
  fi
  local actual
  actual=$(sha256_of "$partial")
  if [[ $actual != "$sum" ]]; then
    rm -f "$partial"
    fail "$name: $url has sha256 $actual, pinned $sum ($how): not the pinned file"
    return
  fi
  mv "$partial" "$dir/$name"
  downloaded=$((downloaded + 1))
  echo "fetch-fixtures: downloaded $name"
}

while read -r name sum upstream commit path how; do
  if [[ -n ${ALPHAPULSE_FIXTURES:-} ]]; then
    dir=$ALPHAPULSE_FIXTURES
  elif [[ -f $shared/$name ]]; then
    dir=$shared
  else
    dir=$cache
  fi
  [[ ", $where, " == *", $dir, "* ]] || where+="${where:+, }$dir"
  if [[ -f $dir/$name ]]; then
    verify "$name" "$dir/$name" "$sum" && verified=$((verified + 1))
  else
    download "$name" "$dir" "$sum" "$upstream" "$commit" "$path" "$how"
  fi
done <<<"$pins"

total=$(wc -l <<<"$pins")
if ((failures > 0)); then
  echo "fetch-fixtures: FAILED: $failures of $total fixtures missing or not the pinned bytes" >&2
  exit 1
fi
if ((downloaded == 0)); then
  echo "fetch-fixtures: all $total fixtures already present and verified in $where; nothing downloaded"
else
  echo "fetch-fixtures: $total fixtures verified in $where: $downloaded downloaded, $verified already present"
fi
