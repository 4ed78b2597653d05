#!/usr/bin/env bash
# A benchmark of this tree and of REV, measured side by side: both are built, then their runs
# alternate (REV, this tree, REV, ...) N times each, so that the machine's drift over minutes
# hits both alike. Each run's output is kept under target/side-by-side/BENCH/; compare the
# medians of the pairs.
#
# Usage: bench/side-by-side.sh REV BENCH [N]   (N defaults to 4; BENCH as `cargo bench --bench`)
set -euo pipefail
rev=${1:?usage: bench/side-by-side.sh REV BENCH [N]}
bench=${2:?usage: bench/side-by-side.sh REV BENCH [N]}
pairs=${3:-4}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$root/target/side-by-side
mkdir -p "$work/$bench"
if [ -d "$work/src" ]; then
  git -C "$work/src" checkout --quiet --detach "$rev"
else
  git -C "$root" worktree add --quiet --detach "$work/src" "$rev"
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
before=$(executable "$work/src" "$work/target")
after=$(executable "$root" "$root/target")
[ -n "$before" ] && [ -n "$after" ] || { echo "error: could not build the $bench benchmark" >&2; exit 1; }
declare -A tree=([before]=$work/src [after]=$root)
for i in $(seq "$pairs"); do
  for side in before after; do
    exe=${!side}
    out=$work/$bench/$side-$i.txt
    # As cargo runs it: from the tree's root, with the daemon of the same build.
    (cd "${tree[$side]}" && "$exe" --bench >"$out" 2>"$out.log")
    echo "== $side $i" && cat "$out"
  done
done
