#!/usr/bin/env python3
"""Print every metric name that the dashboards and the Prometheus rules read.

Usage: list-metric-names.py [--repo DIR]

Reads dashboards/*.json (panel targets and template-variable queries) and
config/prometheus/*.rules.yml (rule expressions). Prints one name per line,
sorted and de-duplicated, leaving out the names recorded by the rules
themselves and the series Prometheus creates on its own (up,
scrape_duration_seconds, ...). Each printed name must therefore appear in the
exporter's /metrics.

PyYAML is used when importable; otherwise the script re-runs itself with the
Python of target/ops-tools/venv, creating that venv (pip install PyYAML) on
first use.
"""

import argparse
import glob
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import promqlscan  # noqa: E402

PYYAML = "PyYAML==6.0.2"


def load_yaml_module(repo):
    try:
        import yaml  # noqa: F401

        return yaml
    except ImportError:
        pass
    if os.environ.get("COPYBENCH_OPS_REEXEC"):
        sys.exit("list-metric-names.py: PyYAML is missing even in target/ops-tools/venv")
    venv = os.path.join(repo, "target", "ops-tools", "venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True, stdout=sys.stderr)
    probe = subprocess.run([py, "-c", "import yaml"], stderr=subprocess.DEVNULL)
    if probe.returncode != 0:
        subprocess.run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", PYYAML],
                       check=True, stdout=sys.stderr)
    env = dict(os.environ, COPYBENCH_OPS_REEXEC="1")
    os.execve(py, [py] + sys.argv, env)


def dashboard_exprs(path):
    with open(path) as f:
        dash = json.load(f)
    for _, _, expr in promqlscan.panel_targets(path):
        yield expr
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            expr = promqlscan.variable_query_expr(v.get("query"))
            if expr:
                yield expr


def rules_exprs(yaml, path):
    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    recorded, exprs = set(), []
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            if "record" in rule:
                recorded.add(rule["record"])
            exprs.append(str(rule["expr"]))
    return recorded, exprs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", default=os.path.normpath(os.path.join(HERE, "..", "..")),
                    help="repository root (default: two levels above this script)")
    args = ap.parse_args()
    yaml = load_yaml_module(args.repo)

    exprs, recorded = [], set()
    for path in sorted(glob.glob(os.path.join(args.repo, "dashboards", "*.json"))):
        exprs.extend(dashboard_exprs(path))
    for path in sorted(glob.glob(os.path.join(args.repo, "config", "prometheus", "*.rules.yml"))):
        rec, ex = rules_exprs(yaml, path)
        recorded |= rec
        exprs.extend(ex)
    if not exprs:
        sys.exit(f"list-metric-names.py: no dashboards or rules found under {args.repo}")

    names = set()
    for expr in exprs:
        selectors, _, _ = promqlscan.scan(expr)
        for sel in selectors:
            name = sel.metric_name()
            if name:
                names.add(name)
    names -= recorded
    names -= promqlscan.PROMETHEUS_BUILTINS
    for name in sorted(names):
        print(name)


if __name__ == "__main__":
    main()
