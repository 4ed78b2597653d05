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
CORE=() OPERATOR=()
for f in "$K8S"/*.yaml "$K8S"/variants/*.yaml; do [[ "$(basename "$f")" == kustomization.yaml ]] || CORE+=("$f"); done
for f in "$K8S"/operator/*.yaml; do [[ "$(basename "$f")" == kustomization.yaml ]] || OPERATOR+=("$f"); done
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

log "kubectl kustomize: each kustomization lists every manifest of its directory, Namespace first"
command -v kubectl >/dev/null 2>&1 || apt_install kubernetes-client || true
command -v kubectl >/dev/null 2>&1 || missing_tool "kubectl (Debian package kubernetes-client)"
for dir in "$K8S" "$K8S/operator"; do
  kubectl kustomize "$dir" >"$OPS_TMP/built.yaml" || fail "kubectl kustomize ${dir#"$REPO"/} failed"
  listed="$(sed -n 's/^  - //p' "$dir/kustomization.yaml" | sort)"
  present="$(cd "$dir" && ls -1 ./*.yaml | sed 's|^\./||' | grep -vx kustomization.yaml | sort)"
  [[ "$listed" == "$present" ]] ||
    fail "${dir#"$REPO"/}/kustomization.yaml lists [$(echo $listed)], the directory holds [$(echo $present)]"
  [[ "$(grep -c '^kind:' "$OPS_TMP/built.yaml")" == "$(cd "$dir" && cat $present | grep -c '^kind:')" ]] ||
    fail "kubectl kustomize ${dir#"$REPO"/} did not build every resource"
  if [[ "$dir" == "$K8S" ]]; then
    [[ "$(grep -m1 '^kind:' "$OPS_TMP/built.yaml")" == "kind: Namespace" ]] ||
      fail "kubectl apply -k ${dir#"$REPO"/} would not create the Namespace first"
    "$VENV_BIN/kubernetes-validate" --strict --quiet -k 1.30.0 "$OPS_TMP/built.yaml" ||
      fail "the kustomize build of ${dir#"$REPO"/} does not validate"
  fi
  log "  ${dir#"$REPO"/}: $(grep -c '^kind:' "$OPS_TMP/built.yaml") resources"
done

log "copybench_exporter check-config on the ConfigMap's copybench.toml"
need_exporter_binary
"$COPYBENCH_BIN" check-config "$OPS_TMP/copybench.toml" ||
  fail "the ConfigMap's copybench.toml is rejected by copybench_exporter check-config"

log "OK"
