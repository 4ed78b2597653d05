//! How well the regression detectors work, on noise with a known answer. As the daemon does,
//! detection runs after every sweep on the series so far (at most the last 200 sweeps).
//!
//! - **Shifts.** A series of 100 steady sweeps, then a sustained slowdown of +5, +10 or +20 %:
//!   the share of series in which a regression is reported within 5 and within 10 sweeps
//!   after the shift, the median delay (sweeps after the shift) and the median location error
//!   (|reported index - true index|).
//! - **False alarms.** Series with no shift: alarms (a regression reported after a sweep in
//!   which none was) per 1,000 sweeps.
//!
//! The noise is synthetic (log-normal, CV 3, 5 and 10 %, independent between sweeps) and real:
//! per-sweep medians recorded on this machine (`tests/fixtures/noise-*.csv`, made with
//! `bench/record-noise.sh`), into which the shifts are injected by scaling the points after a
//! chosen index. Each detector is reported alone (E-divisive, the tail test) and both together.
//!
//! `cargo bench --bench changepoints` (COPYBENCH_BENCH_TRIALS series per case, default 200;
//! COPYBENCH_BENCH_PVALUE and COPYBENCH_BENCH_MAGNITUDE override the detectors' defaults).

use copybench_exporter::analysis::changes::{self, Settings};
use copybench_exporter::cli::table::Table;
use copybench_exporter::config::Analysis;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Steady sweeps before a shift.
const BEFORE: usize = 100;
/// Sweeps watched after a shift.
const AFTER: usize = 10;

/// Which detectors run, and whether a regression must show in two consecutive sweeps.
#[derive(Clone, Copy)]
struct Detectors {
    name: &'static str,
    edivisive: bool,
    tail: bool,
    confirmed: bool,
}

const DETECTORS: [Detectors; 4] = [
    Detectors {
        name: "e-divisive",
        edivisive: true,
        tail: false,
        confirmed: false,
    },
    Detectors {
        name: "tail test",
        edivisive: false,
        tail: true,
        confirmed: false,
    },
    Detectors {
        name: "both",
        edivisive: true,
        tail: true,
        confirmed: false,
    },
    Detectors {
        name: "both, conf.",
        edivisive: true,
        tail: true,
        confirmed: true,
    },
];

/// The regression reported after the sweep that ends `series`, as its index.
fn regression(series: &[f64], settings: &Settings, d: Detectors) -> Option<usize> {
    let start = series.len().saturating_sub(defaults_history());
    let recent = &series[start..];
    let found = if d.confirmed {
        changes::confirmed_regression(recent, settings, d.edivisive, d.tail)
    } else {
        let all = changes::changes_by(recent, settings, d.edivisive, d.tail);
        changes::regression(&all, settings.edivisive.min_magnitude).copied()
    };
    found.map(|c| c.index + start)
}

/// The most recent sweeps the detectors see, as the daemon keeps them.
fn defaults_history() -> usize {
    Analysis::default().history
}

fn lognormal(rng: &mut StdRng, cv: f64) -> f64 {
    let sigma = (1.0 + cv * cv).ln().sqrt();
    let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
    let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (sigma * normal).exp()
}

/// Detection figures for one kind of noise and shift.
#[derive(Default)]
struct Outcome {
    within5: usize,
    within10: usize,
    delays: Vec<f64>,
    errors: Vec<f64>,
    series: usize,
}

impl Outcome {
    fn watch(&mut self, series: &[f64], settings: &Settings, d: Detectors) {
        self.series += 1;
        for seen in 1..=AFTER {
            if let Some(index) = regression(&series[..BEFORE + seen], settings, d) {
                if index + 3 >= BEFORE {
                    self.within5 += usize::from(seen <= 5);
                    self.within10 += 1;
                    self.delays.push(seen as f64);
                    self.errors.push(index.abs_diff(BEFORE) as f64);
                }
                return;
            }
        }
    }

    fn row(&self) -> String {
        let pct = |n: usize| n as f64 / self.series as f64 * 100.0;
        let median = |v: &[f64]| {
            copybench_exporter::analysis::stats::median(v)
                .map_or_else(|| "-".to_owned(), |m| format!("{m:.0}"))
        };
        format!(
            "{:>8.1}% {:>9.1}% {:>8} {:>10}",
            pct(self.within5),
            pct(self.within10),
            median(&self.delays),
            median(&self.errors)
        )
    }
}

/// Alarms per 1,000 sweeps on `series`, which holds no shift.
fn false_alarms(series: &[f64], settings: &Settings, d: Detectors) -> (usize, usize) {
    let (mut alarms, mut sweeps, mut alarmed) = (0, 0, false);
    for end in 30..=series.len() {
        let now = regression(&series[..end], settings, d).is_some();
        alarms += usize::from(now && !alarmed);
        alarmed = now;
        sweeps += 1;
    }
    (alarms, sweeps)
}

fn main() {
    let trials: usize = std::env::var("COPYBENCH_BENCH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let env = |name: &str, default: f64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    // The daemon's defaults, unless overridden.
    let defaults = Analysis::default();
    let settings = Analysis {
        max_pvalue: env("COPYBENCH_BENCH_PVALUE", defaults.max_pvalue),
        min_magnitude: env("COPYBENCH_BENCH_MAGNITUDE", defaults.min_magnitude),
        ..defaults
    }
    .detectors();
    println!(
        "settings: window {}, max p-value {}, min magnitude {}",
        settings.edivisive.window, settings.edivisive.max_pvalue, settings.edivisive.min_magnitude
    );
    let mut rng = StdRng::seed_from_u64(9);
    let real: Vec<(String, Vec<f64>)> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
            .expect("tests/fixtures")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("noise-"))
            })
            .map(|p| {
                let values = Table::read(&p)
                    .and_then(|t| t.numbers("value"))
                    .expect("fixture");
                (
                    p.file_stem()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned(),
                    values,
                )
            })
            .collect();

    println!(
        "detection after a sustained shift at sweep {BEFORE} ({trials} series per synthetic case; real: every start in the fixtures)"
    );
    println!(
        "{:<12} {:<11} {:>6} {:>9} {:>10} {:>8} {:>10}",
        "noise", "detector", "shift", "within 5", "within 10", "delay", "loc. error"
    );
    for cv in [0.03, 0.05, 0.10] {
        let noise: Vec<Vec<f64>> = (0..trials)
            .map(|_| {
                (0..BEFORE + AFTER)
                    .map(|_| lognormal(&mut rng, cv))
                    .collect()
            })
            .collect();
        for shift in [0.05, 0.10, 0.20] {
            for d in DETECTORS {
                let mut outcome = Outcome::default();
                for base in &noise {
                    outcome.watch(&shifted(base, BEFORE, shift), &settings, d);
                }
                println!(
                    "{:<12} {:<11} {:>5.0}% {}",
                    format!("CV {:.0}%", cv * 100.0),
                    d.name,
                    shift * 100.0,
                    outcome.row()
                );
            }
        }
    }
    for (name, values) in &real {
        for shift in [0.05, 0.10, 0.20] {
            for d in DETECTORS {
                let mut outcome = Outcome::default();
                // Every window of the recording, shifted at its 100th sweep.
                for start in (0..values.len().saturating_sub(BEFORE + AFTER)).step_by(5) {
                    let window = &values[start..start + BEFORE + AFTER];
                    outcome.watch(&shifted(window, BEFORE, shift), &settings, d);
                }
                println!(
                    "{:<12} {:<11} {:>5.0}% {}",
                    short(name),
                    d.name,
                    shift * 100.0,
                    outcome.row()
                );
            }
        }
    }

    println!();
    println!("false alarms on series without a shift");
    println!(
        "{:<12} {:<11} {:>8} {:>8} {:>16}",
        "noise", "detector", "sweeps", "alarms", "per 1000 sweeps"
    );
    let long = 1000;
    for cv in [0.03, 0.05, 0.10] {
        let noise: Vec<Vec<f64>> = (0..(trials / 20).max(3))
            .map(|_| (0..long).map(|_| lognormal(&mut rng, cv)).collect())
            .collect();
        for d in DETECTORS {
            let (mut alarms, mut sweeps) = (0, 0);
            for series in &noise {
                let (a, s) = false_alarms(series, &settings, d);
                alarms += a;
                sweeps += s;
            }
            println!(
                "{:<12} {:<11} {sweeps:>8} {alarms:>8} {:>16.2}",
                format!("CV {:.0}%", cv * 100.0),
                d.name,
                alarms as f64 * 1000.0 / sweeps as f64
            );
        }
    }
    for (name, values) in &real {
        for d in DETECTORS {
            let (alarms, sweeps) = false_alarms(values, &settings, d);
            println!(
                "{:<12} {:<11} {sweeps:>8} {alarms:>8} {:>16.2}",
                short(name),
                d.name,
                alarms as f64 * 1000.0 / sweeps as f64
            );
        }
    }
}

/// `series` with every point from `at` on scaled by `1 + shift`.
fn shifted(series: &[f64], at: usize, shift: f64) -> Vec<f64> {
    series
        .iter()
        .enumerate()
        .map(|(i, v)| if i >= at { v * (1.0 + shift) } else { *v })
        .collect()
}

/// A fixture's name without its `noise-` prefix and the sync mode.
fn short(name: &str) -> String {
    name.trim_start_matches("noise-").replace("-none-", "/")
}
