#!/usr/bin/env python3
"""Run every dashboard query and the rules against a live Prometheus.

Usage: query-check.py PROMETHEUS_URL DASHBOARD.json...

Expects a Prometheus that scrapes the exporter (check-queries.sh) and loads
config/prometheus/copybench.rules.yml. Checks:
  - every panel target, with the template variables substituted as a live test
    would ($job/$instance/$backend/$sync -> .+, $__rate_interval -> 1m,
    $__range -> 5m, $__interval -> 30s), is accepted and returns data; every
    annotation query is accepted, and the node-facts one returns data (a fresh
    Prometheus saw every node's facts change from nothing)
  - every exporter has a scalability fit (copybench_usl_sigma not NaN)
  - every rule evaluates without error; no alert fires, and no alert but the
    performance ones (whose verdict depends on the machine) is even pending
  - every metric name that list-metric-names.py prints is present
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import promqlscan  # noqa: E402
SUBSTITUTIONS = [
    ("${datasource}", ""), ("$datasource", ""),
    ("$__rate_interval", "1m"), ("${__rate_interval}", "1m"),
    ("$__range", "5m"), ("${__range}", "5m"),
    ("$__interval", "30s"), ("${__interval}", "30s"),
    ("${job}", ".+"), ("$job", ".+"),
    ("${instance}", ".+"), ("$instance", ".+"),
    ("${backend}", ".+"), ("$backend", ".+"),
    ("${sync}", ".+"), ("$sync", ".+"),
]
# Each wait's bound; QUERY_CHECK_DEADLINE (seconds) raises it for a slower first sweep.
DEADLINE_S = int(os.environ.get("QUERY_CHECK_DEADLINE", "40"))
# Annotations that must return data on a fresh Prometheus: the node's facts appeared.
ANNOTATIONS_WITH_DATA = {"annotation Node changed"}


def api(base, path, **params):
    url = f"{base}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)


def substitute(expr):
    for a, b in SUBSTITUTIONS:
        expr = expr.replace(a, b)
    return expr


def wait_for(base, expr, what):
    deadline = time.time() + DEADLINE_S
    while time.time() < deadline:
        res = api(base, "/api/v1/query", query=expr)
        if res.get("status") == "success" and res["data"]["result"]:
            return
        time.sleep(1)
    sys.exit(f"query-check: timed out after {DEADLINE_S}s waiting for {what} ({expr})")


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    base, dashboards = argv[1].rstrip("/"), argv[2:]
    failures = []

    wait_for(base, 'up{job="copybench_exporter"} == 1', "the first scrape")
    # Rate windows need two samples, recording rules one evaluation after that.
    wait_for(base, "copybench:parallel_efficiency:ratio", "the recording rules")
    wait_for(base, "instance:copybench_fleet_duration_robust_z:median", "the fleet rules")
    wait_for(base, 'count_over_time(copybench_runs_total{job="copybench_exporter"}[1m]) >= 3',
             "enough samples for rate()")
    # Point summaries and scalability fits come with the first finished sweep.
    wait_for(base, 'count(copybench_sweeps_total{job="copybench_exporter"} >= 1) == 3',
             "a finished sweep on every exporter")
    # A fit is a number (a NaN gauge says there is none): on every exporter.
    wait_for(base, 'count(count by (instance) (copybench_usl_sigma >= 0)) == 3',
             "a scalability fit on every exporter")

    n = 0
    for path in dashboards:
        for title, ref, expr in promqlscan.panel_targets(path):
            n += 1
            q = substitute(expr)
            res = api(base, "/api/v1/query", query=q)
            if res.get("status") != "success":
                failures.append(f"{title!r} {ref}: {res.get('errorType')}: {res.get('error')}\n    {q}")
            elif not res["data"]["result"] and (
                    ref != "annotation" or title in ANNOTATIONS_WITH_DATA):
                # Annotations mark events (regressions) a healthy run does not have; their
                # metric names are checked as scraped below.
                failures.append(f"{title!r} {ref}: no data\n    {q}")
    print(f"query-check: {n} dashboard queries evaluated")

    rules = api(base, "/api/v1/rules")["data"]["groups"]
    nrules = 0
    for group in rules:
        for rule in group["rules"]:
            nrules += 1
            if rule.get("health") != "ok" or rule.get("lastError"):
                failures.append(f"rule {rule['name']} ({group['name']}): {rule.get('health')}: {rule.get('lastError')}")
    if nrules == 0:
        failures.append("Prometheus loaded no rules")
    alerts = api(base, "/api/v1/alerts")["data"]["alerts"]
    performance = {"CopybenchPerformanceRegression", "CopybenchDurationAboveBaseline",
                   "CopybenchScalingCollapse", "CopybenchNodeOutlier"}
    for a in alerts:
        name = a["labels"].get("alertname")
        if a["state"] == "firing" or name not in performance:
            failures.append(f"alert {name} is {a['state']} for a healthy exporter: {a['labels']}")
    print(f"query-check: {nrules} rules healthy, {len(alerts)} alerts active")

    names = subprocess.run([sys.executable, os.path.join(HERE, "list-metric-names.py")],
                           check=True, capture_output=True, text=True).stdout.split()
    present = set(api(base, "/api/v1/label/__name__/values")["data"])
    for name in names:
        if name not in present:
            failures.append(f"metric {name} (listed by list-metric-names.py) is not scraped")
    print(f"query-check: {len(names)} metric names from list-metric-names.py all scraped"
          if not any(f.startswith("metric ") for f in failures) else "query-check: metric names missing")

    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
