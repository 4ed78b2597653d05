#!/usr/bin/env python3
"""A recording of bench/record-cadence.sh as a small test fixture.

Writes to OUT: runs.csv.gz (one row per run: its sweep, its round, seconds since the first
sweep's start, the combination, what the detectors read of it, and its workers' wait for a
CPU where the history has it), sweeps.csv (each sweep's
start, calibration, what else the host was running meanwhile, from load.csv, and whether it
was a confirmation sweep) and
events.csv (the caused events, in seconds since the first sweep's start).

A recording made with BURST_ROUNDS has its bursts (bursts.sqlite) exported as confirmation
sweeps too, numbered from 1,000,000 on.

Usage: bench/history-fixture.py RECORDING_DIR OUT
"""
import csv
import gzip
import os
import sqlite3
import sys

BURSTS_FROM = 1_000_000
COLUMNS = ["backend", "sync", "workers", "warmup", "success", "duration_seconds",
           "disturbed", "throttled", "cpu_pressure_seconds", "steal_seconds"]

recording, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)


def history(path, offset):
    """(database, its sweeps, the offset of their numbers) of the history at path."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    sweeps = db.execute(
        "SELECT id, started_at, finished_at, calibration_seconds FROM sweeps ORDER BY id"
    ).fetchall()
    return db, sweeps, offset


histories = [history(f"{recording}/state/history.sqlite", 0)]
if os.path.exists(f"{recording}/bursts.sqlite"):
    histories.append(history(f"{recording}/bursts.sqlite", BURSTS_FROM))
origin = histories[0][1][0][1]
load = []
with open(f"{recording}/load.csv") as f:
    for row in csv.DictReader(f):
        load.append((float(row["time"]), int(row["builders"]), float(row["cpu_busy_share"])))

with open(f"{out}/sweeps.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["sweep", "t", "calibration_seconds", "builders_max", "cpu_busy_share",
                "confirmation"])
    for db, sweeps, offset in histories:
        for sweep, start, end, calibration in sweeps:
            during = [(b, c) for t, b, c in load if start <= t <= (end or start)]
            builders = max((b for b, _ in during), default=0)
            busy = sum(c for _, c in during) / len(during) if during else ""
            # A confirmation sweep runs no warm-up; a scheduled one does.
            warmups = db.execute("SELECT count(*) FROM runs WHERE sweep_id = ? AND warmup = 1",
                                 (sweep,)).fetchone()[0]
            w.writerow([sweep + offset, f"{start - origin:.3f}",
                        "" if calibration is None else f"{calibration:.6f}", builders,
                        busy if busy == "" else f"{busy:.3f}", int(warmups == 0)])

with open(f"{out}/events.csv", "w", newline="") as f, open(f"{recording}/events.csv") as src:
    w = csv.writer(f)
    w.writerow(["t", "event"])
    for row in csv.DictReader(src):
        w.writerow([f"{float(row['time']) - origin:.3f}", row["event"]])

with gzip.open(f"{out}/runs.csv.gz", "wt", newline="", compresslevel=9) as f:
    w = csv.writer(f)
    w.writerow(["sweep", "round", "t"] + COLUMNS + ["wait_seconds"])
    for db, sweeps, offset in histories:
        # Histories from before the runs kept their round: rounds counted in the order they ran.
        columns = {c[1] for c in db.execute("PRAGMA table_info(runs)")}
        round_column = "round" if "round" in columns else "NULL"
        # Histories from before the runs kept their workers' wait for a CPU: empty.
        wait_column = "wait_seconds" if "wait_seconds" in columns else "NULL"
        for sweep, *_ in sweeps:
            runs = db.execute(
                f"SELECT finished_at, {round_column}, {', '.join(COLUMNS)}, {wait_column} FROM runs "
                "WHERE sweep_id = ? AND probe = 0 ORDER BY id", (sweep,)).fetchall()
            measured = [r for r in runs if not r[5]]
            per_round = len({r[2:5] for r in measured})
            seen = 0
            for finished, stored_round, backend, sync, workers, warmup, success, duration, \
                    disturbed, throttled, pressure, steal, wait in runs:
                counted = seen // per_round if stored_round is None else stored_round
                rnd = "" if warmup else counted
                seen += 0 if warmup else 1
                fmt = lambda v, d: "" if v is None else f"{v:.{d}f}"
                w.writerow([sweep + offset, rnd, f"{finished - origin:.2f}", backend, sync,
                            workers, warmup, success, fmt(duration, 5), disturbed, throttled,
                            fmt(pressure, 4), fmt(steal, 4), fmt(wait, 4)])
