#!/usr/bin/env bash
# Records real noise at the daemon's cadence: the daemon itself, on its default combinations,
# a sweep every INTERVAL (at least 30 s apart), for MINUTES, writing its own history file.
# Beside it, every 5 s, what else the host was doing (load, runnable tasks, CPU pressure,
# build processes) goes to load.csv, and the events this script causes go to events.csv:
#   - a busy-loop neighbour (one loop) from NEIGHBOUR_AT for NEIGHBOUR_FOR minutes,
#   - a CPU quota of QUOTA_CPUS on the daemon's cgroup (v1 cpu controller) from QUOTA_AT for
#     QUOTA_FOR minutes.
# Set an *_AT to "" to leave that event out. Needs root for the quota.
#
# With BURST_ROUNDS=N, each scheduled sweep is followed at once by a burst: `run` with N
# rounds of the same combinations, no warm-up, recorded into bursts.sqlite (in the daemon's
# cgroup, so the quota holds it too); the daemon's own confirmation sweeps are off. A burst is
# what confirmation sweeps of any number of rounds, run at once, would have measured.
#
# Usage: bench/record-cadence.sh DIR [MINUTES]   (MINUTES defaults to 150)
set -euo pipefail
dir=${1:?usage: bench/record-cadence.sh DIR [MINUTES]}
minutes=${2:-150}
interval=${INTERVAL:-45s}
neighbour_at=${NEIGHBOUR_AT-70}
neighbour_for=${NEIGHBOUR_FOR:-8}
quota_at=${QUOTA_AT-110}
quota_for=${QUOTA_FOR:-12}
quota_cpus=${QUOTA_CPUS:-1.2}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# A copy of the binary, so that rebuilding the tree does not change what records.
cp "$root/target/release/copybench_exporter" "$dir/copybench_exporter"
burst_rounds=${BURST_ROUNDS:-}
port=${PORT:-10799}
cat >"$dir/config.toml" <<EOF
[web]
listen_address = "127.0.0.1:$port"
[schedule]
interval = "$interval"
jitter = "3s"
max_duty_cycle = 1.0
[probe]
enabled = false
[state]
dir = "$dir/state"
[log]
format = "json"
EOF
[ -n "$burst_rounds" ] && printf '[analysis]\nconfirm_sweeps = 0\n' >>"$dir/config.toml"
{
  echo "# recorded by bench/record-cadence.sh on $(hostname) from $(date -u +%FT%TZ), $minutes minutes"
  grep -m1 'model name' /proc/cpuinfo
  echo "cpus: $(nproc); kernel: $(uname -r)"
  echo "revision: $(git -C "$root" rev-parse --short HEAD)"
} >"$dir/README"

cg=/sys/fs/cgroup/cpu/copybench-record
event() { echo "$(date +%s.%N),$1" >>"$dir/events.csv"; }
echo "time,event" >"$dir/events.csv"
"$dir/copybench_exporter" --config.file "$dir/config.toml" 2>"$dir/daemon.log" &
daemon=$!
if [ -d /sys/fs/cgroup/cpu ] && mkdir -p "$cg" 2>/dev/null; then
  echo "$daemon" >"$cg/cgroup.procs"
fi
event "daemon started (pid $daemon)"
busy=""
burster=""
cleanup() {
  [ -n "$busy" ] && kill "$busy" 2>/dev/null || true
  [ -n "$burster" ] && kill "$burster" 2>/dev/null || true
  kill -TERM "$daemon" 2>/dev/null || true
  wait "$daemon" 2>/dev/null || true
  [ -d "$cg" ] && { echo -1 >"$cg/cpu.cfs_quota_us"; cat "$cg/cgroup.procs" >/sys/fs/cgroup/cpu/cgroup.procs 2>/dev/null; rmdir "$cg"; } 2>/dev/null || true
  event "daemon stopped"
}
trap cleanup EXIT

sample() {
  python3 - "$dir/load.csv" "$1" <<'PY'
import os, sys, time
out, end = sys.argv[1], time.time() + float(sys.argv[2])
def busy():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)
with open(out, "w") as f:
    f.write("time,load1,procs_running,cpu_busy_share,cpu_some_avg10,builders\n")
    b0, t0 = busy()
    while time.time() < end:
        time.sleep(5)
        b1, t1 = busy()
        share = (b1 - b0) / max(t1 - t0, 1)
        b0, t0 = b1, t1
        load = open("/proc/loadavg").read().split()
        running = next(l for l in open("/proc/stat") if l.startswith("procs_running")).split()[1]
        psi = open("/proc/pressure/cpu").readline().split()[1].split("=")[1]
        builders = 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                name = open(f"/proc/{pid}/comm").read().strip()
            except OSError:
                continue
            builders += name in ("rustc", "cc", "cc1", "ld", "cargo", "prometheus", "chromium")
        f.write(f"{time.time():.3f},{load[0]},{running},{share:.3f},{psi},{builders}\n")
        f.flush()
PY
}
sample $((minutes * 60)) &
sampler=$!

# A burst after every scheduled sweep, as soon as the daemon counts it.
bursts() {
  local seen=0 now
  while :; do
    sleep 0.5
    now=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^copybench_sweeps_total /{print $2}')
    [ -n "$now" ] && [ "${now%.*}" -gt "$seen" ] || continue
    seen=${now%.*}
    "$dir/copybench_exporter" --config.file "$dir/config.toml" run --repeats "$burst_rounds" \
      --warmup false --record "$dir/bursts.sqlite" >/dev/null 2>>"$dir/bursts.log" || true
  done
}
if [ -n "$burst_rounds" ]; then
  bursts &
  burster=$!
  [ -d "$cg" ] && echo "$burster" >"$cg/cgroup.procs"
fi

start=$(date +%s)
at() { [ -n "$1" ] && [ $(($(date +%s) - start)) -ge $(($1 * 60)) ]; }
while [ $(($(date +%s) - start)) -lt $((minutes * 60)) ]; do
  kill -0 "$daemon" 2>/dev/null || { event "daemon exited"; exit 1; }
  if [ -n "$neighbour_at" ] && [ -z "$busy" ] && at "$neighbour_at"; then
    sh -c 'while :; do :; done' &
    busy=$!
    event "neighbour: one busy loop started (pid $busy)"
  fi
  if [ -n "$busy" ] && at $((neighbour_at + neighbour_for)); then
    kill "$busy"
    busy=""
    neighbour_at=""
    event "neighbour: busy loop stopped"
  fi
  if [ -n "$quota_at" ] && [ -d "$cg" ] && at "$quota_at"; then
    q=$(python3 -c "print(int($quota_cpus * 100000))")
    echo "$q" >"$cg/cpu.cfs_quota_us"
    event "quota: $quota_cpus CPUs set on the daemon's cgroup"
    quota_at=""
    quota_end=$((start + (${QUOTA_AT-110} + quota_for) * 60))
  fi
  if [ -n "${quota_end:-}" ] && [ "$(date +%s)" -ge "$quota_end" ]; then
    echo -1 >"$cg/cpu.cfs_quota_us"
    event "quota: removed"
    quota_end=""
  fi
  sleep 5
done
wait "$sampler" || true
