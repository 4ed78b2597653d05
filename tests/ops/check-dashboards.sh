#!/usr/bin/env bash
# Grafana dashboards (dashboards/*.json):
#   - validate against a JSON Schema generated from Grafana's published types
#     (@grafana/schema, type Dashboard, via ts-json-schema-generator) with ajv;
#     a fixture that breaks the schema must be rejected
#   - lint-dashboards.py: ${datasource} on every panel, job/instance matchers in
#     every selector, unit and description on every panel, $__rate_interval in
#     every rate/irate/increase, ...; the deliberately bad fixture must fail
#     every lint rule
set -euo pipefail
source "$(dirname "$0")/lib.sh"

need_npm_tools
make_tmp

shopt -s nullglob
DASHBOARDS=("$REPO"/dashboards/*.json)
[[ ${#DASHBOARDS[@]} -gt 0 ]] || fail "no dashboards found in dashboards/"

# --- JSON Schema from @grafana/schema ---------------------------------------
TYPES="$NODE_PATH/@grafana/schema/dist/types/raw/dashboard/x/types.gen.d.ts"
[[ -f "$TYPES" ]] || fail "Grafana dashboard types not found at $TYPES"
SCHEMA_VERSION="$(node -p 'require(process.argv[1]).version' "$NODE_PATH/@grafana/schema/package.json")"
SCHEMA="$TOOLS/grafana-dashboard-$SCHEMA_VERSION.schema.json"
if [[ ! -s "$SCHEMA" ]]; then
  log "generating the Dashboard JSON Schema from @grafana/schema $SCHEMA_VERSION"
  "$NODE_BIN/ts-json-schema-generator" --path "$TYPES" --type Dashboard -o "$SCHEMA.tmp" >/dev/null ||
    fail "ts-json-schema-generator failed"
  mv "$SCHEMA.tmp" "$SCHEMA"
fi

ajv_validate() {
  "$NODE_BIN/ajv" validate --strict=false --all-errors -s "$SCHEMA" -d "$1"
}

# The schema is of the dashboard model: the export format's __inputs and __requires are set
# aside (lint-dashboards.py checks them). Grafana's generated types model only the grafana
# data source's annotation fields; a
# Prometheus annotation's own fields (expr, step, titleFormat, ...) are set aside for the schema
# and checked by lint-dashboards.py and the live query check instead.
schema_view() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for a in d.get("annotations", {}).get("list", []):
    if a.get("datasource", {}).get("type") == "prometheus":
        for key in ("expr", "step", "titleFormat", "textFormat", "tagKeys", "useValueForTime"):
            a.pop(key, None)
# The export format's import inputs are read by Grafana's import dialog, not the model.
for key in ("__inputs", "__requires"):
    d.pop(key, None)
json.dump(d, open(sys.argv[2], "w"))
PY
}

log "schema validation (@grafana/schema $SCHEMA_VERSION)"
for d in "${DASHBOARDS[@]}"; do
  schema_view "$d" "$OPS_TMP/schema-view.json"
  ajv_validate "$OPS_TMP/schema-view.json" >"$OPS_TMP/ajv.log" 2>&1 || { cat "$OPS_TMP/ajv.log" >&2; fail "${d#"$REPO"/} does not match Grafana's dashboard schema"; }
  log "  ${d#"$REPO"/}: valid"
done
if ajv_validate "$OPS_DIR/fixtures/invalid-schema-dashboard.json" >"$OPS_TMP/ajv.log" 2>&1; then
  fail "the schema accepted tests/ops/fixtures/invalid-schema-dashboard.json: validation is not effective"
fi
for expect in "must have required property 'schemaVersion'" "must NOT have additional properties" \
  "must have required property 'h'" "must have required property 'type'"; do
  grep -qF "$expect" "$OPS_TMP/ajv.log" ||
    { cat "$OPS_TMP/ajv.log" >&2; fail "schema validation of the invalid fixture did not report: $expect"; }
done
log "  fixtures/invalid-schema-dashboard.json: rejected as expected"

# --- our own lint ------------------------------------------------------------
log "lint-dashboards.py"
python3 "$OPS_DIR/lint-dashboards.py" "${DASHBOARDS[@]}" || fail "dashboard lint failed"

if python3 "$OPS_DIR/lint-dashboards.py" "$OPS_DIR/fixtures/bad-dashboard.json" >"$OPS_TMP/lint.log" 2>&1; then
  fail "lint-dashboards.py accepted tests/ops/fixtures/bad-dashboard.json"
fi
for rule in schema-version variables panel-title panel-description panel-unit panel-datasource \
  panel-id target-expr promql-syntax selector-job selector-instance selector-combination \
  rate-interval unknown-variable inputs; do
  grep -qF "[$rule]" "$OPS_TMP/lint.log" ||
    { cat "$OPS_TMP/lint.log" >&2; fail "lint rule [$rule] did not fire on fixtures/bad-dashboard.json"; }
done
log "  fixtures/bad-dashboard.json: every lint rule fired ($(grep -c '\[' "$OPS_TMP/lint.log") findings)"

log "OK"
