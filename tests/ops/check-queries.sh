#!/usr/bin/env bash
# Dashboard queries and rules against the real exporter and a real Prometheus:
#   - the exporter (built by need_exporter_binary) sweeps a small workload
#     every second on 127.0.0.1; Prometheus scrapes it every second and evaluates
#     config/prometheus/copybench.rules.yml every second
#   - every dashboard query (template variables substituted) must be accepted and return
#     data, every rule must evaluate without error, no alert may fire, and no integrity or
#     health alert may even be pending (query-check.py)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

need_cmd prometheus prometheus
need_cmd curl curl
need_venv
make_tmp

EXPORTER_PORT="$(free_port)"
PROM_PORT="$(free_port)"

need_exporter_binary
cat >"$OPS_TMP/copybench.toml" <<EOF
[web]
listen_address = "127.0.0.1:$EXPORTER_PORT"
[schedule]
interval = "1s"
jitter = "0s"
[workload]
backends = ["process", "thread"]
sync = ["none", "lock", "ordered"]
workers = [1, 2, 3, 4]
lines = 300
workdir = "$OPS_TMP"
EOF
"$COPYBENCH_BIN" --config.file="$OPS_TMP/copybench.toml" >"$OPS_TMP/exporter.log" 2>&1 &
BACKGROUND+=($!)

cp "$REPO/config/prometheus/copybench.rules.yml" "$OPS_TMP/copybench.rules.yml"
cat >"$OPS_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - copybench.rules.yml
scrape_configs:
  - job_name: copybench_exporter
    static_configs:
      - targets: ["127.0.0.1:$EXPORTER_PORT"]
EOF

log "starting Prometheus on 127.0.0.1:$PROM_PORT (exporter on :$EXPORTER_PORT)"
prometheus --config.file="$OPS_TMP/prometheus.yml" --storage.tsdb.path="$OPS_TMP/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$OPS_TMP/prometheus.log" 2>&1 &
BACKGROUND+=($!)

ready=""
for _ in $(seq 1 40); do
  if curl -fsS "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.5
done
[[ -n "$ready" ]] || { cat "$OPS_TMP/prometheus.log" >&2; fail "Prometheus did not become ready"; }

log "running dashboard queries and checking rules"
"$VENV_BIN/python" "$OPS_DIR/query-check.py" "http://127.0.0.1:$PROM_PORT" "$REPO"/dashboards/*.json ||
  { tail -n 20 "$OPS_TMP/prometheus.log" >&2; fail "queries or rules failed against Prometheus"; }

log "OK"
