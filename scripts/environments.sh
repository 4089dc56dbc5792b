# Sourced by the deployment scripts: what each environment name means on the cluster.
# staging -> namespace alphapulse-staging, overlay k8s/staging; production -> alphapulse, k8s/production.
# IMAGE_REPOSITORY overrides where images are pulled from.
# shellcheck shell=bash

IMAGE_REPOSITORY=${IMAGE_REPOSITORY:-ghcr.io/alphapulse/alphapulse}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The one Deployment of k8s/base/deployment.yaml (collectors and broadcaster in each pod).
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
