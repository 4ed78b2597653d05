#!/usr/bin/env bash
# Prometheus rules and configuration examples:
#   - promtool check rules --lint-fatal on config/prometheus/copybench.rules.yml
#   - promtool test rules on config/prometheus/copybench.rules.test.yml
#   - mixin conventions and unit-test coverage of every alert (lint-rules.py)
#   - promtool check config on both Prometheus configuration examples
# (The rules file and the PrometheusRule are generated from mixin/: check-mixin.sh
# checks that they are in step with it.)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

need_cmd promtool prometheus
need_venv
make_tmp

PROM="$REPO/config/prometheus"

log "promtool check rules --lint-fatal"
promtool check rules --lint-fatal "$PROM/copybench.rules.yml" || fail "rules do not pass promtool's lint"

log "promtool test rules"
(cd "$PROM" && promtool test rules copybench.rules.test.yml) || fail "rule unit tests failed"

log "alert conventions and test coverage"
"$VENV_BIN/python" "$OPS_DIR/lint-rules.py" "$PROM/copybench.rules.yml" "$PROM/copybench.rules.test.yml" ||
  fail "rules break the alerting conventions"

log "promtool check config (examples)"
promtool check config "$PROM/prometheus.example.yml" >/dev/null ||
  fail "config/prometheus/prometheus.example.yml is not a valid Prometheus configuration"
# The Kubernetes example loads the rules from its own directory once installed.
# Debian's Prometheus is built without Kubernetes service discovery, so its
# kubernetes_sd_configs are checked here (pod role, known keys) and then
# swapped for a static target before promtool checks everything else.
"$VENV_BIN/python" - "$REPO/deploy/kubernetes/without-operator/prometheus.yml" "$OPS_TMP/prometheus.yml" <<'EOF' ||
import sys, yaml
src, dst = sys.argv[1], sys.argv[2]
cfg = yaml.safe_load(open(src))
known = {"role", "namespaces", "selectors", "api_server", "kubeconfig_file", "attach_metadata",
         "basic_auth", "authorization", "oauth2", "tls_config", "proxy_url", "follow_redirects",
         "enable_http2"}
bad = []
for job in cfg.get("scrape_configs", []):
    sds = job.pop("kubernetes_sd_configs", None)
    if sds is None:
        continue
    for sd in sds:
        if sd.get("role") != "pod":
            bad.append(f"{job['job_name']}: role is {sd.get('role')!r}, expected pod")
        extra = set(sd) - known
        if extra:
            bad.append(f"{job['job_name']}: unknown kubernetes_sd_configs keys {sorted(extra)}")
        for sel in sd.get("selectors", []):
            if set(sel) - {"role", "label", "field"} or sel.get("role") != sd.get("role"):
                bad.append(f"{job['job_name']}: bad selector {sel}")
    job["static_configs"] = [{"targets": ["localhost:10720"]}]
for b in bad:
    print(b, file=sys.stderr)
yaml.safe_dump(cfg, open(dst, "w"), sort_keys=False)
sys.exit(1 if bad else 0)
EOF
  fail "deploy/kubernetes/without-operator/prometheus.yml has a bad kubernetes_sd_configs block"
cp "$PROM/copybench.rules.yml" "$OPS_TMP/copybench.rules.yml"
promtool check config "$OPS_TMP/prometheus.yml" >/dev/null ||
  fail "deploy/kubernetes/without-operator/prometheus.yml is not a valid Prometheus configuration"

log "OK"
