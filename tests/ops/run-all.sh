#!/usr/bin/env bash
# Run every operations check (tests/ops/check-*.sh) and summarise.
#
# Usage: tests/ops/run-all.sh [CHECK...]   e.g. run-all.sh rules systemd
#
# Prints each check's output, then one line per check and a final
# "N passed, N failed" line (", N skipped" when a check could not get its
# tools; with CI=true that is a failure instead). Exits 1 if any check failed.
set -euo pipefail

OPS_DIR="$(cd "$(dirname "$0")" && pwd)"

if [[ $# -gt 0 ]]; then
  CHECKS=()
  for name in "$@"; do CHECKS+=("$OPS_DIR/check-${name#check-}.sh"); done
else
  CHECKS=("$OPS_DIR"/check-*.sh)
fi

passed=0 failed=0 skipped=0
summary=()
for check in "${CHECKS[@]}"; do
  name="$(basename "$check" .sh)"
  [[ -x "$check" ]] || { summary+=("FAIL  $name (not found or not executable)"); failed=$((failed + 1)); continue; }
  echo "=== $name"
  start=$SECONDS
  set +e
  "$check"
  rc=$?
  set -e
  took=$((SECONDS - start))
  case $rc in
    0) passed=$((passed + 1)); summary+=("ok    $name (${took}s)") ;;
    77) skipped=$((skipped + 1)); summary+=("SKIP  $name (${took}s): a required tool is missing") ;;
    *) failed=$((failed + 1)); summary+=("FAIL  $name (${took}s, exit $rc)") ;;
  esac
done

echo "=== summary"
printf '%s\n' "${summary[@]}"
if [[ $skipped -gt 0 ]]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[[ $failed -eq 0 ]]
