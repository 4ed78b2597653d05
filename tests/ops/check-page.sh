#!/usr/bin/env bash
# The landing page in a real browser (Debian's chromium, driven by playwright-core):
#   - before the first sweep: it renders, with "Not run yet" placeholders and no chart
#   - after a sweep whose runs all failed: it renders and says so
#   - once every combination has counted runs in two sweeps: every chart is present, named,
#     has data shapes and is not blank in the screenshot
# and every time: no console error, no failed or external request, under 200 KB
# (page-check.js). PAGE_SCREENSHOT=FILE keeps the screenshot of the finished sweeps.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

need_cmd chromium chromium
need_cmd curl curl
fc-list 2>/dev/null | grep -qi dejavu || apt_install fonts-dejavu-core || true
fc-list 2>/dev/null | grep -qi dejavu || missing_tool "fonts (Debian package fonts-dejavu-core)"
need_npm_tools
need_exporter_binary
make_tmp



# start NAME CONFIG_BODY: starts an exporter with [web] on a free port and CONFIG_BODY;
# sets URL once it answers /-/healthy.
start() {
  local name="$1" body="$2" port
  port="$(free_port)"
  mkdir -p "$OPS_TMP/$name"
  printf '[web]\nlisten_address = "127.0.0.1:%s"\n%s\n' "$port" "$body" >"$OPS_TMP/$name/copybench.toml"
  "$COPYBENCH_BIN" --config.file="$OPS_TMP/$name/copybench.toml" >"$OPS_TMP/$name/exporter.log" 2>&1 &
  BACKGROUND+=($!)
  URL="http://127.0.0.1:$port/"
  wait_for "$name" 30 "curl -fsS ${URL}-/healthy"
}

# wait_for NAME SECONDS COMMAND: runs COMMAND until it succeeds, failing after SECONDS.
wait_for() {
  local name="$1" deadline=$((SECONDS + $2))
  until eval "$3" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then
      tail -n 20 "$OPS_TMP/$name/exporter.log" >&2
      fail "$name: timed out waiting for: $3"
    fi
    sleep 0.5
  done
}

# sweeps_at_least N: whether the exporter at URL has completed N sweeps.
sweeps_at_least() {
  curl -fsS "${URL}metrics" | awk -v n="$1" '$1 == "copybench_sweeps_total" && $2 >= n { ok = 1 } END { exit !ok }'
}

# counted_sweeps_at_least N: whether every one of the 16 combinations at URL has counted runs
# (successful and undisturbed) in at least N sweeps: what each chart's lines are drawn from.
# On a VM whose hypervisor steals time, a third of the runs can be left out as disturbed, so a
# sweep count alone does not say the charts have their data.
counted_sweeps_at_least() {
  curl -fsS "${URL}api/v1/runs?limit=2000" | python3 -c '
import json, sys
sweeps = {}
for r in json.load(sys.stdin):
    if r["success"] and not r["disturbed"]:
        sweeps.setdefault((r["backend"], r["sync"], r["workers"]), set()).add(r["sweep_id"])
sys.exit(not (len(sweeps) == 16 and all(len(s) >= int(sys.argv[1]) for s in sweeps.values())))
' "$1"
}

check() {
  local name="$1" mode="$2" shot="$OPS_TMP/$1.png"
  log "$name: page-check.js $mode"
  node "$OPS_DIR/page-check.js" "$URL" "$shot" "$mode" >"$OPS_TMP/$name/report.json" ||
    { cat "$OPS_TMP/$name/report.json" >&2; fail "$name: the page failed its browser check"; }
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("  %d bytes, %d charts: %s" % (r["bytes"], len(r["charts"]), ", ".join("%s (%d shapes, %d colours)" % (c["title"], c["shapes"], i["colours"]) for c, i in zip(r["charts"], r["inks"]))))' \
    "$OPS_TMP/$name/report.json"
}

WORKLOAD='backends = ["process", "thread"]
sync = ["none", "lock"]
workers = [1, 2, 3, 4]
repeats = 3'

start before "[schedule]
run_at_start = false
interval = \"1h\"
jitter = \"0s\"
[workload]
$WORKLOAD
lines = 1000
workdir = \"$OPS_TMP/before\""
check before placeholders

start failed "[schedule]
interval = \"1h\"
jitter = \"0s\"
run_timeout = \"1ms\"
[workload]
$WORKLOAD
lines = 20000
workdir = \"$OPS_TMP/failed\""
wait_for failed 120 "sweeps_at_least 1"
check failed failed

start finished "[schedule]
interval = \"1s\"
jitter = \"0s\"
max_duty_cycle = 1.0
[workload]
$WORKLOAD
lines = 2000
workdir = \"$OPS_TMP/finished\""
wait_for finished 300 "counted_sweeps_at_least 2"
check finished charts
if [[ -n "${PAGE_SCREENSHOT:-}" ]]; then
  cp "$OPS_TMP/finished.png" "$PAGE_SCREENSHOT"
  log "screenshot kept in $PAGE_SCREENSHOT"
fi

log "OK"
