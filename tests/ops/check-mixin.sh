#!/usr/bin/env bash
# The monitoring mixin (mixin/) and the files scripts/mixin makes from it:
#   - in step: the rules file, the dashboard and the PrometheusRule in the
#     repository are byte for byte what scripts/mixin renders now, and the
#     PrometheusRule carries the rules file's groups
#   - _config takes effect: rendered with copybenchSelector 'job="fleet-a"', a
#     different CopybenchNodeOutlier threshold and dashboard title, the rules pass
#     promtool check rules --lint-fatal, every raw copybench_* selector of every
#     rule carries job="fleet-a" (tests/ops/promqlscan.py), and the threshold and
#     the title changed; the same expectations must fail on the default rendering
set -euo pipefail
source "$(dirname "$0")/lib.sh"

need_cmd jsonnet jsonnet
need_cmd promtool prometheus
need_venv
make_tmp

RULES=config/prometheus/copybench.rules.yml
DASHBOARD=dashboards/copybench-overview.json
PROMRULE=deploy/kubernetes/operator/prometheusrule.yaml

# render DIR [CONFIG]: scripts/mixin into DIR; prints the rendered paths relative to DIR.
render() {
  local dir="$1" config="${2:-"{}"}" out
  out="$("$REPO/scripts/mixin" --out "$dir" --config "$config")" || fail "scripts/mixin failed"
  while IFS= read -r line; do printf '%s\n' "${line#"$dir"/}"; done <<<"$out"
}

# --- in step with the mixin ---------------------------------------------------
log "scripts/mixin renders the committed files"
mapfile -t FILES < <(render "$OPS_TMP/default")
[[ ${#FILES[@]} -ge 3 ]] || fail "scripts/mixin rendered ${#FILES[@]} files, expected at least 3"
stale=()
for path in "${FILES[@]}"; do
  if [[ ! -f "$REPO/$path" ]]; then
    stale+=("$path")
    printf '[%s] %s: missing from the repository\n' "$OPS_NAME" "$path" >&2
  elif ! cmp -s "$REPO/$path" "$OPS_TMP/default/$path"; then
    stale+=("$path")
    printf '[%s] %s differs from what the mixin renders (- committed, + rendered):\n' "$OPS_NAME" "$path" >&2
    diff -u --label "$path (committed)" --label "$path (rendered)" \
      "$REPO/$path" "$OPS_TMP/default/$path" | head -n 60 >&2 || true
  fi
done
for path in "$RULES" "$DASHBOARD" "$PROMRULE"; do
  printf '%s\n' "${FILES[@]}" | grep -qxF "$path" || fail "scripts/mixin did not render $path"
done
[[ ${#stale[@]} -eq 0 ]] ||
  fail "${stale[*]} out of step with mixin/: edit mixin/, not the generated files, and run scripts/mixin"

"$VENV_BIN/python" - "$REPO/$RULES" "$REPO/$PROMRULE" <<'EOF' ||
import sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))
promrule = yaml.safe_load(open(sys.argv[2]))
if promrule.get("kind") != "PrometheusRule" or promrule["spec"]["groups"] != rules["groups"]:
    sys.exit(f"{sys.argv[2]}: not a PrometheusRule with the groups of {sys.argv[1]}")
print(f"PrometheusRule: the same {len(rules['groups'])} groups as the rules file")
EOF
  fail "the PrometheusRule does not carry the rules file's groups"

# --- _config takes effect -------------------------------------------------------
CUSTOM='{
  copybenchSelector: "job=\"fleet-a\"",
  nodeOutlierThreshold: 4.25,
  dashboardTitle: "Fleet A / copybench",
}'
log "rendering with copybenchSelector job=\"fleet-a\", nodeOutlierThreshold 4.25, another title"
render "$OPS_TMP/custom" "$CUSTOM" >/dev/null

promtool check rules --lint-fatal "$OPS_TMP/custom/$RULES" ||
  fail "the rules rendered with a custom _config do not pass promtool check rules"

# expect.py RULES DASHBOARD PROMRULE: the custom _config's effects are all there.
cat >"$OPS_TMP/expect.py" <<'EOF'
import json, sys, yaml
sys.path.insert(0, sys.argv[1])
from promqlscan import scan

rules_path, dash_path, promrule_path = sys.argv[2:5]
SELECTOR = ("job", "=", "fleet-a")
problems = []

groups = yaml.safe_load(open(rules_path))["groups"]
raw = 0
for group in groups:
    for rule in group["rules"]:
        name = rule.get("alert") or rule.get("record")
        for sel in scan(rule["expr"])[0]:
            metric = sel.metric_name() or ""
            # Raw series of the exporter (recorded names carry colons).
            if ":" in metric or not (metric.startswith("copybench_")
                                      or metric in ("up", "process_start_time_seconds")):
                continue
            raw += 1
            if SELECTOR not in sel.matchers:
                problems.append(f"{name}: selector {sel!r} lacks job=\"fleet-a\"")
if raw < 20:
    problems.append(f"only {raw} raw copybench_* selectors found in the rules")

outlier = [r for g in groups for r in g["rules"] if r.get("alert") == "CopybenchNodeOutlier"]
if not outlier or not outlier[0]["expr"].strip().endswith("> 4.25"):
    problems.append("CopybenchNodeOutlier does not compare with the threshold 4.25")

dash = json.load(open(dash_path))
if dash.get("title") != "Fleet A / copybench":
    problems.append(f"dashboard title is {dash.get('title')!r}, not 'Fleet A / copybench'")
steps = [s["value"] for p in dash["panels"] if p.get("id") == 82
         for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]]
if 4.25 not in steps:
    problems.append(f"the z-score table's thresholds {steps} lack 4.25")

if yaml.safe_load(open(promrule_path))["spec"]["groups"] != groups:
    problems.append("the PrometheusRule's groups differ from the rules file's")

for p in problems:
    print(p, file=sys.stderr)
if not problems:
    print(f"custom _config: {raw} raw selectors carry job=\"fleet-a\", threshold 4.25, title changed")
sys.exit(1 if problems else 0)
EOF
expect() {
  "$VENV_BIN/python" "$OPS_TMP/expect.py" "$OPS_DIR" "$1/$RULES" "$1/$DASHBOARD" "$1/$PROMRULE"
}
expect "$OPS_TMP/custom" || fail "the custom _config did not take effect"

# The same expectations on the default rendering must fail, each of them.
log "the expectations reject the default rendering"
set +e
problems="$(expect "$OPS_TMP/default" 2>&1 >/dev/null)"
rc=$?
set -e
[[ $rc -ne 0 ]] || fail "the expectations pass on the default rendering: they test nothing"
for want in 'lacks job="fleet-a"' 'threshold 4.25' 'dashboard title' 'thresholds'; do
  grep -qF "$want" <<<"$problems" || fail "the default rendering did not fail the check: $want"
done

log "OK"
