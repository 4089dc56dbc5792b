#!/usr/bin/env bash
# Rolls AlphaPulse back: every Deployment of the environment to its previous revision, or the named
# Deployments to the given revisions (what deploy.sh does when a rollout fails). All AlphaPulse
# containers of a topology move together (single-node: one Deployment; fabric: the serving pods
# and each venue's collectors), so relays never read a stream from collectors of another version
# for longer than a rollout. NATS (a StatefulSet) is not rolled back with them.
#
# usage: scripts/rollback.sh ENVIRONMENT [DEPLOYMENT=REVISION ...]
#        (kubectl rollout history deployment/NAME lists a Deployment's revisions)
# DRY_RUN=1 prints the kubectl commands instead of running them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=environments.sh
source "$(dirname "$0")/environments.sh"

if [[ $# -lt 1 ]]; then
  sed -n '8,9p' "$0" >&2
  exit 2
fi
environment=$1
shift
namespace=$(namespace_for "$environment")
targets=()
for pair in "$@"; do
  if [[ ! $pair =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?=[0-9]+$ ]]; then
    echo "rollback: '$pair' is not DEPLOYMENT=REVISION" >&2
    exit 2
  fi
  targets+=("$pair")
done
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(deployments_for "$environment")
fi

started=$SECONDS
for target in "${targets[@]}"; do
  deployment=${target%%=*}
  run kubectl rollout history "deployment/$deployment" -n "$namespace"
  if [[ $target == *=* ]]; then
    echo "rollback: $environment ($namespace) $deployment to revision ${target#*=}"
    run kubectl rollout undo "deployment/$deployment" -n "$namespace" --to-revision="${target#*=}"
  else
    echo "rollback: $environment ($namespace) $deployment to its previous revision"
    run kubectl rollout undo "deployment/$deployment" -n "$namespace"
  fi
done
for target in "${targets[@]}"; do
  run kubectl rollout status "deployment/${target%%=*}" -n "$namespace" --timeout=300s
done
echo "rollback: $environment done in $((SECONDS - started)) s"
