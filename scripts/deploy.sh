#!/usr/bin/env bash
# Deploys AlphaPulse to an environment: renders its kustomize overlay with the image tag pinned,
# applies it, waits for the rollout (a new pod must be Ready before an old one goes), checks every
# container's /health from inside its pod, then runs the smoke tests through port-forwards.
#
# usage: scripts/deploy.sh ENVIRONMENT IMAGE_TAG     (ENVIRONMENT: staging | production)
# DRY_RUN=1 prints the rendered manifests and the kubectl commands instead of running them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=environments.sh
source "$(dirname "$0")/environments.sh"

if [[ $# -ne 2 ]]; then
  sed -n '6,7p' "$0" >&2
  exit 2
fi
environment=$1
image_tag=$2
namespace=$(namespace_for "$environment")
overlay=$(overlay_for "$environment")
if [[ ! $image_tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
  echo "deploy: '$image_tag' is not an image tag" >&2
  exit 2
fi

# A throwaway kustomization over the overlay pins the tag without editing the repository.
render() {
  local dir
  dir=$(mktemp -d)
  cat >"$dir/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$dir" "$overlay")
images:
  - name: $IMAGE_REPOSITORY
    newTag: "$image_tag"
YAML
  kubectl kustomize "$dir"
  rm -rf "$dir"
}

check_rollout() {
  run kubectl rollout status "deployment/$DEPLOYMENT" -n "$namespace" --timeout=600s
  [[ ${DRY_RUN:-0} == 1 ]] && return 0
  local ready desired
  ready=$(kubectl get deployment "$DEPLOYMENT" -n "$namespace" -o jsonpath='{.status.readyReplicas}')
  desired=$(kubectl get deployment "$DEPLOYMENT" -n "$namespace" -o jsonpath='{.spec.replicas}')
  if [[ $ready != "$desired" ]]; then
    echo "deploy: $DEPLOYMENT has $ready/$desired replicas ready" >&2
    exit 1
  fi
  echo "deploy: $DEPLOYMENT healthy, $ready/$desired replicas ready"
}

# Distroless has no curl: each container checks itself with `alphapulse healthcheck`.
check_health() {
  [[ ${DRY_RUN:-0} == 1 ]] && return 0
  local pod container port
  pod=$(kubectl get pods -n "$namespace" -l app=alphapulse --field-selector=status.phase=Running \
    -o jsonpath='{.items[0].metadata.name}')
  while read -r container port; do
    kubectl exec "$pod" -n "$namespace" -c "$container" -- \
      /app/alphapulse healthcheck "http://127.0.0.1:$port/health"
    echo "deploy: $pod/$container /health ok"
  done < <(kubectl get deployment "$DEPLOYMENT" -n "$namespace" -o jsonpath='{range .spec.template.spec.containers[*]}{.name}{" "}{.ports[?(@.name!="websocket")].containerPort}{"\n"}{end}')
}

smoke_test() {
  [[ ${DRY_RUN:-0} == 1 ]] && return 0
  local forward_pid
  kubectl port-forward -n "$namespace" svc/alphapulse-websocket 18765:8765 >/dev/null &
  forward_pid=$!
  kubectl port-forward -n "$namespace" svc/alphapulse-metrics 18766:8766 >/dev/null &
  trap 'kill "$forward_pid" $! 2>/dev/null || true' EXIT
  "$REPO_ROOT/scripts/smoke-tests.sh" http://127.0.0.1:18765 http://127.0.0.1:18766
}

started=$SECONDS
echo "deploy: $environment ($namespace) <- $IMAGE_REPOSITORY:$image_tag"
if [[ ${DRY_RUN:-0} == 1 ]]; then
  render
else
  render | kubectl apply -f -
fi
check_rollout
check_health
smoke_test
echo "deploy: $environment done in $((SECONDS - started)) s"
