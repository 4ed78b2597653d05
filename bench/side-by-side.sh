#!/usr/bin/env bash
# A benchmark of this tree (or of AFTER) and of REV, measured side by side: both are built,
# then their runs alternate (REV, this tree, REV, ...) N times each, so that the machine's
# drift over minutes hits both alike. Each run's output is kept under
# target/side-by-side/BENCH/; compare the medians of the pairs.
#
# Usage: bench/side-by-side.sh REV BENCH [N [AFTER]]   (N defaults to 4; BENCH as
# `cargo bench --bench`; AFTER, a revision measured in place of this tree, in a build of its
# own)
#
# With BINARY=1 both sides run this tree's (or AFTER's) benchmark, and only the daemon it
# starts differs: REV's build of it for "before" (COPYBENCH_BENCH_BINARY), so that a benchmark
# that measures something REV's own benchmark does not (gzip scrapes) compares the two.
set -euo pipefail
usage="usage: bench/side-by-side.sh REV BENCH [N [AFTER]]"
rev=${1:?$usage}
bench=${2:?$usage}
pairs=${3:-4}
after_rev=${4:-}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$root/target/side-by-side
mkdir -p "$work/$bench"
# A worktree of a revision at $2.
worktree() {
  if [ -d "$2" ]; then
    git -C "$2" checkout --quiet --detach "$1"
  else
    git -C "$root" worktree add --quiet --detach "$2" "$1"
  fi
}
worktree "$rev" "$work/src"
after_tree=$root
after_target=$root/target
if [ -n "$after_rev" ]; then
  after_tree=$work/after-src
  after_target=$work/after-target
  worktree "$after_rev" "$after_tree"
fi
# The path of a benchmark's executable, as cargo prints it.
executable() {
  cargo bench --quiet --no-run --bench "$bench" --manifest-path "$1/Cargo.toml" \
    --target-dir "$2" --message-format json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["executable"])'
}
after=$(executable "$after_tree" "$after_target")
if [ "${BINARY:-}" = 1 ]; then
  cargo build --quiet --release --bin copybench_exporter --manifest-path "$work/src/Cargo.toml" \
    --target-dir "$work/target"
  before=$after
  export_before="COPYBENCH_BENCH_BINARY=$work/target/release/copybench_exporter"
else
  before=$(executable "$work/src" "$work/target")
  export_before=
fi
[ -n "$before" ] && [ -n "$after" ] || { echo "error: could not build the $bench benchmark" >&2; exit 1; }
declare -A tree=([before]=$work/src [after]=$after_tree)
for i in $(seq "$pairs"); do
  for side in before after; do
    exe=${!side}
    out=$work/$bench/$side-$i.txt
    # As cargo runs it: from the tree's root, with the daemon of the same build (or REV's).
    if [ "$side" = before ] && [ -n "$export_before" ]; then
      (cd "${tree[after]}" && env "$export_before" "$exe" --bench >"$out" 2>"$out.log")
    else
      (cd "${tree[$side]}" && "$exe" --bench >"$out" 2>"$out.log")
    fi
    echo "== $side $i" && cat "$out"
  done
done
