#!/usr/bin/env bash
# Records the real sweep-to-sweep noise of this machine as change-point fixtures: N sweeps of
# two combinations (thread and process, sync none, 1 and 2 workers, 5,000 lines, 5 runs each),
# back to back, and writes each combination's per-sweep median as a CSV series
# (time,value) under DIR, the format `copybench_exporter changes --csv` reads.
#
# Usage: bench/record-noise.sh DIR [N]   (N defaults to 220)
set -euo pipefail
dir=${1:?usage: bench/record-noise.sh DIR [N]}
sweeps=${2:-220}
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --quiet --release --manifest-path "$root/Cargo.toml"
bin=$root/target/release/copybench_exporter
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$dir"
for i in $(seq "$sweeps"); do
  "$bin" run --json --backend thread,process --sync none --workers 1,2 --lines 5000 \
    --repeats 5 --warmup false --workdir "$scratch" | grep '"kind":"point"' |
    python3 -c '
import json, sys, time
for line in sys.stdin:
    p = json.loads(line)
    print(p["backend"], p["workers"], time.time(), p["median_seconds"])
'
done | python3 -c '
import sys, collections
series = collections.defaultdict(list)
for line in sys.stdin:
    backend, workers, t, value = line.split()
    series[(backend, workers)].append((t, value))
out = sys.argv[1]
for (backend, workers), rows in series.items():
    with open(f"{out}/noise-{backend}-none-{workers}.csv", "w") as f:
        f.write(f"# per-sweep medians of {backend}/none/{workers} workers, 5000 lines, 5 runs\n")
        f.write("time,value\n")
        for t, value in rows:
            f.write(f"{t},{value}\n")
' "$dir"
