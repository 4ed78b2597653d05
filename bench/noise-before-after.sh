#!/usr/bin/env bash
# Run-to-run noise of the workload, before and after a change, measured side by side: the
# coefficient of variation of N back-to-back 1-worker, 10,000-line runs of each backend, for
# the binary built from REV and for this tree's, alternating run by run so that the machine's
# drift hits both alike.
#
# Usage: bench/noise-before-after.sh REV [N]   (N defaults to 15)
set -euo pipefail
rev=${1:?usage: bench/noise-before-after.sh REV [N]}
runs=${2:-15}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$root/target/noise-before-after
mkdir -p "$work"
if [ -d "$work/src" ]; then
  git -C "$work/src" checkout --quiet --detach "$rev"
else
  git -C "$root" worktree add --quiet --detach "$work/src" "$rev"
fi
cargo build --quiet --release --manifest-path "$work/src/Cargo.toml" --target-dir "$work/target"
cargo build --quiet --release --manifest-path "$root/Cargo.toml"
before=$work/target/release/copybench_exporter
after=$root/target/release/copybench_exporter
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# One run per invocation, whatever the build's defaults (builds with repeats take flags).
single() {
  if "$1" run --help | grep -q -- --repeats; then echo "--repeats 1 --warmup false"; fi
}
before_flags=$(single "$before")
after_flags=$(single "$after")
for i in $(seq "$runs"); do
  for backend in process thread; do
    for which in before after; do
      bin=$before flags=$before_flags
      [ "$which" = after ] && bin=$after flags=$after_flags
      # shellcheck disable=SC2086
      "$bin" run --json --backend "$backend" --sync none --workers 1 --lines 10000 $flags \
        --workdir "$scratch" | grep -v '"kind":' | sed "s/^/$which $backend /"
    done
  done
done | python3 -c '
import json, statistics, sys
runs = {}
for line in sys.stdin:
    which, backend, record = line.split(" ", 2)
    runs.setdefault((backend, which), []).append(json.loads(record)["duration_seconds"])
count = len(next(iter(runs.values())))
print(f"{count} back-to-back runs each, 1 worker, 10000 lines, alternating")
print("%-18s %9s %7s %7s %6s" % ("", "median s", "min s", "max s", "CV"))
for (backend, which), d in sorted(runs.items(), key=lambda kv: (kv[0][0], kv[0][1] != "before")):
    cv = statistics.stdev(d) / statistics.mean(d)
    name = backend + " " + which
    print("%-18s %9.3f %7.3f %7.3f %6.1f%%" % (name, statistics.median(d), min(d), max(d), 100 * cv))
'
