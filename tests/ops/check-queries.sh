#!/usr/bin/env bash
# Dashboard queries and rules against the real exporter and a real Prometheus:
#   - three exporters (built by need_exporter_binary, a fleet as small as the fleet
#     rules need) sweep a small workload every second on 127.0.0.1; Prometheus
#     scrapes them every second and evaluates config/prometheus/copybench.rules.yml
#     every second
#   - every dashboard query (template variables substituted) must be accepted and return
#     data, every rule must evaluate without error, no alert may fire, and no integrity or
#     health alert may even be pending (query-check.py)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

need_cmd prometheus prometheus
need_cmd curl curl
need_venv
make_tmp

PROM_PORT="$(free_port)"

need_exporter_binary
# Three exporters, a fleet as small as the fleet rules need.
TARGETS=()
for i in 1 2 3; do
  port="$(free_port)"
  TARGETS+=("\"127.0.0.1:$port\"")
  cat >"$OPS_TMP/copybench-$i.toml" <<EOF
[web]
listen_address = "127.0.0.1:$port"
[schedule]
interval = "1s"
jitter = "0s"
[workload]
backends = ["process", "thread"]
sync = ["none", "lock", "ordered"]
workers = [1, 2, 3, 4]
lines = 300
repeats = 2
warmup = false
workdir = "$OPS_TMP"
EOF
  "$COPYBENCH_BIN" --config.file="$OPS_TMP/copybench-$i.toml" >"$OPS_TMP/exporter-$i.log" 2>&1 &
  BACKGROUND+=($!)
done

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
      - targets: [$(IFS=,; echo "${TARGETS[*]}")]
EOF

log "starting Prometheus on 127.0.0.1:$PROM_PORT (exporters on ${TARGETS[*]})"
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
