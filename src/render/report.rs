//! Shows a sweep to people and programs: one row formatter serves the `run` command's aligned
//! table and the landing page's HTML table (one row per combination: its summary and its
//! newest run); JSON lines serve `run --json`. Change points and replayed alerts as lines for
//! people or JSON objects serve `changes`; what the detectors can see, the landing page.

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::analysis::attribution::{self, Cause};
use crate::analysis::changes::Change;
use crate::analysis::signals::Key;
use crate::analysis::usl::Fit;
use crate::analysis::watch::Signal;
use crate::record::RunRecord;
use crate::results::alerts::{AlertSpan, AlertState, Group, SENSITIVITY_SWEEPS};
use crate::results::{Point, Scaling};
use crate::workload::Spec;

/// Column headings of a table of combinations.
pub const HEADER: [&str; 17] = [
    "backend", "sync", "workers", "runs", "median s", "±", "cv", "lines/s", "speedup", "disorder",
    "dups", "missing", "torn", "cpus", "threads", "pids", "status",
];

/// Writes `record` as one line of JSON.
pub fn json_line(out: &mut impl Write, record: &RunRecord) -> io::Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    writeln!(out)
}

/// Writes `point` as one line of JSON, marked `"kind": "point"` to tell it from run lines.
pub fn point_json_line(out: &mut impl Write, point: &Point) -> io::Result<()> {
    let mut value = serde_json::to_value(point)?;
    if let Some(object) = value.as_object_mut() {
        object.insert("kind".to_owned(), "point".into());
    }
    serde_json::to_writer(&mut *out, &value)?;
    writeln!(out)
}

/// A change point as one JSON object: the change's keys (`index`, `mean_before`,
/// `mean_after`, `ratio`, `pvalue`, `detector`), its `time`, and the combination's labels when
/// it is one's.
pub fn change_json(
    change: &Change,
    time: &str,
    spec: Option<&Spec>,
    causes: Option<&[Cause]>,
) -> serde_json::Value {
    let mut line = serde_json::to_value(change).unwrap_or_default();
    line["time"] = time.into();
    if let Some(causes) = causes {
        line["causes"] = serde_json::to_value(causes).unwrap_or_default();
    }
    if let Some(spec) = spec {
        line["backend"] = spec.backend.as_str().into();
        line["sync"] = spec.sync.as_str().into();
        line["workers"] = spec.workers.into();
    }
    line
}

/// What an alert is of, by name, and its combination (none for the node-wide signals).
fn alert_subject(signal: &Signal<Group>) -> (&'static str, Option<&Key<Group>>) {
    match signal {
        Signal::Workload(key) | Signal::Scaling(key) => (signal.name(), Some(key)),
        Signal::Host | Signal::Contention => (signal.name(), None),
    }
}

/// What the node's watch can see, beside its alerts: what its detectors find
/// ([`sensitivity_line`]) and which cannot alert yet ([`warming_line`]), a sentence each.
pub fn watch_lines(state: &AlertState) -> Vec<String> {
    [
        sensitivity_line(&state.sensitivity),
        warming_line(&state.warming),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// What the workload and scaling detectors can see, in one sentence: on how many series a
/// slowdown of 10 % is found within [`SENSITIVITY_SWEEPS`] usable sweeps, and the
/// least sensitive one. `None` before any detector has warmed up.
fn sensitivity_line(sensitivity: &BTreeMap<Signal<Group>, f64>) -> Option<String> {
    let (least, worst) = sensitivity.iter().max_by(|a, b| a.1.total_cmp(b.1))?;
    let within = sensitivity.values().filter(|r| **r <= 0.10).count();
    let (signal, key) = alert_subject(least);
    let subject = key.map_or_else(String::new, |((b, s), w)| format!("{b}/{s} workers={w} "));
    let worst = if worst.is_finite() {
        format!("one of {:.0} %", worst * 100.0)
    } else {
        "none at all".to_owned()
    };
    Some(format!(
        "Within {SENSITIVITY_SWEEPS} usable sweeps the detectors find a slowdown of 10 % on \
         {within} of {} series; the least sensitive ({subject}{signal}) finds {worst}.",
        sensitivity.len()
    ))
}

/// How many detectors are still building their baselines, and so cannot alert yet, and
/// whether the host's is among them; `None` once every one has its baseline.
fn warming_line(warming: &[Signal<Group>]) -> Option<String> {
    let host = if warming.contains(&Signal::Host) {
        " (the host signal's among them)"
    } else {
        ""
    };
    (!warming.is_empty()).then(|| {
        format!(
            "Detectors still building their baselines from uncontended sweeps, which cannot \
             alert yet: {}{host}.",
            warming.len()
        )
    })
}

/// An alert as a JSON object: `signal`, `backend`, `sync` and `workers` (a combination's
/// only), `started_at`, `ended_at` (null while firing), `ratio` (null for contention),
/// `causes` (what changed on the node around its start, most likely first).
pub fn alert_json(span: &AlertSpan) -> serde_json::Value {
    let (signal, key) = alert_subject(&span.signal);
    let mut line = serde_json::json!({
        "signal": signal,
        "started_at": span.started_at,
        "ended_at": span.ended_at,
        "ratio": span.ratio,
        "causes": span.causes,
    });
    if let Some(((backend, sync), workers)) = key {
        line["backend"] = backend.as_str().into();
        line["sync"] = sync.as_str().into();
        line["workers"] = (*workers).into();
    }
    line
}

/// An alert as one line for people.
pub fn alert_line(span: &AlertSpan) -> String {
    let (signal, key) = alert_subject(&span.signal);
    let time = |t: f64| {
        std::time::UNIX_EPOCH
            .checked_add(std::time::Duration::from_secs_f64(t.max(0.0)))
            .map_or_else(
                || t.to_string(),
                |t| humantime::format_rfc3339_seconds(t).to_string(),
            )
    };
    let subject = key.map_or_else(String::new, |((b, s), w)| format!(" {b}/{s} workers={w}"));
    let ended = span.ended_at.map_or_else(|| "firing".to_owned(), time);
    let ratio = span
        .ratio
        .map_or_else(String::new, |r| format!("  ratio {r:.3}"));
    format!(
        "{signal}{subject}  {} -> {ended}{ratio}  on the node: {}",
        time(span.started_at),
        attribution::describe(&span.causes)
    )
}

/// A change point as one line for people.
pub fn change_line(
    change: &Change,
    time: &str,
    spec: Option<&Spec>,
    causes: Option<&[Cause]>,
) -> String {
    let name = spec.map_or_else(String::new, |s| {
        format!("{}/{} workers={}  ", s.backend, s.sync, s.workers)
    });
    let causes = causes.map_or_else(String::new, |c| {
        format!("  on the node: {}", attribution::describe(c))
    });
    format!(
        "{name}index {}  time {time}  {:.6} -> {:.6}  ratio {:.3}  p {:.3e}  {:?}{causes}",
        change.index,
        change.mean_before,
        change.mean_after,
        change.ratio,
        change.pvalue,
        change.detector
    )
}

/// One line on how a backend and sync mode scale: the USL fit or why there is none.
pub fn scaling_line(s: &Scaling) -> String {
    let name = format!("scaling {}/{}:", s.backend, s.sync);
    match &s.fit {
        Err(e) => format!("{name} no fit ({e})"),
        Ok(f) => {
            let peak = f.peak_concurrency.map_or_else(
                || "no peak in range".to_owned(),
                |n| {
                    format!(
                        "peak {:.0} lines/s at {n:.1} workers",
                        f.peak_throughput.unwrap_or(f64::NAN)
                    )
                },
            );
            format!(
                "{name} {} sigma {:.4} [{:.4}, {:.4}], kappa {:.5} [{:.5}, {:.5}], lambda {:.0} lines/s, r2 {:.3}, {peak}",
                f.model,
                f.sigma.value,
                f.sigma.lower,
                f.sigma.upper,
                f.kappa.value,
                f.kappa.lower,
                f.kappa.upper,
                f.lambda.value,
                f.r_squared
            )
        }
    }
}

/// Writes the scaling of a backend and sync mode as one JSON line, `"kind": "fit"`: the fit's
/// keys as `fit --json` prints them, or `"error"`.
pub fn scaling_json_line(out: &mut impl Write, s: &Scaling) -> io::Result<()> {
    let mut value = match &s.fit {
        Ok(f) => fit_json(f),
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    };
    value["kind"] = "fit".into();
    value["backend"] = s.backend.as_str().into();
    value["sync"] = s.sync.as_str().into();
    serde_json::to_writer(&mut *out, &value)?;
    writeln!(out)
}

/// A fit as a flat JSON object: `sigma`, `sigma_lower`, `sigma_upper`, likewise `kappa` and
/// `lambda`, `r_squared`, `peak_concurrency`, `peak_throughput`, `model`, `warnings`.
pub fn fit_json(fit: &Fit) -> serde_json::Value {
    let mut value = serde_json::json!({
        "model": fit.model,
        "r_squared": fit.r_squared,
        "peak_concurrency": fit.peak_concurrency,
        "peak_throughput": fit.peak_throughput,
        "warnings": fit.warnings,
    });
    for (name, p) in [
        ("sigma", fit.sigma),
        ("kappa", fit.kappa),
        ("lambda", fit.lambda),
    ] {
        value[name] = p.value.into();
        value[format!("{name}_lower")] = p.lower.into();
        value[format!("{name}_upper")] = p.upper.into();
    }
    value
}

/// The cells of one row for `spec`: its summary `point` and, for the output columns and the
/// status, its `latest` run; dashes and "not run yet" without them.
pub fn row(spec: &Spec, point: Option<&Point>, latest: Option<&RunRecord>) -> Vec<String> {
    let dash = || "-".to_owned();
    let mut cells = vec![
        spec.backend.to_string(),
        spec.sync.to_string(),
        spec.workers.to_string(),
    ];
    match point {
        Some(p) => cells.extend([
            p.runs.to_string(),
            p.median_seconds.map_or_else(dash, seconds),
            p.median_interval
                .map_or_else(dash, |i| format!("±{}", seconds((i.upper - i.lower) / 2.0))),
            p.cv.map_or_else(dash, |cv| format!("{:.1}%", cv * 100.0)),
            p.median_seconds
                .filter(|m| *m > 0.0)
                .map_or_else(dash, |m| format!("{:.0}", spec.lines as f64 / m)),
            p.speedup.map_or_else(dash, |s| {
                format!("{:.2}x ±{:.2}", s.value, (s.upper - s.lower) / 2.0)
            }),
        ]),
        None => cells.extend(std::iter::repeat_n(dash(), 6)),
    }
    match latest.and_then(|r| r.measurement.as_ref()) {
        Some(m) => {
            let o = &m.output;
            cells.extend([
                o.disorder.to_string(),
                o.duplicates.to_string(),
                o.missing.to_string(),
                o.torn_records.to_string(),
                o.cpus_used.to_string(),
                if o.threads_min == o.threads_max {
                    o.threads_min.to_string()
                } else {
                    format!("{}-{}", o.threads_min, o.threads_max)
                },
                o.pids.to_string(),
            ]);
        }
        None => cells.extend(std::iter::repeat_n(dash(), 7)),
    }
    cells.push(status(point, latest));
    cells
}

/// A duration in seconds: milliseconds above 1 s, four significant digits below, so that
/// short runs do not print as 0.000.
fn seconds(s: f64) -> String {
    if s >= 1.0 || s <= 0.0 || !s.is_finite() {
        format!("{s:.3}")
    } else {
        let decimals = (3 - s.log10().floor() as i32).clamp(4, 9) as usize;
        format!("{s:.decimals$}")
    }
}

/// "ok", or what went wrong, and the marks that qualify the numbers.
fn status(point: Option<&Point>, latest: Option<&RunRecord>) -> String {
    let mut words = Vec::new();
    match latest {
        None => words.push("not run yet".to_owned()),
        Some(RunRecord {
            failure: Some(f), ..
        }) => words.push(format!("FAILED ({}): {}", f.reason, f.message)),
        Some(_) => words.push("ok".to_owned()),
    }
    if let Some(p) = point {
        if p.failed_runs > 0 {
            words.push(format!("{} failed", p.failed_runs));
        }
        if p.noisy {
            words.push("NOISY".to_owned());
        }
        if p.throttled_runs > 0 {
            words.push(format!("THROTTLED x{}", p.throttled_runs));
        }
        if p.disturbed_runs > p.throttled_runs {
            words.push(format!("STEAL x{}", p.disturbed_runs - p.throttled_runs));
        }
    }
    words.join(", ")
}

/// Writes `points` (one sweep's summaries) as an aligned table, each with the sweep's newest
/// run of its combination from `runs`.
pub fn table(out: &mut impl Write, points: &[Point], runs: &[RunRecord]) -> io::Result<()> {
    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|p| {
            let latest = runs.iter().rev().find(|r| r.spec == p.spec);
            row(&p.spec, Some(p), latest)
        })
        .collect();
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([HEADER[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut line = |cells: &[String]| -> io::Result<()> {
        let last = cells.len() - 1;
        for (c, cell) in cells.iter().enumerate() {
            if c == last {
                writeln!(out, "{cell}")?;
            } else if c < 2 {
                write!(out, "{cell:<w$}  ", w = widths[c])?;
            } else {
                write!(out, "{cell:>w$}  ", w = widths[c])?;
            }
        }
        Ok(())
    };
    line(&HEADER.map(str::to_owned))?;
    rows.iter().try_for_each(|r| line(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::fixtures::measured;
    use crate::workload::{Backend, SyncMode};

    #[test]
    fn the_warming_line_counts_the_detectors_that_cannot_alert_yet() {
        let mut state = AlertState::default();
        assert!(watch_lines(&state).is_empty());
        let key = ((Backend::Thread, SyncMode::Lock), 2);
        state.warming = vec![Signal::Host, Signal::Scaling(key)];
        assert_eq!(
            watch_lines(&state),
            [
                "Detectors still building their baselines from uncontended sweeps, which cannot \
              alert yet: 2 (the host signal's among them)."
            ]
        );
        state.warming = vec![Signal::Scaling(key)];
        assert!(watch_lines(&state)[0].ends_with("cannot alert yet: 1."));
    }

    #[test]
    fn the_sensitivity_line_counts_the_series_that_find_ten_percent_and_names_the_least() {
        let key = |workers| ((Backend::Thread, SyncMode::Lock), workers);
        let mut sensitivity = BTreeMap::from([
            (Signal::Workload(key(1)), 0.06),
            (Signal::Workload(key(2)), 0.10),
            (Signal::Scaling(key(2)), 0.12),
        ]);
        assert_eq!(
            sensitivity_line(&sensitivity).as_deref(),
            Some(
                "Within 5 usable sweeps the detectors find a slowdown of 10 % on 2 of 3 series; \
                 the least sensitive (thread/lock workers=2 scaling) finds one of 12 %."
            )
        );
        sensitivity.insert(Signal::Workload(key(3)), f64::INFINITY);
        let line = sensitivity_line(&sensitivity).expect("a line");
        assert!(
            line.ends_with("on 2 of 4 series; the least sensitive (thread/lock workers=3 workload) finds none at all."),
            "{line}"
        );
        assert_eq!(sensitivity_line(&BTreeMap::new()), None);
    }

    fn record(workers: u32, seconds: f64) -> RunRecord {
        let mut record = measured(workers, 5.0);
        record
            .measurement
            .as_mut()
            .expect("measured")
            .duration_seconds = seconds;
        record
    }

    #[test]
    fn the_table_shows_the_summary_and_the_marks() {
        let ones: Vec<RunRecord> = [2.0, 2.1, 1.9].map(|s| record(1, s)).to_vec();
        let mut twos: Vec<RunRecord> = [1.0, 1.1, 0.9].map(|s| record(2, s)).to_vec();
        twos[2].throttled = true;
        twos[2].disturbed = true;
        let points = [
            Point::of(ones[0].spec, &ones, &ones, 0.1),
            Point::of(twos[0].spec, &twos, &ones, 0.1),
        ];
        let runs: Vec<RunRecord> = ones.iter().chain(&twos).cloned().collect();
        let mut text = Vec::new();
        table(&mut text, &points, &runs).expect("table");
        let text = String::from_utf8(text).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("backend") && lines[0].ends_with("status"));
        assert!(
            lines[2].contains("1.90x ±") && lines[2].contains("3-4") && lines[2].contains(" 2 "),
            "{text}"
        );
        assert!(lines[2].ends_with("ok, THROTTLED x1"), "{text}");
    }

    #[test]
    fn short_durations_keep_their_digits_and_equal_thread_counts_are_one_number() {
        assert_eq!(seconds(2.5), "2.500");
        assert_eq!(seconds(0.25), "0.2500");
        assert_eq!(seconds(0.0004123), "0.0004123");
        let mut run = record(1, 0.001);
        let output = &mut run.measurement.as_mut().expect("m").output;
        (output.threads_min, output.threads_max) = (3, 3);
        let cells = row(&run.spec, None, Some(&run));
        assert_eq!(
            cells[HEADER
                .iter()
                .position(|h| *h == "threads")
                .expect("threads")],
            "3"
        );
    }

    #[test]
    fn point_lines_are_marked_as_points() {
        let runs = [record(1, 1.0)];
        let point = Point::of(runs[0].spec, &runs, &runs, 0.1);
        let mut out = Vec::new();
        point_json_line(&mut out, &point).expect("json");
        let value: serde_json::Value = serde_json::from_slice(&out).expect("parse");
        assert_eq!(value["kind"], "point");
        assert_eq!(value["median_seconds"], 1.0);
        assert_eq!(value["workers"], 1);
        assert_eq!(value["speedup"]["value"], 1.0);
    }
}
