# Sourced by the deployment scripts: what each environment name means on the cluster.
# staging -> namespace alphapulse-staging, overlay k8s/staging; production -> alphapulse, k8s/production.
# IMAGE_REPOSITORY overrides where images are pulled from.
# shellcheck shell=bash

IMAGE_REPOSITORY=${IMAGE_REPOSITORY:-ghcr.io/alphapulse/alphapulse}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The serving Deployment of k8s/base (broadcaster and the rings, in every topology): what the
# smoke tests reach and what restore.sh waits for.
# shellcheck disable=SC2034 # used by the scripts that source this file
DEPLOYMENT=alphapulse

namespace_for() {
  case $1 in
    staging) echo alphapulse-staging ;;
    production) echo alphapulse ;;
    *)
      echo "unknown environment '$1' (staging or production)" >&2
      return 2
      ;;
  esac
}

overlay_for() {
  namespace_for "$1" >/dev/null && echo "$REPO_ROOT/k8s/$1"
}

# Runs a command, or only prints it when DRY_RUN=1 (how the scripts are exercised offline).
run() {
  if [[ ${DRY_RUN:-0} == 1 ]]; then
    printf 'dry-run:'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

# The workloads of rendered manifests on stdin, one "deployment/NAME" or "statefulset/NAME" a line,
# in the order kustomize renders them (it writes "kind:" before "metadata:", and metadata's own
# "  name:" after its labels).
workloads_of() {
  awk '/^---/ { kind = ""; meta = 0 }
    /^kind: (Deployment|StatefulSet)$/ { kind = tolower($2) }
    /^metadata:/ { meta = 1; next }
    /^[^ ]/ { meta = 0 }
    meta && kind != "" && /^  name: / { print kind "/" $2; kind = "" }'
}

# AlphaPulse's Deployments in an environment (its overlay, rendered here): they carry our image and
# move together on deploy and rollback. NATS is a StatefulSet and keeps its own pace.
deployments_for() {
  local overlay
  overlay=$(overlay_for "$1") || return
  kubectl kustomize "$overlay" | workloads_of | sed -n 's#^deployment/##p'
}
