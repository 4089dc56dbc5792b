#!/usr/bin/env bash
# Deploys AlphaPulse to an environment: renders its kustomize overlay with the image tag pinned,
# applies it, waits for the rollout (a new pod must be Ready before an old one goes), checks every
# container's /health from inside its pod, then runs the smoke tests through port-forwards. If
# anything fails after the apply changed the Deployment, it rolls back to the previous revision.
#
# usage: scripts/deploy.sh ENVIRONMENT IMAGE_TAG     (ENVIRONMENT: staging | production)
# INTEGRATION=1 runs the integration tests instead of the smoke tests.
# DRY_RUN=1 prints the rendered manifests and the kubectl commands instead of running them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=environments.sh
source "$(dirname "$0")/environments.sh"

if [[ $# -ne 2 ]]; then
  sed -n '7,9p' "$0" >&2
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

# Smoke tests (or, with INTEGRATION=1, the integration tests) through port-forwards to the Services.
post_deploy_tests() {
  [[ ${DRY_RUN:-0} == 1 ]] && return 0
  local tests=smoke-tests.sh
  [[ ${INTEGRATION:-0} == 1 ]] && tests=integration-tests.sh
  kubectl port-forward -n "$namespace" svc/alphapulse-websocket 18765:8765 >/dev/null &
  forwards+=($!)
  kubectl port-forward -n "$namespace" svc/alphapulse-metrics 18766:8766 >/dev/null &
  forwards+=($!)
  local deadline=$((SECONDS + 30))
  until curl -fs -o /dev/null http://127.0.0.1:18766/health && curl -s -o /dev/null http://127.0.0.1:18765/; do
    ((SECONDS < deadline)) || { echo "deploy: port-forwards did not come up" >&2; return 1; }
    sleep 0.5
  done
  "$REPO_ROOT/scripts/$tests" http://127.0.0.1:18765 http://127.0.0.1:18766
}

revision() {
  kubectl get deployment "$DEPLOYMENT" -n "$namespace" \
    -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}' 2>/dev/null || true
}

# On failure after the apply changed the pod template, go back to the revision that was serving.
forwards=()
revision_before=""
revision_after=""
on_exit() {
  local status=$?
  if ((${#forwards[@]} > 0)); then kill "${forwards[@]}" 2>/dev/null || true; fi
  if ((status != 0)) && [[ -n $revision_before && $revision_after != "$revision_before" ]]; then
    echo "deploy: failed; rolling back to revision $revision_before" >&2
    "$REPO_ROOT/scripts/rollback.sh" "$environment" "$revision_before" || true
  fi
  exit "$status"
}
trap on_exit EXIT

started=$SECONDS
echo "deploy: $environment ($namespace) <- $IMAGE_REPOSITORY:$image_tag"
if [[ ${DRY_RUN:-0} == 1 ]]; then
  render
else
  revision_before=$(revision)
  render | kubectl apply -f -
  revision_after=$(revision)
fi
check_rollout
check_health
post_deploy_tests
echo "deploy: $environment done in $((SECONDS - started)) s"
