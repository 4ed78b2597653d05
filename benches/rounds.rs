//! Round settings compared on real noise: what `bench/rounds-side-by-side.sh` recorded in a
//! folder, one history per setting (`rREPEATS-LINES.sqlite`, the `run` command's sweeps taken
//! in turn, side by side in time) and its CPU and wall seconds (`rREPEATS-LINES.time`).
//!
//! Per setting, over its uncontended sweeps as the node's watch takes them (the library's
//! [`signals`] of a history's sweep and the default [`Settings::contended`]): how much each
//! combination's workload signal varies from one sweep to the next (the median and range over
//! the combinations, and how many vary at most 4 %, what +10 % within 5 sweeps needs), the
//! host reference likewise, and a sweep's CPU seconds (the `run` process and its children,
//! over every run of the `.time` file, and its workers' alone) and wall seconds (medians).
//!
//! `cargo bench --bench rounds -- DIR [--since UNIX] [--until UNIX] [--events EVENTS.CSV]`;
//! `--events`: the recording's `events.csv` (Unix times), whose caused events (a neighbour, a
//! quota) leave out the sweeps that began from a minute before one to a minute after it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use copybench_exporter::analysis::signals::Key;
use copybench_exporter::analysis::stats::median;
use copybench_exporter::analysis::watch::Settings;
use copybench_exporter::record::RunRecord;
use copybench_exporter::results::alerts::{Group, signals};
use copybench_exporter::results::{Results, RunFilter};

mod recording;

/// The widest sweep-to-sweep spread that finds +10 % within 5 sweeps (the README's goal).
const GOAL_SPREAD: f64 = 0.04;

/// What to compare: the folder, the time window and the caused events to leave out.
struct Args {
    dir: PathBuf,
    since: f64,
    until: f64,
    events: Vec<(f64, f64, String)>,
}

fn args() -> Args {
    const USAGE: &str =
        "usage: cargo bench --bench rounds -- DIR [--since UNIX] [--until UNIX] [--events FILE]";
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut parsed = Args {
        dir: PathBuf::new(),
        since: f64::NEG_INFINITY,
        until: f64::INFINITY,
        events: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{arg} needs a value; {USAGE}"))
        };
        match arg.as_str() {
            "--since" => parsed.since = value().parse().expect("--since: Unix seconds"),
            "--until" => parsed.until = value().parse().expect("--until: Unix seconds"),
            "--events" => parsed.events = recording::caused(Path::new(&value())),
            _ if parsed.dir.as_os_str().is_empty() => parsed.dir = arg.into(),
            _ => panic!("unexpected {arg}; {USAGE}"),
        }
    }
    assert!(!parsed.dir.as_os_str().is_empty(), "{USAGE}");
    parsed
}

/// A history's sweeps in the window and outside the caused events, each its runs in the
/// order they ran.
fn sweeps(path: &Path, args: &Args) -> Vec<Vec<RunRecord>> {
    let results = Results::read_only(path).expect("a history");
    let filter = RunFilter {
        probe: Some(false),
        finished_sweeps: true,
        limit: usize::MAX,
        ..RunFilter::default()
    };
    let mut runs = results.runs(&filter).expect("its runs");
    runs.retain(|r| r.sweep_id.is_some());
    runs.sort_by(|a, b| {
        (a.sweep_id, a.started_at)
            .partial_cmp(&(b.sweep_id, b.started_at))
            .expect("times")
    });
    runs.chunk_by(|a, b| a.sweep_id == b.sweep_id)
        .filter(|sweep| {
            let start = sweep
                .iter()
                .map(|r| r.started_at)
                .fold(f64::INFINITY, f64::min);
            (args.since..=args.until).contains(&start)
                && !args
                    .events
                    .iter()
                    .any(|(a, b, _)| (a - 60.0..=b + 60.0).contains(&start))
        })
        .map(<[RunRecord]>::to_vec)
        .collect()
}

/// One setting's line.
fn setting(path: &Path, args: &Args) -> String {
    let settings = Settings::default();
    let name = path.file_stem().and_then(|s| s.to_str()).expect("a name");
    let (repeats, lines) = name[1..].split_once('-').expect("rREPEATS-LINES");
    let (mut series, mut host, mut workers_cpu) = (
        BTreeMap::<Key<Group>, Vec<f64>>::new(),
        Vec::new(),
        Vec::new(),
    );
    let (mut used, mut skipped) = (0, 0);
    for sweep in sweeps(path, args) {
        let signals = signals(&sweep);
        if settings.contended(&signals) {
            skipped += 1;
            continue;
        }
        used += 1;
        workers_cpu.push(
            sweep
                .iter()
                .filter_map(|r| Some(r.measurement.as_ref()?.cpu_seconds))
                .sum::<f64>(),
        );
        for (key, value) in signals.workload {
            series.entry(key).or_default().push(value);
        }
        host.extend(signals.host);
    }
    let spread = |values: &[f64]| {
        let steps: Vec<f64> = values.windows(2).map(|w| w[1] - w[0]).collect();
        (steps.len() >= 5)
            .then(|| recording::step_spread(&steps))
            .flatten()
    };
    let mut spreads: Vec<f64> = series.values().filter_map(|s| spread(s)).collect();
    spreads.sort_by(f64::total_cmp);
    let title = format!("{repeats} rounds of {lines} lines");
    let (Some(first), Some(last)) = (spreads.first(), spreads.last()) else {
        return format!("{title}: {used} uncontended sweeps, too few");
    };
    let times: Vec<Vec<f64>> = std::fs::read_to_string(path.with_extension("time"))
        .expect("its .time file")
        .lines()
        .map(|l| {
            l.split_whitespace()
                .map(|v| v.parse().expect("user sys wall"))
                .collect()
        })
        .collect();
    let column = |f: fn(&[f64]) -> f64| {
        median(&times.iter().map(|t| f(t)).collect::<Vec<_>>()).unwrap_or(f64::NAN)
    };
    format!(
        "{title}: {used} uncontended sweeps ({skipped} contended); the workload signal varies {:.1} % from sweep to sweep (combinations {:.1}-{:.1} %, {} of {} at most {:.0} %); the host reference {:.1} %; a sweep {:.2} CPU-s (its workers {:.2}), {:.2} s",
        100.0 * median(&spreads).unwrap_or(f64::NAN),
        100.0 * first,
        100.0 * last,
        spreads.iter().filter(|s| **s <= GOAL_SPREAD).count(),
        spreads.len(),
        100.0 * GOAL_SPREAD,
        100.0 * spread(&host).unwrap_or(f64::NAN),
        column(|t| t[0] + t[1]),
        median(&workers_cpu).unwrap_or(f64::NAN),
        column(|t| t[2]),
    )
}

fn main() {
    let args = args();
    let mut paths: Vec<(u32, PathBuf)> = std::fs::read_dir(&args.dir)
        .expect("the folder")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?;
            let repeats = name
                .strip_prefix('r')?
                .strip_suffix(".sqlite")?
                .split_once('-')?
                .0
                .parse()
                .ok()?;
            Some((repeats, path))
        })
        .collect();
    paths.sort();
    assert!(
        !paths.is_empty(),
        "no rREPEATS-LINES.sqlite in {}",
        args.dir.display()
    );
    for (_, path) in paths {
        println!("{}", setting(&path, &args));
    }
}
