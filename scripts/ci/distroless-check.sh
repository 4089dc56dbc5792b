#!/usr/bin/env bash
# Proves the Dockerfile's runtime claim without a Docker engine: the compiled binary runs in an
# empty, read-only root that holds only the files `ldd` lists (plus /proc and a tmpfs at
# /dev/shm, as distroless under Kubernetes has), as uid 65532 and as PID 1 of its own PID
# namespace; it serves /health and /ready, answers its own `healthcheck`, and exits cleanly
# within the grace period on SIGTERM.
#
# usage: scripts/ci/distroless-check.sh MODE METRICS_PORT [NAME=VALUE...]
#   MODE          a mode that serves METRICS_PORT (collect, broadcast)
#   METRICS_PORT  where that mode serves /health and /ready (loopback)
#   NAME=VALUE    extra environment for the mode (SIMULATOR_PORT=..., EXCHANGE_WS_URL=...)
# BINARY=path overrides the binary (default dist/alphapulse, built if missing).
# GRACE_MS (default 5000) is passed as SHUTDOWN_GRACE_MS and is the deadline for the exit.
# RINGS_DIR=host-dir is mounted read-only at /dev/shm/alphapulse (as the broadcaster mounts the
# pod's rings volume); without it that path is the root's own empty tmpfs.
# READY_TIMEOUT (s, default 60) bounds the wait for /health and /ready.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  sed -n '8,16p' "$0" >&2
  exit 2
fi
mode=$1
metrics_port=$2
shift 2
repo=$(cd "$(dirname "$0")/../.." && pwd)
binary=${BINARY:-$repo/dist/alphapulse}
grace_ms=${GRACE_MS:-5000}
nonroot=65532

for tool in unshare nsenter chroot ldd curl mount; do
  command -v "$tool" >/dev/null || { echo "distroless-check: $tool is missing" >&2; exit 1; }
done
if [[ ! -x $binary ]]; then
  (cd "$repo" && bun run build >/dev/null)
fi

root=$(mktemp -d /tmp/ap-distroless.XXXXXX)
chmod 0755 "$root"
runner_pid=""
app_pid=""
cleanup() {
  # The binary is PID 1 of its namespace: killing it ends the namespace; unshare alone would not.
  if [[ -n $app_pid ]]; then kill -KILL "$app_pid" 2>/dev/null || true; fi
  if [[ -n $runner_pid ]] && kill -0 "$runner_pid" 2>/dev/null; then
    kill -KILL "$runner_pid" 2>/dev/null || true
    wait "$runner_pid" 2>/dev/null || true
  fi
  rm -rf "$root"
}
trap cleanup EXIT

# The root: the binary at /app (as in the image) and exactly the shared objects ldd names.
install -D -m 0755 "$binary" "$root/app/alphapulse"
libs=()
while read -r lib; do
  libs+=("$lib")
  install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
done < <(ldd "$binary" | grep -oE '/[^ ]+\.so[^ ]*')
mkdir -p "$root/proc" "$root/dev/shm"
echo "distroless-check: root holds /app/alphapulse and ${#libs[@]} libraries: ${libs[*]}"

env_args=(
  "ALPHAPULSE_MODE=$mode"
  "METRICS_PORT=$metrics_port"
  "SHARED_MEMORY_PATH=/dev/shm/alphapulse"
  "SHUTDOWN_GRACE_MS=$grace_ms"
  "$@"
)

# Inside a new mount and PID namespace: a read-only bind of the root, /proc of the new PID
# namespace, a tmpfs for the rings; then exec, so the binary itself becomes PID 1.
# shellcheck disable=SC2016 # $1 and $@ belong to the inner shell
unshare --mount --pid --fork /bin/sh -c '
  set -e
  root=$1; uid=$2; chroot=$3; rings=$4; shift 4
  mount --bind "$root" "$root"
  mount -o remount,bind,ro "$root"
  mount -t proc proc "$root/proc"
  mount -t tmpfs -o size=64m,mode=1777 shm "$root/dev/shm"
  if [ -n "$rings" ]; then
    mkdir "$root/dev/shm/alphapulse"
    mount --bind "$rings" "$root/dev/shm/alphapulse"
    mount -o remount,bind,ro "$root/dev/shm/alphapulse"
  fi
  exec env -i "$@" "$chroot" --userspec="$uid:$uid" "$root" /app/alphapulse
' sh "$root" "$nonroot" "$(command -v chroot)" "${RINGS_DIR:-}" "${env_args[@]}" &
runner_pid=$!

# The binary's host PID: the child unshare forked (it exec'ed sh, env, chroot, the binary).
for _ in $(seq 1 100); do
  app_pid=$(pgrep -P "$runner_pid" || true)
  if [[ -n $app_pid ]] && [[ $(readlink "/proc/$app_pid/exe" || true) == "$root/app/alphapulse" ]]; then
    break
  fi
  sleep 0.1
done
[[ -n $app_pid ]] || { echo "distroless-check: FAIL the binary did not start" >&2; exit 1; }

wait_for() {
  local path=$1 deadline=$((SECONDS + ${READY_TIMEOUT:-60}))
  until curl -fsS -o /dev/null "http://127.0.0.1:$metrics_port$path"; do
    if ((SECONDS > deadline)); then
      echo "distroless-check: FAIL $path never answered 200" >&2
      curl -sS "http://127.0.0.1:$metrics_port$path" >&2 || true
      return 1
    fi
    kill -0 "$runner_pid" 2>/dev/null || { echo "distroless-check: FAIL the binary exited" >&2; return 1; }
    sleep 0.2
  done
  echo "distroless-check: $path answered 200"
}
wait_for /health
wait_for /ready

ns_pid=$(awk '/^NSpid:/ {print $NF}' "/proc/$app_pid/status")
uid=$(awk '/^Uid:/ {print $2}' "/proc/$app_pid/status")
[[ $ns_pid == 1 ]] || { echo "distroless-check: FAIL the binary is PID $ns_pid, not 1" >&2; exit 1; }
[[ $uid == "$nonroot" ]] || { echo "distroless-check: FAIL the binary runs as uid $uid" >&2; exit 1; }
echo "distroless-check: PID 1 in its namespace, uid $uid, read-only root"

# The image's HEALTHCHECK command, run in the same root and namespaces (its /proc must show it).
nsenter --target "$app_pid" --mount --pid -- env -i "METRICS_PORT=$metrics_port" "$(command -v chroot)" --userspec="$nonroot:$nonroot" "$root" /app/alphapulse healthcheck
echo "distroless-check: 'alphapulse healthcheck' inside the root exited 0"

started=$(date +%s%N)
kill -TERM "$app_pid"
status=0
wait "$runner_pid" || status=$?
runner_pid=""
app_pid=""
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
if [[ $status -ne 0 ]]; then
  echo "distroless-check: FAIL exit status $status after SIGTERM" >&2
  exit 1
fi
if ((elapsed_ms > grace_ms)); then
  echo "distroless-check: FAIL exit took ${elapsed_ms} ms, grace is ${grace_ms} ms" >&2
  exit 1
fi
echo "distroless-check: OK mode=$mode exited 0 ${elapsed_ms} ms after SIGTERM (grace ${grace_ms} ms)"
