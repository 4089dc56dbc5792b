#!/usr/bin/env bash
# Builds the real Dockerfile with buildah and runs the image with podman, offline. Nothing can be
# pulled here, so both FROM images are made locally first, standing in for the public ones:
#   localhost/alphapulse-runtime-base  ~ gcr.io/distroless/cc-debian12:nonroot: only glibc (the
#       files `ldd` lists for the binary) and a nonroot passwd entry (65532); no shell, nothing else
#   localhost/alphapulse-bun-builder   ~ oven/bun: this machine's bun, its libraries and a static
#       busybox as /bin/sh for RUN steps
# Then: build (bun install from the npm registry, bun build --compile), inspect the image (user,
# entrypoint, healthcheck), run it as a collector on a simulator (started here from the source,
# on loopback), wait for /health and /ready, run the image's own HEALTHCHECK, stop it with SIGTERM
# and check it exits 0 within the grace period.
#
# usage: scripts/ci/image-build-check.sh
# The simulator picks its own port; the container's metrics port is one found free here (the
# image's HEALTHCHECK reads it from METRICS_PORT, so it cannot be 0).
# Needs root, buildah, podman, runc and busybox-static (installed here when missing).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
grace_ms=5000
storage=(--storage-driver vfs)
tag=localhost/alphapulse:ci-check
base=localhost/alphapulse-runtime-base:ci-check
builder=localhost/alphapulse-bun-builder:ci-check

missing=()
command -v buildah >/dev/null || missing+=(buildah)
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
[[ -x /bin/busybox ]] || missing+=(busybox-static)
if ((${#missing[@]} > 0)); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/ap-image-check.XXXXXX)
simulator_pid=""
container=ap-image-check-$$
cleanup() {
  podman "${storage[@]}" rm -f "$container" >/dev/null 2>&1 || true
  if [[ -n $simulator_pid ]]; then kill "$simulator_pid" 2>/dev/null || true; fi
  for ctr in $(buildah "${storage[@]}" containers -q 2>/dev/null); do
    buildah "${storage[@]}" rm "$ctr" >/dev/null 2>&1 || true
  done
  for image in "$tag" "$base" "$builder"; do
    buildah "${storage[@]}" rmi -f "$image" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# copy_with_libs ROOT FILE DEST: FILE at ROOT/DEST, and every shared object ldd lists for it.
copy_with_libs() {
  local root=$1 file=$2 dest=$3 lib
  install -D -m 0755 "$file" "$root$dest"
  while read -r lib; do
    install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done < <(ldd "$file" | grep -oE '/[^ ]+\.so[^ ]*')
}

echo "image-build-check: local base images"
bun build --compile src/main.ts --outfile "$work/alphapulse" >/dev/null
ctr=$(buildah "${storage[@]}" from scratch)
root=$(buildah "${storage[@]}" mount "$ctr")
copy_with_libs "$root" "$work/alphapulse" /probe
rm "$root/probe"
mkdir -p "$root/etc" "$root/tmp"
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
  >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
buildah "${storage[@]}" config --user 65532:65532 "$ctr"
buildah "${storage[@]}" commit -q "$ctr" "$base" >/dev/null
buildah "${storage[@]}" rm "$ctr" >/dev/null

ctr=$(buildah "${storage[@]}" from scratch)
root=$(buildah "${storage[@]}" mount "$ctr")
copy_with_libs "$root" "$(readlink -f "$(command -v bun)")" /usr/local/bin/bun
install -D -m 0755 /bin/busybox "$root/bin/busybox"
for applet in sh mkdir rm ls cat; do ln -s busybox "$root/bin/$applet"; done
mkdir -p "$root/tmp" "$root/root" "$root/etc"
chmod 1777 "$root/tmp"
cp /etc/resolv.conf "$root/etc/resolv.conf"
if [[ -d /etc/ssl/certs ]]; then mkdir -p "$root/etc/ssl" && cp -rL /etc/ssl/certs "$root/etc/ssl/certs"; fi
buildah "${storage[@]}" config --env PATH=/usr/local/bin:/bin --env HOME=/root "$ctr"
buildah "${storage[@]}" commit -q "$ctr" "$builder" >/dev/null
buildah "${storage[@]}" rm "$ctr" >/dev/null

echo "image-build-check: buildah build of the Dockerfile"
started=$SECONDS
buildah "${storage[@]}" build --format docker --isolation chroot --network host --layers=false -q \
  --build-arg BUN_IMAGE="$builder" --build-arg RUNTIME_IMAGE="$base" -t "$tag" -f Dockerfile . >/dev/null
echo "image-build-check: built in $((SECONDS - started)) s"

config=$(buildah "${storage[@]}" inspect --type image "$tag" | bun -e '
  const { Docker: { config } } = await Bun.stdin.json();
  console.log([config.User, JSON.stringify(config.Entrypoint), JSON.stringify(config.Healthcheck?.Test)].join("|"));
')
echo "image-build-check: user|entrypoint|healthcheck = $config"
[[ $config == '65532:65532|["/app/alphapulse"]|["CMD","/app/alphapulse","healthcheck"]' ]] ||
  { echo "image-build-check: FAIL image config" >&2; exit 1; }
size=$(podman "${storage[@]}" image inspect --format '{{.Size}}' "$tag")
echo "image-build-check: image size $((size / 1048576)) MiB"

SIMULATOR_PORT=0 SIMULATOR_HOST=127.0.0.1 LOG_LEVEL=info bun src/main.ts simulate >"$work/simulator.log" &
simulator_pid=$!
simulator_port=""
for _ in $(seq 1 200); do
  simulator_port=$(grep -m1 -oE '"msg":"simulator listening".*"port":[0-9]+' "$work/simulator.log" | grep -oE '[0-9]+$' || true)
  [[ -n $simulator_port ]] && break
  kill -0 "$simulator_pid" 2>/dev/null || { cat "$work/simulator.log" >&2; echo "image-build-check: FAIL simulator" >&2; exit 1; }
  sleep 0.1
done
[[ -n $simulator_port ]] || { echo "image-build-check: FAIL the simulator did not report its port" >&2; exit 1; }
metrics_port=$(bun -e 'import { freePorts } from "./test/support/ports.ts"; console.log(freePorts(1)[0]);')

# Explicit ulimits: podman's defaults (nofile/nproc 1048576) exceed what this sandbox lets the
# runtime set. The timer-driven healthcheck needs systemd; it is run by hand below instead.
podman "${storage[@]}" run -d --name "$container" --runtime runc --cgroup-manager cgroupfs --network host \
  --read-only --cap-drop ALL --security-opt no-new-privileges \
  --ulimit nofile=16384:16384 --ulimit nproc=16384:16384 --health-interval disable \
  -e ALPHAPULSE_MODE=collect -e EXCHANGE=kraken -e SYMBOLS=BTC-USD,ETH-USD \
  -e "EXCHANGE_WS_URL=ws://127.0.0.1:$simulator_port/kraken/v2" -e "METRICS_PORT=$metrics_port" \
  -e RING_CAPACITY=16384 -e "SHUTDOWN_GRACE_MS=$grace_ms" "$tag" >/dev/null
deadline=$((SECONDS + 60))
for path in /health /ready; do
  until curl -fs -o /dev/null "http://127.0.0.1:$metrics_port$path"; do
    if ((SECONDS > deadline)); then
      podman "${storage[@]}" logs "$container" >&2 || true
      echo "image-build-check: FAIL $path" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "image-build-check: container $path answered 200"
done
podman "${storage[@]}" healthcheck run "$container" >/dev/null
echo "image-build-check: the image's HEALTHCHECK passed"

started=$(date +%s%N)
podman "${storage[@]}" stop --time $((grace_ms / 1000)) "$container" >/dev/null
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
status=$(podman "${storage[@]}" inspect --format '{{.State.ExitCode}}' "$container")
[[ $status == 0 ]] || { echo "image-build-check: FAIL exit code $status after SIGTERM" >&2; exit 1; }
((elapsed_ms < grace_ms)) || { echo "image-build-check: FAIL stop took $elapsed_ms ms" >&2; exit 1; }
echo "image-build-check: OK stopped with exit 0 in $elapsed_ms ms (grace $grace_ms ms)"
