#!/usr/bin/env python3
"""Round settings compared: what bench/rounds-side-by-side.sh recorded in DIR.

For each setting (DIR/rREPEATS-LINES.sqlite), over its uncontended sweeps (by the detectors'
default rule: pressure and steal above 5 % of the 1-worker runs' time or above 35 % of the
full-width runs', or a throttled run), each combination's workload signal as the detectors
take it (src/analysis/signals.rs: the median over the sweep's rounds of its log time less the
median of the same round's other single-worker runs) and how much it varies from one sweep to
the next (the robust spread of successive differences, over the square root of 2), the
median and range over the combinations, and how many vary at most 4 % (what +10 % within
5 sweeps needs); the host reference's fastest run likewise; and the CPU and wall seconds of a
sweep (medians).

Usage: bench/rounds-spread.py DIR [--since UNIX] [--until UNIX] [--events EVENTS.CSV]
  --events: a recording's events.csv (bench/record-cadence.sh); sweeps from a minute before a
  caused event began (a neighbour started, a quota set) to a minute after it ended are left out.
"""
import argparse
import glob
import math
import os
import sqlite3
import statistics
from collections import defaultdict

REFERENCE = ("thread", "none", 1)


def median(values):
    return statistics.median(values) if values else None


def spread(series):
    """Percent a series varies from one value to the next: robust, blind to slow drift."""
    steps = [b - a for a, b in zip(series, series[1:])]
    if len(steps) < 5:
        return None
    centre = median(steps)
    return 1.4826 * median([abs(s - centre) for s in steps]) / math.sqrt(2) * 100


def caused(path):
    """(start, end) of each caused event of a recording's events.csv (Unix seconds)."""
    spans, start = [], None
    for line in open(path).readlines()[1:]:
        time, event = line.strip().split(",", 1)
        if "started" in event and "neighbour" in event or "quota:" in event and " set " in event:
            start = float(time)
        elif start is not None and ("stopped" in event or "removed" in event):
            spans.append((start, float(time)))
            start = None
    return spans


def contended(runs):
    def share(keep):
        shares = [(r["cpu_pressure_seconds"] + r["steal_seconds"]) / r["duration_seconds"]
                  for r in runs if r["success"] and r["duration_seconds"] and keep(r)]
        return median(shares) or 0.0
    full_width = lambda r: r["workers"] > 1 and r["workers"] == r["cpus_allowed"]
    return (any(r["throttled"] for r in runs) or share(lambda r: r["workers"] == 1) > 0.05
            or share(full_width) > 0.35)


def signals(runs):
    """Each combination's workload signal, and the host reference's fastest log time."""
    rounds = defaultdict(dict)
    for r in runs:
        if r["success"] and not r["disturbed"] and r["duration_seconds"]:
            key = (r["backend"], r["sync"], r["workers"])
            time = math.log(r["duration_seconds"])
            rounds[r["round"]][key] = min(rounds[r["round"]].get(key, math.inf), time)
    paired = defaultdict(list)
    for times in rounds.values():
        singles = {k: t for k, t in times.items() if k[2] == 1}
        for key, time in times.items():
            others = [t for k, t in singles.items() if k != key]
            if len(others) >= 3:
                paired[key].append(time - median(others))
    workload = {k: median(p) for k, p in paired.items() if len(p) >= 3}
    reference = [t[REFERENCE] for t in rounds.values() if REFERENCE in t]
    return workload, (min(reference) if len(reference) >= 3 else None)


def setting(path, args, spans):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    series, host, cpu, used, skipped = defaultdict(list), [], [], 0, 0
    for sweep in db.execute("SELECT id, started_at, cpu_seconds FROM sweeps ORDER BY id"):
        start = sweep["started_at"]
        if not args.since <= start <= args.until:
            continue
        if any(a - 60 <= start <= b + 60 for a, b in spans):
            continue
        runs = [dict(r) for r in db.execute(
            "SELECT * FROM runs WHERE sweep_id = ? AND warmup = 0", (sweep["id"],))]
        if contended(runs):
            skipped += 1
            continue
        used += 1
        cpu.append(sweep["cpu_seconds"])
        workload, reference = signals(runs)
        for key, value in workload.items():
            series[key].append(value)
        if reference is not None:
            host.append(reference)
    spreads = sorted(s for s in map(spread, series.values()) if s is not None)
    times = [list(map(float, line.split())) for line in open(path[:-len(".sqlite")] + ".time")]
    name = os.path.basename(path)[1:-len(".sqlite")].replace("-", " rounds of ") + " lines"
    if not spreads:
        print(f"{name}: {used} uncontended sweeps, too few")
        return
    print(f"{name}: {used} uncontended sweeps ({skipped} contended); workload varies "
          f"{median(spreads):.1f} % (combinations {spreads[0]:.1f}-{spreads[-1]:.1f} %, "
          f"{sum(s <= 4.0 for s in spreads)} of {len(spreads)} at most 4 %); host reference "
          f"{spread(host):.1f} %; a sweep {median([u + s for u, s, _ in times]):.2f} CPU-s "
          f"(workers {median([c for c in cpu if c]):.2f}), {median([w for _, _, w in times]):.2f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--since", type=float, default=0.0)
    parser.add_argument("--until", type=float, default=math.inf)
    parser.add_argument("--events")
    args = parser.parse_args()
    spans = caused(args.events) if args.events else []
    for path in sorted(glob.glob(f"{args.dir}/r*-*.sqlite"),
                       key=lambda p: int(os.path.basename(p)[1:].split("-")[0])):
        setting(path, args, spans)


main()
