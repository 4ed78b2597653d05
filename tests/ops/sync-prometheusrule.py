#!/usr/bin/env python3
"""Keep deploy/kubernetes/operator/prometheusrule.yaml in step with the rules file.

Usage:
  sync-prometheusrule.py          rewrite the PrometheusRule from
                                  config/prometheus/copybench.rules.yml
  sync-prometheusrule.py --check  exit 1 (and show where) if the PrometheusRule's
                                  spec.groups differ from the rules file's groups

The comparison is on the parsed YAML, so formatting and comments may differ;
the rewrite copies the rules file's text, comments included.
"""

import os
import sys

import yaml

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
RULES = os.path.join(REPO, "config", "prometheus", "copybench.rules.yml")
PROMRULE = os.path.join(REPO, "deploy", "kubernetes", "operator", "prometheusrule.yaml")

HEADER = """\
# PrometheusRule for the Prometheus Operator: the same recording and alerting
# rules as config/prometheus/copybench.rules.yml (documented in
# config/prometheus/README.md), copied from that file by
# tests/ops/sync-prometheusrule.py. Change the rules file, not this copy.
#
# The Prometheus resource selects rules by label (spec.ruleSelector). The
# labels below match kube-prometheus; for kube-prometheus-stack add
# `release: <helm release name>`.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: copybench-exporter
  namespace: copybench
  labels:
    app.kubernetes.io/name: copybench-exporter
    app.kubernetes.io/component: exporter
    prometheus: k8s
    role: alert-rules
spec:
"""


def render():
    with open(RULES) as f:
        lines = f.read().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("groups:"))
    body = ["  " + line if line.strip() else "" for line in lines[start:]]
    return HEADER + "\n".join(body) + "\n"


def first_difference(a, b, path="groups"):
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'the rules file' if key in a else 'the PrometheusRule'}"
            d = first_difference(a[key], b[key], f"{path}.{key}")
            if d:
                return d
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            name = x.get("name") or x.get("alert") or x.get("record") if isinstance(x, dict) else None
            d = first_difference(x, y, f"{path}[{i}{' ' + name if name else ''}]")
            if d:
                return d
        if len(a) != len(b):
            return f"{path}: {len(a)} entries in the rules file, {len(b)} in the PrometheusRule"
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


def check():
    with open(RULES) as f:
        groups = yaml.safe_load(f)["groups"]
    with open(PROMRULE) as f:
        doc = yaml.safe_load(f)
    problems = []
    if doc.get("kind") != "PrometheusRule":
        problems.append(f"kind is {doc.get('kind')!r}")
    diff = first_difference(groups, (doc.get("spec") or {}).get("groups"))
    if diff:
        problems.append(diff)
    for p in problems:
        print(f"{os.path.relpath(PROMRULE, REPO)}: {p}", file=sys.stderr)
    if problems:
        print("run tests/ops/sync-prometheusrule.py to rewrite it from the rules file", file=sys.stderr)
        return 1
    print(f"{os.path.relpath(PROMRULE, REPO)}: same {len(groups)} groups as "
          f"{os.path.relpath(RULES, REPO)}")
    return 0


def main(argv):
    if argv[1:] == ["--check"]:
        return check()
    if argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    with open(PROMRULE, "w") as f:
        f.write(render())
    print(f"wrote {os.path.relpath(PROMRULE, REPO)}")
    return check()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
