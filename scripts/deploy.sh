#!/usr/bin/env bash
# Deploys AlphaPulse to an environment: renders its kustomize overlay with the image tag pinned,
# applies it, waits for every workload's rollout (a new pod must be Ready before an old one goes;
# in the fabric: NATS, each venue's collectors, the serving pods), checks every AlphaPulse
# container's /health from inside its pod, then runs the smoke tests through port-forwards. If
# anything fails after the apply changed a Deployment, each changed one goes back to the revision
# that was serving.
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
  local workload ready desired
  for workload in "${workloads[@]}"; do
    run kubectl rollout status "$workload" -n "$namespace" --timeout=600s
    [[ ${DRY_RUN:-0} == 1 ]] && continue
    ready=$(kubectl get "$workload" -n "$namespace" -o jsonpath='{.status.readyReplicas}')
    desired=$(kubectl get "$workload" -n "$namespace" -o jsonpath='{.spec.replicas}')
    if [[ $ready != "$desired" ]]; then
      echo "deploy: $workload has $ready/$desired replicas ready" >&2
      exit 1
    fi
    echo "deploy: $workload healthy, $ready/$desired replicas ready"
  done
}

# Distroless has no curl: each AlphaPulse container (every container of our Deployments) checks
# itself with `alphapulse healthcheck`, in one pod of each Deployment.
check_health() {
  [[ ${DRY_RUN:-0} == 1 ]] && return 0
  local deployment container port
  for deployment in "${deployments[@]}"; do
    while read -r container port; do
      kubectl exec "deployment/$deployment" -n "$namespace" -c "$container" -- \
        /app/alphapulse healthcheck "http://127.0.0.1:$port/health"
      echo "deploy: $deployment/$container /health ok"
    done < <(kubectl get deployment "$deployment" -n "$namespace" -o jsonpath='{range .spec.template.spec.containers[*]}{.name}{" "}{.ports[?(@.name!="websocket")].containerPort}{"\n"}{end}')
  done
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

# "NAME=REVISION" for each of our Deployments (REVISION empty where it does not exist yet).
revisions() {
  local deployment revision
  for deployment in "${deployments[@]}"; do
    revision=$(kubectl get deployment "$deployment" -n "$namespace" \
      -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}' 2>/dev/null || true)
    echo "$deployment=$revision"
  done
}

# On failure after the apply changed pod templates, each changed Deployment goes back to the
# revision that was serving.
forwards=()
revisions_before=()
revisions_after=()
on_exit() {
  local status=$? i changed=()
  if ((${#forwards[@]} > 0)); then kill "${forwards[@]}" 2>/dev/null || true; fi
  for i in "${!revisions_before[@]}"; do
    [[ ${revisions_before[i]} != *= && ${revisions_after[i]:-} != "${revisions_before[i]}" ]] &&
      changed+=("${revisions_before[i]}")
  done
  if ((status != 0 && ${#changed[@]} > 0)); then
    echo "deploy: failed; rolling back to ${changed[*]}" >&2
    "$REPO_ROOT/scripts/rollback.sh" "$environment" "${changed[@]}" || true
  fi
  exit "$status"
}
trap on_exit EXIT

started=$SECONDS
echo "deploy: $environment ($namespace) <- $IMAGE_REPOSITORY:$image_tag"
manifests=$(render)
mapfile -t workloads < <(workloads_of <<<"$manifests")
mapfile -t deployments < <(workloads_of <<<"$manifests" | sed -n 's#^deployment/##p')
if [[ ${DRY_RUN:-0} == 1 ]]; then
  echo "$manifests"
else
  mapfile -t revisions_before < <(revisions)
  kubectl apply -f - <<<"$manifests"
  mapfile -t revisions_after < <(revisions)
fi
check_rollout
check_health
post_deploy_tests
echo "deploy: $environment done in $((SECONDS - started)) s"
