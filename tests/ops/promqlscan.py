"""Small PromQL scanner shared by the dashboard lint, list-metric-names.py and query-check.py.

It is not a full parser: it finds the vector selectors of an expression (metric
name plus label matchers), the function calls with the range selectors passed
to them, and the template variables used. That is all the checks need, and it
keeps the checks free of third-party packages.
"""

import json
import re


def panel_targets(path):
    """Every (panel title, refId, expr) of a dashboard file, nested rows included, then every
    annotation query as ("annotation NAME", "annotation", expr)."""
    with open(path) as f:
        dash = json.load(f)

    def walk(panels):
        for p in panels:
            yield from walk(p.get("panels", []))
            for t in p.get("targets", []) or []:
                if t.get("expr"):
                    yield p.get("title"), t.get("refId"), t["expr"]

    annotations = [
        (f"annotation {a.get('name')}", "annotation", a["expr"])
        for a in dash.get("annotations", {}).get("list", [])
        if a.get("expr")
    ]
    return list(walk(dash.get("panels", []))) + annotations

TOKEN_RE = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<comment>\#[^\n]*)
    | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
    | (?P<range>\[[^\]]*\])
    | (?P<number>(?:0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
                 (?:ms|[smhdwy])?(?:\d+(?:ms|[smhdwy]))*)
    | (?P<variable>\$\{[^}]+\}|\$\w+)
    | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
    | (?P<lbrace>\{) | (?P<rbrace>\}) | (?P<lparen>\() | (?P<rparen>\)) | (?P<comma>,)
    | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=@])
    """,
    re.X,
)

VARIABLE_RE = re.compile(r"\$\{[^}]+\}|\$\w+")

# Words that are never metric names. Those that take a parenthesised label
# list are in GROUPING.
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = GROUPING | {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
# Aggregations may put their grouping clause before the parenthesis:
# `sum by (job) (x)`.
AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}

# Metrics that Prometheus itself creates for every target or rule.
PROMETHEUS_BUILTINS = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "ALERTS",
    "ALERTS_FOR_STATE",
}


class ScanError(ValueError):
    pass


def tokenize(expr):
    tokens = []
    pos = 0
    while pos < len(expr):
        m = TOKEN_RE.match(expr, pos)
        if not m:
            raise ScanError(f"cannot scan PromQL at {expr[pos:pos + 20]!r}")
        kind = m.lastgroup
        if kind not in ("ws", "comment"):
            tokens.append((kind, m.group(kind), pos))
        pos = m.end()
    return tokens


class Selector:
    """A vector selector: `name{label op "value", ...}`."""

    def __init__(self, name):
        self.name = name
        self.matchers = []  # (label, op, value) with the quotes removed

    def matcher(self, label):
        return [(op, value) for (lab, op, value) in self.matchers if lab == label]

    def metric_name(self):
        if self.name:
            return self.name
        for op, value in self.matcher("__name__"):
            if op == "=":
                return value
        return None

    def __repr__(self):
        inner = ", ".join(f'{lab}{op}"{val}"' for lab, op, val in self.matchers)
        return f"{self.name or ''}{{{inner}}}"


class Call:
    """A function or aggregation call and the range selectors directly inside it."""

    def __init__(self, name):
        self.name = name
        self.ranges = []


def _unquote(s):
    if s[0] == "`":
        return s[1:-1]
    return bytes(s[1:-1], "utf-8").decode("unicode_escape")


def scan(expr):
    """Return (selectors, calls, variables) found in a PromQL expression."""
    tokens = tokenize(expr)
    selectors, calls, variables = [], [], []
    call_stack = []  # one entry per open parenthesis: a Call or None
    i = 0

    def next_kind(j):
        return tokens[j][0] if j < len(tokens) else None

    def read_matchers(j, sel):
        # tokens[j] is "{"; returns the index after the closing "}".
        j += 1
        while j < len(tokens) and tokens[j][0] != "rbrace":
            kind, text, _ = tokens[j]
            if kind == "comma":
                j += 1
                continue
            if kind != "ident" or next_kind(j + 1) != "op" or next_kind(j + 2) != "string":
                raise ScanError(f"bad label matcher near {text!r} in {expr!r}")
            sel.matchers.append((text, tokens[j + 1][1], _unquote(tokens[j + 2][1])))
            j += 3
        if j >= len(tokens):
            raise ScanError(f"unclosed label matcher in {expr!r}")
        return j + 1

    while i < len(tokens):
        kind, text, _ = tokens[i]
        if kind == "variable":
            i += 1
        elif kind == "range":
            # A range belongs to the innermost open call: rate(x[5m]).
            if call_stack and call_stack[-1] is not None:
                call_stack[-1].ranges.append(text)
            i += 1
        elif kind == "ident" and text.lower() in KEYWORDS:
            if text in GROUPING and next_kind(i + 1) == "lparen":
                depth = 0
                while i < len(tokens):
                    if tokens[i][0] == "lparen":
                        depth += 1
                    elif tokens[i][0] == "rparen":
                        depth -= 1
                        if depth == 0:
                            break
                    i += 1
            i += 1
        elif kind == "ident" and next_kind(i + 1) == "lparen":
            call = Call(text)
            calls.append(call)
            call_stack.append(call)
            i += 2
        elif (kind == "ident" and text in AGGREGATIONS and next_kind(i + 1) == "ident"
              and tokens[i + 1][1] in ("by", "without") and next_kind(i + 2) == "lparen"):
            j = i + 2
            while j < len(tokens) and tokens[j][0] != "rparen":
                j += 1
            if next_kind(j + 1) != "lparen":
                raise ScanError(f"expected '(' after the grouping of {text!r} in {expr!r}")
            call = Call(text)
            calls.append(call)
            call_stack.append(call)
            i = j + 2
        elif kind == "ident":
            sel = Selector(text)
            selectors.append(sel)
            i += 1
            if next_kind(i) == "lbrace":
                i = read_matchers(i, sel)
        elif kind == "lbrace":
            sel = Selector(None)
            selectors.append(sel)
            i = read_matchers(i, sel)
        elif kind == "lparen":
            call_stack.append(None)
            i += 1
        elif kind == "rparen":
            if not call_stack:
                raise ScanError(f"unbalanced ')' in {expr!r}")
            call_stack.pop()
            i += 1
        else:
            i += 1
    if call_stack:
        raise ScanError(f"unbalanced '(' in {expr!r}")
    # Grafana interpolates variables anywhere, inside strings and ranges too.
    for kind, text, _ in tokens:
        if kind in ("variable", "string", "range"):
            variables.extend(VARIABLE_RE.findall(text))
    return selectors, calls, variables


LABEL_VALUES_RE = re.compile(r"^\s*label_values\s*\((?P<args>.*)\)\s*$", re.S)


def variable_query_expr(query):
    """The PromQL part of a Grafana Prometheus variable query, or None.

    `label_values(metric{...}, label)` -> `metric{...}`; `label_values(label)`,
    `label_names()` and `metrics(...)` hold no selector. Anything else is
    treated as a PromQL query (`query_result(...)` is unwrapped).
    """
    if isinstance(query, dict):
        query = query.get("query", "")
    query = (query or "").strip()
    m = LABEL_VALUES_RE.match(query)
    if m:
        args = m.group("args")
        if "," not in args:
            return None
        return args.rsplit(",", 1)[0]
    if query.startswith("label_names(") or query.startswith("metrics("):
        return None
    m = re.match(r"^\s*query_result\s*\((.*)\)\s*$", query, re.S)
    if m:
        return m.group(1)
    return query or None
