#!/usr/bin/env bash
# Dashboard queries and rules against the real exporter and a real Prometheus:
#   - three exporters (built by need_exporter_binary, a fleet as small as the fleet
#     rules need) on 127.0.0.1; Prometheus scrapes them every second and evaluates
#     config/prometheus/copybench.rules.yml every second
#   - twice: with a small workload swept every second (every backend, sync mode and
#     pool size), then on the built-in defaults as a newcomer runs them (no
#     configuration file, only the address), whose first sweep must give every signal
#   - every dashboard query (template variables substituted) must be accepted and return
#     data, every rule must evaluate without error, no alert may fire, and no integrity or
#     health alert may even be pending (query-check.py)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

need_cmd prometheus prometheus
need_cmd curl curl
need_venv
make_tmp

need_exporter_binary

# check_queries MODE: the three exporters (MODE "small" or "defaults") and Prometheus,
# the queries and rules checked against them, then all of them stopped.
check_queries() {
  local mode=$1 dir="$OPS_TMP/$1" prom_port targets=() port i
  mkdir -p "$dir"
  prom_port="$(free_port)"
  for i in 1 2 3; do
    port="$(free_port)"
    targets+=("\"127.0.0.1:$port\"")
    if [[ $mode == defaults ]]; then
      # Scratch files under the check's directory; the history in memory.
      env -u STATE_DIRECTORY TMPDIR="$dir" "$COPYBENCH_BIN" \
        --web.listen-address="127.0.0.1:$port" >"$dir/exporter-$i.log" 2>&1 &
    else
      cat >"$dir/copybench-$i.toml" <<EOF
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
workdir = "$dir"
EOF
      "$COPYBENCH_BIN" --config.file="$dir/copybench-$i.toml" >"$dir/exporter-$i.log" 2>&1 &
    fi
    BACKGROUND+=($!)
  done

  cp "$REPO/config/prometheus/copybench.rules.yml" "$dir/copybench.rules.yml"
  cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - copybench.rules.yml
scrape_configs:
  - job_name: copybench_exporter
    static_configs:
      - targets: [$(IFS=,; echo "${targets[*]}")]
EOF

  log "$mode: starting Prometheus on 127.0.0.1:$prom_port (exporters on ${targets[*]})"
  prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$dir/prometheus.log" 2>&1 &
  BACKGROUND+=($!)

  local ready=""
  for _ in $(seq 1 40); do
    if curl -fsS "http://127.0.0.1:$prom_port/-/ready" >/dev/null 2>&1; then
      ready=1
      break
    fi
    sleep 0.5
  done
  [[ -n "$ready" ]] || { cat "$dir/prometheus.log" >&2; fail "$mode: Prometheus did not become ready"; }

  log "$mode: running dashboard queries and checking rules"
  # The defaults' first sweep (81 runs of 3,000 lines on each exporter) takes longer.
  QUERY_CHECK_DEADLINE=$([[ $mode == defaults ]] && echo 180 || echo 40) "$VENV_BIN/python" "$OPS_DIR/query-check.py" "http://127.0.0.1:$prom_port" "$REPO"/dashboards/*.json ||
    { tail -n 20 "$dir/prometheus.log" "$dir"/exporter-*.log >&2; fail "$mode: queries or rules failed against Prometheus"; }
  stop_background
}

check_queries small
check_queries defaults
log "OK"
