#!/usr/bin/env python3
"""Lint Grafana dashboards for copybench_exporter.

Usage: lint-dashboards.py DASHBOARD.json...

Rules (each finding is printed with its rule id; exit status 1 if any):
  schema-version     schemaVersion is a current one (>= 39)
  variables          template variables are exactly datasource (type datasource,
                     prometheus), job, instance, backend, sync; the query
                     variables use label_values() on a copybench metric
  panel-title        every panel has a title
  panel-description  every panel has a description
  panel-unit         every panel sets fieldConfig.defaults.unit
  panel-datasource   every panel and every target uses the ${datasource} variable
  panel-id           panel ids are unique
  target-expr        every panel has targets and every target a PromQL expr
  promql-syntax      the expression can be scanned (balanced, valid matchers)
  selector-job       every selector matches job=~"$job" (or job="$job")
  selector-instance  every selector matches instance=~"$instance"
  selector-combination
                     selectors of per-combination copybench series also match
                     backend=~"$backend" and sync=~"$sync"
  rate-interval      every rate()/irate()/increase() range is [$__rate_interval]
  unknown-variable   expressions use no variables but $job, $instance, $backend,
                     $sync, $__rate_interval, $__range and $__interval
Row panels are containers: only their nested panels are checked.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promqlscan  # noqa: E402

MIN_SCHEMA_VERSION = 39
DATASOURCE_REFS = {"${datasource}", "$datasource"}
VARIABLES = ["datasource", "job", "instance", "backend", "sync"]
EXPR_VARIABLES = {"job", "instance", "backend", "sync", "__rate_interval", "__range", "__interval"}
RATE_FUNCTIONS = {"rate", "irate", "increase"}
# copybench series without backend/sync/workers labels.
PER_TARGET_METRICS = {
    "copybench_build_info",
    "copybench_config_last_reload_successful",
    "copybench_config_last_reload_success_timestamp_seconds",
    "copybench_sweep_duration_seconds",
    "copybench_sweeps_total",
    "copybench_run_in_progress",
    "copybench_probe_success",
    "copybench_probe_duration_seconds",
    "copybench_host_reference_seconds",
    "copybench_workload_cpu_seconds_total",
    "copybench_cpu_quota_cores",
    "copybench_cpuset_cpus",
    "copybench_schedule_interval_seconds",
    "copybench_host_alert",
    "copybench_contention_alert",
    "copybench_sweep_contended",
    "copybench_watch_warming_detectors",
    "copybench_host_info",
    "copybench_node_cpu_records",
    "copybench_run_failure_reasons_total",
    "instance:copybench_fleet_duration_robust_z:median",
}

# Aggregated across the instances of a job: no instance label to match.
FLEET_METRICS = {
    "copybench:fleet_duration_seconds:median",
    "copybench:fleet_duration_seconds:mad",
    "copybench:fleet_duration_seconds:scale",
}


def var_name(ref):
    return ref.lstrip("$").strip("{}").split(":")[0]


def is_datasource_ref(ds):
    if isinstance(ds, str):
        return ds in DATASOURCE_REFS
    return isinstance(ds, dict) and ds.get("uid") in DATASOURCE_REFS


def matches_var(sel, label, ops, var):
    for op, value in sel.matcher(label):
        if op in ops and value in (f"${var}", f"${{{var}}}"):
            return True
    return False


class Linter:
    def __init__(self, path):
        self.path = path
        self.findings = []

    def report(self, where, rule, message):
        self.findings.append(f"{self.path}: {where}: [{rule}] {message}")

    def lint(self):
        try:
            with open(self.path) as f:
                dash = json.load(f)
        except (OSError, ValueError) as e:
            self.report("file", "json", str(e))
            return self.findings
        self.check_schema_version(dash)
        self.check_inputs(dash)
        self.check_variables(dash)
        seen_ids = {}
        for panel in self.iter_panels(dash.get("panels", [])):
            self.check_panel(panel, seen_ids)
        self.check_annotations(dash)
        return self.findings

    def check_annotations(self, dash):
        """Prometheus annotation queries follow the panels' rules."""
        for a in dash.get("annotations", {}).get("list", []):
            if a.get("builtIn"):
                continue
            where = f"annotation {a.get('name')!r}"
            if not is_datasource_ref(a.get("datasource")):
                self.report(where, "panel-datasource",
                            f"datasource is {a.get('datasource')!r}, expected the ${{datasource}} variable")
            if not (a.get("expr") or "").strip():
                self.report(where, "target-expr", "annotation has no PromQL expr")
                continue
            self.check_expr(where, a["expr"])

    def iter_panels(self, panels):
        for p in panels:
            if p.get("type") == "row":
                yield from self.iter_panels(p.get("panels", []))
            else:
                yield p

    def check_inputs(self, dash):
        """Importable as grafana.com dashboards are: the import dialog asks for the Prometheus
        data source (__inputs DS_PROMETHEUS), which the datasource variable starts on."""
        inputs = [i for i in dash.get("__inputs", []) if i.get("type") == "datasource"]
        if [(i.get("name"), i.get("pluginId")) for i in inputs] != [("DS_PROMETHEUS", "prometheus")]:
            self.report("dashboard", "inputs", f"__inputs is {inputs!r}, expected one prometheus DS_PROMETHEUS")
        variables = dash.get("templating", {}).get("list", [])
        current = (variables[0].get("current") or {}).get("value") if variables else None
        if current != "${DS_PROMETHEUS}":
            self.report("dashboard", "inputs", f"the datasource variable starts on {current!r}, expected ${{DS_PROMETHEUS}}")

    def check_schema_version(self, dash):
        v = dash.get("schemaVersion")
        if not isinstance(v, int) or v < MIN_SCHEMA_VERSION:
            self.report("dashboard", "schema-version",
                        f"schemaVersion is {v!r}, expected >= {MIN_SCHEMA_VERSION}")

    def check_variables(self, dash):
        variables = dash.get("templating", {}).get("list", [])
        names = [v.get("name") for v in variables]
        if names != VARIABLES:
            self.report("templating", "variables", f"variables are {names}, expected {VARIABLES}")
        for v in variables:
            name = v.get("name")
            where = f"variable {name!r}"
            if name == "datasource":
                if v.get("type") != "datasource" or v.get("query") != "prometheus":
                    self.report(where, "variables", "must be a datasource variable of type prometheus")
                continue
            if v.get("type") != "query":
                self.report(where, "variables", f"type is {v.get('type')!r}, expected 'query'")
                continue
            if not is_datasource_ref(v.get("datasource")):
                self.report(where, "panel-datasource", "query variable does not use ${datasource}")
            query = v.get("query")
            text = query.get("query", "") if isinstance(query, dict) else (query or "")
            expr = promqlscan.variable_query_expr(text)
            if not text.strip().startswith("label_values(") or expr is None:
                self.report(where, "variables", f"query {text!r} is not label_values(<metric>, <label>)")
                continue
            try:
                selectors, _, _ = promqlscan.scan(expr)
            except promqlscan.ScanError as e:
                self.report(where, "promql-syntax", str(e))
                continue
            if not any((s.metric_name() or "").startswith("copybench") for s in selectors):
                self.report(where, "variables", f"query {text!r} does not read a copybench metric")

    def check_panel(self, panel, seen_ids):
        title = panel.get("title") or ""
        where = f"panel {title!r} (id {panel.get('id')})"
        pid = panel.get("id")
        if pid in seen_ids:
            self.report(where, "panel-id", f"id {pid} already used by panel {seen_ids[pid]!r}")
        seen_ids[pid] = title
        if not title.strip():
            self.report(where, "panel-title", "panel has no title")
        if not (panel.get("description") or "").strip():
            self.report(where, "panel-description", "panel has no description")
        unit = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
        if not (unit or "").strip():
            self.report(where, "panel-unit", "fieldConfig.defaults.unit is not set")
        if not is_datasource_ref(panel.get("datasource")):
            self.report(where, "panel-datasource",
                        f"datasource is {panel.get('datasource')!r}, expected the ${{datasource}} variable")
        targets = panel.get("targets") or []
        if not targets:
            self.report(where, "target-expr", "panel has no query")
        for t in targets:
            twhere = f"{where} target {t.get('refId')!r}"
            if "datasource" in t and not is_datasource_ref(t["datasource"]):
                self.report(twhere, "panel-datasource",
                            f"target datasource is {t['datasource']!r}, expected the ${{datasource}} variable")
            expr = t.get("expr")
            if not (expr or "").strip():
                self.report(twhere, "target-expr", "target has no PromQL expr")
                continue
            self.check_expr(twhere, expr)

    def check_expr(self, where, expr):
        try:
            selectors, calls, variables = promqlscan.scan(expr)
        except promqlscan.ScanError as e:
            self.report(where, "promql-syntax", str(e))
            return
        for v in variables:
            if var_name(v) not in EXPR_VARIABLES:
                self.report(where, "unknown-variable", f"{v} is not one of the dashboard's variables")
        if not selectors:
            self.report(where, "selector-job", f"{expr!r} selects no series")
        for sel in selectors:
            if not matches_var(sel, "job", ("=", "=~"), "job"):
                self.report(where, "selector-job", f"{sel!r} lacks job=~\"$job\"")
            if (sel.metric_name() or "") not in FLEET_METRICS and \
                    not matches_var(sel, "instance", ("=~",), "instance"):
                self.report(where, "selector-instance", f"{sel!r} lacks instance=~\"$instance\"")
            name = sel.metric_name() or ""
            if (name.startswith("copybench") or name.startswith("instance:copybench")) \
                    and name not in PER_TARGET_METRICS:
                for label in ("backend", "sync"):
                    if not matches_var(sel, label, ("=~",), label):
                        self.report(where, "selector-combination",
                                    f"{sel!r} lacks {label}=~\"${label}\"")
        for call in calls:
            if call.name in RATE_FUNCTIONS:
                if not call.ranges:
                    self.report(where, "rate-interval", f"{call.name}() has no range selector")
                for r in call.ranges:
                    if r.replace(" ", "") not in ("[$__rate_interval]", "[${__rate_interval}]"):
                        self.report(where, "rate-interval",
                                    f"{call.name}() uses {r}, expected [$__rate_interval]")


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    findings = []
    for path in argv[1:]:
        findings.extend(Linter(path).lint())
    for f in findings:
        print(f)
    if findings:
        print(f"{len(findings)} problem(s) found", file=sys.stderr)
        return 1
    print(f"lint OK: {', '.join(argv[1:])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
