#!/usr/bin/env python3
"""Check the Prometheus rules against the monitoring-mixin conventions.

Usage: lint-rules.py RULES.yml TESTS.yml

  - alert names are CamelCase and start with "Copybench"
  - every alert has a `for` duration, a severity label (critical, warning or
    info), a one-sentence `summary` and a `description` that shows the values
    through {{ $value }} or {{ $labels.* }}
  - recording rule names follow level:metric:operations
  - the unit tests cover every alert: at least one alert_rule_test where it
    fires and one where it stays silent
  - every alert has a `runbook_url` (RUNBOOK#anchor, relative to the repository)
    that resolves to a heading of that file (GitHub's anchors: lower case,
    punctuation dropped, spaces to hyphens)
"""

import os
import re
import sys

import yaml

ALERT_NAME = re.compile(r"^Copybench(?:[A-Z][a-z0-9]+)+$")
RECORD_NAME = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")
SEVERITIES = {"critical", "warning", "info"}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def anchors(path):
    """The anchors of the Markdown headings of `path`, as GitHub makes them."""
    found = set()
    in_code = False
    with open(path) as f:
        for line in f:
            if line.startswith("```"):
                in_code = not in_code
            m = None if in_code else re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m:
                slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
                found.add(slug)
    return found


def runbook_problem(url):
    """Why `url` does not lead to a heading of a runbook in the repository, or None."""
    path, _, anchor = (url or "").partition("#")
    if not path or not anchor:
        return f"runbook_url {url!r} is not RUNBOOK#anchor"
    full = os.path.join(REPO, path)
    if not os.path.isfile(full):
        return f"runbook_url {url!r}: no file {path} in the repository"
    if anchor not in anchors(full):
        return f"runbook_url {url!r}: {path} has no heading with anchor #{anchor}"
    return None


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    rules_path, tests_path = argv[1], argv[2]
    with open(rules_path) as f:
        groups = yaml.safe_load(f)["groups"]
    with open(tests_path) as f:
        tests = yaml.safe_load(f)

    problems = []
    alerts = []
    for group in groups:
        for rule in group["rules"]:
            if "record" in rule:
                if not RECORD_NAME.match(rule["record"]):
                    problems.append(f"record {rule['record']!r}: not level:metric:operations")
                continue
            name = rule["alert"]
            alerts.append(name)
            where = f"alert {name}"
            if not ALERT_NAME.match(name):
                problems.append(f"{where}: name is not CamelCase with the Copybench prefix")
            if not rule.get("for"):
                problems.append(f"{where}: no `for` duration")
            severity = (rule.get("labels") or {}).get("severity")
            if severity not in SEVERITIES:
                problems.append(f"{where}: severity label is {severity!r}, expected one of {sorted(SEVERITIES)}")
            ann = rule.get("annotations") or {}
            summary = (ann.get("summary") or "").strip()
            if not summary:
                problems.append(f"{where}: no summary annotation")
            elif not summary.endswith(".") or re.search(r"\.\s+\S", summary) or "\n" in summary:
                problems.append(f"{where}: summary is not a single sentence: {summary!r}")
            description = ann.get("description") or ""
            problem = runbook_problem(ann.get("runbook_url"))
            if problem:
                problems.append(f"{where}: {problem}")
            if not re.search(r"\{\{\s*\$(value|labels\.)", description):
                problems.append(f"{where}: description shows no {{{{ $value }}}} or {{{{ $labels.x }}}}")
    if len(set(alerts)) != len(alerts):
        problems.append("alert names are not unique")

    firing, silent = set(), set()
    for test in tests.get("tests", []):
        for t in test.get("alert_rule_test", []) or []:
            (firing if t.get("exp_alerts") else silent).add(t["alertname"])
    for name in alerts:
        if name not in firing:
            problems.append(f"alert {name}: no unit test where it fires")
        if name not in silent:
            problems.append(f"alert {name}: no unit test where it stays silent")
    for name in (firing | silent) - set(alerts):
        problems.append(f"unit tests name an unknown alert {name!r}")

    for p in problems:
        print(f"{rules_path}: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"{rules_path}: {len(alerts)} alerts follow the conventions and are covered by {tests_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
