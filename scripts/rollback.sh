#!/usr/bin/env bash
# Rolls AlphaPulse back to the previous (or a given) revision of its Deployment. Collectors and
# broadcaster share one Deployment, so one undo moves them together and they never mismatch.
#
# usage: scripts/rollback.sh ENVIRONMENT [REVISION]   (kubectl rollout history lists revisions)
# DRY_RUN=1 prints the kubectl commands instead of running them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=environments.sh
source "$(dirname "$0")/environments.sh"

if [[ $# -lt 1 || $# -gt 2 ]]; then
  sed -n '5,6p' "$0" >&2
  exit 2
fi
environment=$1
revision=${2:-}
namespace=$(namespace_for "$environment")
if [[ -n $revision && ! $revision =~ ^[0-9]+$ ]]; then
  echo "rollback: revision '$revision' is not a number" >&2
  exit 2
fi

started=$SECONDS
run kubectl rollout history "deployment/$DEPLOYMENT" -n "$namespace"
if [[ -n $revision ]]; then
  echo "rollback: $environment ($namespace) to revision $revision"
  run kubectl rollout undo "deployment/$DEPLOYMENT" -n "$namespace" --to-revision="$revision"
else
  echo "rollback: $environment ($namespace) to the previous revision"
  run kubectl rollout undo "deployment/$DEPLOYMENT" -n "$namespace"
fi
run kubectl rollout status "deployment/$DEPLOYMENT" -n "$namespace" --timeout=300s
echo "rollback: $environment done in $((SECONDS - started)) s"
