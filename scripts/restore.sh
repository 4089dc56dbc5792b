#!/usr/bin/env bash
# Restores what backup.sh saved.
#   scripts/restore.sh config ENVIRONMENT URL   applies a saved configuration again (kubectl apply)
#   scripts/restore.sh rings URL DIR            unpacks saved rings into DIR for a post-mortem:
#     `alphapulse inspect DIR/kraken.ring`, or `SHARED_MEMORY_PATH=DIR alphapulse broadcast` to
#     serve them read-only. DIR must not hold rings already (a live collector's directory).
# URL is one object of the backup store: s3://..., gs://... or file:///...
# DRY_RUN=1 prints the cluster commands instead of running them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=environments.sh
source "$(dirname "$0")/environments.sh"
# shellcheck source-path=SCRIPTDIR source=object-store.sh
source "$(dirname "$0")/object-store.sh"

usage() {
  sed -n '3,5p' "$0" >&2
  exit 2
}
[[ $# -eq 3 ]] || usage
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

case $1 in
  config)
    namespace=$(namespace_for "$2")
    store_get "$3" "$work/config.json"
    run kubectl apply -n "$namespace" -f "$work/config.json"
    run kubectl rollout status "deployment/$DEPLOYMENT" -n "$namespace" --timeout=600s
    echo "restore: configuration of $2 applied from $3"
    ;;
  rings)
    dir=$3
    if compgen -G "$dir/*.ring" >/dev/null; then
      echo "restore: $dir already holds rings; choose an empty directory" >&2
      exit 1
    fi
    store_get "$2" "$work/rings.tar.gz"
    mkdir -p "$dir"
    tar -C "$dir" -xzf "$work/rings.tar.gz"
    echo "restore: rings from $2 -> $dir:"
    ls -l "$dir"
    ;;
  *) usage ;;
esac
