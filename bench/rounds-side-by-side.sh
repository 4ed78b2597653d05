#!/usr/bin/env bash
# Round settings measured side by side: one `run` of the default combinations at each SETTING
# ("REPEATS LINES") in turn, for MINUTES, each into DIR/rREPEATS-LINES.sqlite, its CPU and
# wall seconds (the `run` process and its children) appended to DIR/rREPEATS-LINES.time.
# One every INTERVAL (default 45 s); with FOLLOW=URL (a daemon's /metrics), one right after
# each of that daemon's sweeps instead, so that neither waits on the other and the daemon's
# own recording stays uncontended. Then `cargo bench --bench rounds -- DIR` compares them.
#
# Usage: bench/rounds-side-by-side.sh DIR MINUTES SETTING...
#   e.g. bench/rounds-side-by-side.sh target/rounds 60 "5 3000" "10 1500"
set -euo pipefail
usage='usage: bench/rounds-side-by-side.sh DIR MINUTES "REPEATS LINES"...'
dir=${1:?$usage}
minutes=${2:?$usage}
shift 2
[ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
settings=("$@")
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BIN:-$root/target/release/copybench_exporter}
mkdir -p "$dir"
end=$(($(date +%s) + minutes * 60))
seen=0
i=0
# Waits for the next slot: INTERVAL, or the followed daemon's next sweep.
next() {
  if [ -z "${FOLLOW:-}" ]; then
    [ "$i" -eq 0 ] || sleep "${INTERVAL:-45}"
    return
  fi
  local now
  while [ "$(date +%s)" -lt "$end" ]; do
    sleep 0.5
    now=$(curl -sf "$FOLLOW" | awk '/^copybench_sweeps_total /{print $2}') || continue
    if [ -n "$now" ] && [ "${now%.*}" -gt "$seen" ]; then
      seen=${now%.*}
      sleep 1
      return
    fi
  done
}
while next && [ "$(date +%s)" -lt "$end" ]; do
  read -r repeats lines <<<"${settings[$((i % ${#settings[@]}))]}"
  i=$((i + 1))
  name="r$repeats-$lines"
  TIMEFORMAT="%U %S %R"
  { time "$bin" run --repeats "$repeats" --lines "$lines" \
      --record "$dir/$name.sqlite" >/dev/null 2>>"$dir/errors.log"; } 2>>"$dir/$name.time" || true
done
