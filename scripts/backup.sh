#!/usr/bin/env bash
# Backs up AlphaPulse: its configuration (the last-applied manifest of every object) and the
# shared-memory rings of every pod, to the store at BACKUP_URL (s3://, gs:// or file://; default
# file://$PWD/backups). Rings are a live cache of venue data, so a copy is for post-mortems and
# replays (restore.sh rings), never for seeding a live collector, which rebuilds from the venue.
#
# usage: scripts/backup.sh ENVIRONMENT            (staging | production, through kubectl)
#        BACKUP_LOCAL_SHM=DIR scripts/backup.sh local   (a host or container install: rings only)
# Distroless images have no tar, so a pod's rings are read by an ephemeral debug container
# (DEBUG_IMAGE, default busybox:1.36) that shares the broadcaster's process namespace and runs
# as the pod's non-root user; it needs kubectl >= 1.27 (--profile=restricted).
# DRY_RUN=1 prints the cluster commands instead of running them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=environments.sh
source "$(dirname "$0")/environments.sh"
# shellcheck source-path=SCRIPTDIR source=object-store.sh
source "$(dirname "$0")/object-store.sh"

if [[ $# -ne 1 ]]; then
  sed -n '7,8p' "$0" >&2
  exit 2
fi
environment=$1
backup_url=${BACKUP_URL:-file://$PWD/backups}
debug_image=${DEBUG_IMAGE:-busybox:1.36}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ $environment == local ]]; then
  shm=${BACKUP_LOCAL_SHM:?BACKUP_LOCAL_SHM must name the rings directory}
  archive="$work/rings-local-$stamp.tar.gz"
  tar -C "$shm" -czf "$archive" .
  store_put "$archive" "$backup_url"
  echo "backup: rings of $shm -> $backup_url/$(basename "$archive")"
  exit 0
fi

namespace=$(namespace_for "$environment")
# Configuration: exactly what was applied, so restore.sh can apply it again.
config="$work/config-$environment-$stamp.json"
kinds=deployment,statefulset,configmap,service,horizontalpodautoscaler,poddisruptionbudget,networkpolicy,serviceaccount,role,rolebinding
if [[ ${DRY_RUN:-0} == 1 ]]; then
  run kubectl get "$kinds" -n "$namespace" -l app.kubernetes.io/part-of=alphapulse -o json
else
  {
    printf '{"apiVersion":"v1","kind":"List","items":['
    kubectl get "$kinds" -n "$namespace" -l app.kubernetes.io/part-of=alphapulse \
      -o jsonpath='{range .items[*]}{.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}{"\n"}{end}' |
      grep -v '^$' | sed '$!s/$/,/'
    printf ']}\n'
  } >"$config"
  store_put "$config" "$backup_url"
  echo "backup: configuration -> $backup_url/$(basename "$config")"
fi

# Rings: one archive per serving pod (single-node: independent copies of the venues; fabric: the
# relays' copies of the same streams).
pods=$(kubectl get pods -n "$namespace" -l app=alphapulse --field-selector=status.phase=Running \
  -o jsonpath='{.items[*].metadata.name}' 2>/dev/null || true)
[[ ${DRY_RUN:-0} == 1 ]] && pods=${pods:-POD}
for pod in $pods; do
  reader="ring-backup-$stamp"
  reader=${reader,,}
  run kubectl debug -n "$namespace" "$pod" --image="$debug_image" --target=broadcaster \
    --profile=restricted --container="$reader" --attach=false -- sleep 600
  archive="$work/rings-$pod-$stamp.tar.gz"
  if [[ ${DRY_RUN:-0} == 1 ]]; then
    run kubectl exec -n "$namespace" "$pod" -c "$reader" -- tar -C /proc/1/root/dev/shm/alphapulse -czf - .
    continue
  fi
  for _ in $(seq 1 60); do
    state=$(kubectl get pod "$pod" -n "$namespace" \
      -o jsonpath="{.status.ephemeralContainerStatuses[?(@.name==\"$reader\")].state.running}")
    [[ -n $state ]] && break
    sleep 2
  done
  # PID 1 of the shared process namespace is the broadcaster; its root shows the rings volume.
  kubectl exec -n "$namespace" "$pod" -c "$reader" -- \
    tar -C /proc/1/root/dev/shm/alphapulse -czf - . >"$archive"
  store_put "$archive" "$backup_url"
  echo "backup: rings of $pod -> $backup_url/$(basename "$archive")"
done
