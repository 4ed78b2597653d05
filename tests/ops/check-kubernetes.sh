#!/usr/bin/env bash
# Kubernetes manifests (deploy/kubernetes):
#   - kubernetes-validate --strict -k 1.30.0 on the core kinds
#   - the kubernetes-models packages' validate() on every object, plus a strict
#     schema (unknown fields rejected) for PodMonitor and PrometheusRule
#   - policy checks (lint-kubernetes.py): restricted security context, no CPU
#     limit by default and a variant with one, scratch emptyDir, node label
#     relabeling, headless Service, ...
#   - the ConfigMap's copybench.toml passes `copybench_exporter check-config`
set -euo pipefail
source "$(dirname "$0")/lib.sh"

need_venv
need_npm_tools
make_tmp

K8S="$REPO/deploy/kubernetes"
shopt -s nullglob
CORE=("$K8S"/*.yaml "$K8S"/variants/*.yaml)
OPERATOR=("$K8S"/operator/*.yaml)
[[ ${#CORE[@]} -gt 0 && ${#OPERATOR[@]} -gt 0 ]] || fail "manifests missing under deploy/kubernetes"

log "kubernetes-validate --strict -k 1.30.0 (core kinds)"
"$VENV_BIN/kubernetes-validate" --strict --quiet -k 1.30.0 "${CORE[@]}" ||
  fail "core manifests do not validate against Kubernetes 1.30"

log "kubernetes-models validate() (all kinds; strict schema for Operator kinds)"
node "$OPS_DIR/validate-k8s-models.js" "$TOOLS/k8s-schemas" "${CORE[@]}" "${OPERATOR[@]}" ||
  fail "manifests do not validate against the kubernetes-models types"

log "policy checks"
"$VENV_BIN/python" "$OPS_DIR/lint-kubernetes.py" --write-config "$OPS_TMP/copybench.toml" ||
  fail "manifests break the deployment policy"

log "copybench_exporter check-config on the ConfigMap's copybench.toml"
need_exporter_binary
"$COPYBENCH_BIN" check-config "$OPS_TMP/copybench.toml" ||
  fail "the ConfigMap's copybench.toml is rejected by copybench_exporter check-config"

log "OK"
