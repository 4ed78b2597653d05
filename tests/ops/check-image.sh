#!/usr/bin/env bash
# The container image: scripts/build-image builds it (a static binary on FROM scratch) with
# podman into a private store; the image runs as a non-root user with a read-only root file
# system and a tmpfs for scratch (as the DaemonSet's emptyDir), completes a sweep whose runs
# all succeed, and answers /metrics; its OCI labels name the version. Prints its size.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

need_cmd podman podman
need_cmd runc runc
need_cmd curl curl
make_tmp

STORE=(--root "$OPS_TMP/storage" --runroot "$OPS_TMP/run")
NAME="copybench-check-$$"
remove_container() {
  podman "${STORE[@]}" rm -f "$NAME" >/dev/null 2>&1 || true
  podman "${STORE[@]}" system reset -f >/dev/null 2>&1 || true
  stop_background_and_clean
}
trap remove_container EXIT

log "scripts/build-image"
IMAGE="$("$REPO/scripts/build-image" "${STORE[@]}")" || fail "scripts/build-image failed"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -1)"
[[ "$IMAGE" == "localhost/copybench_exporter:$VERSION" ]] || fail "unexpected image name $IMAGE"
grep -q "image: $IMAGE" "$REPO/deploy/kubernetes/daemonset.yaml" ||
  fail "deploy/kubernetes/daemonset.yaml does not name $IMAGE"

read -r SIZE LABEL USER_ID < <(podman "${STORE[@]}" image inspect \
  --format '{{.Size}} {{index .Labels "org.opencontainers.image.version"}} {{.Config.User}}' "$IMAGE")
[[ "$LABEL" == "$VERSION" ]] || fail "org.opencontainers.image.version is $LABEL, not $VERSION"
[[ "$USER_ID" == "65534:65534" ]] || fail "the image runs as $USER_ID"
log "  $IMAGE: $((SIZE / 1024)) KiB, version label $LABEL, user $USER_ID"

PORT="$(free_port)"
log "podman run --read-only --cap-drop all, tmpfs /scratch, on 127.0.0.1:$PORT"
podman "${STORE[@]}" run -d --name "$NAME" --runtime runc \
  --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
  --read-only --cap-drop all --tmpfs /scratch:rw,size=64m,mode=1777 \
  -e COPYBENCH__WORKLOAD__WORKDIR=/scratch -e COPYBENCH__WORKLOAD__WORKERS=1,2 \
  -e COPYBENCH__WORKLOAD__LINES=500 -e COPYBENCH__WORKLOAD__REPEATS=1 \
  -p "127.0.0.1:$PORT:10720" "$IMAGE" >/dev/null || fail "podman run failed"

METRICS="$OPS_TMP/metrics.txt"
swept=""
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$PORT/metrics" >"$METRICS" 2>/dev/null &&
    grep -qE '^copybench_sweeps_total [1-9]' "$METRICS"; then
    swept=1
    break
  fi
  sleep 0.5
done
[[ -n "$swept" ]] || { podman "${STORE[@]}" logs "$NAME" >&2 || true; fail "no sweep completed in the container"; }
if grep -E '^copybench_last_run_success\{' "$METRICS" | grep -vq ' 1$'; then
  grep -E '^copybench_last_run_success\{' "$METRICS" >&2
  podman "${STORE[@]}" logs "$NAME" >&2 || true
  fail "a run failed in the container"
fi
RUNS="$(grep -cE '^copybench_last_run_success\{' "$METRICS")"
PID="$(podman "${STORE[@]}" inspect --format '{{.State.Pid}}' "$NAME")"
UID_LINE="$(grep -E '^Uid:' "/proc/$PID/status")"
[[ "$(echo "$UID_LINE" | awk '{print $2}')" == 65534 ]] || fail "the exporter runs as $UID_LINE"
[[ "$(podman "${STORE[@]}" inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$NAME")" == true ]] ||
  fail "the root file system is writable"
log "  a sweep of $RUNS combinations succeeded as uid 65534 on a read-only root"
log "OK"
