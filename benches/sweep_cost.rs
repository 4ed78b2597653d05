//! What a sweep costs the host and how steady its published numbers are, for one run per
//! combination against the default repeats, measured side by side: sweeps of the default
//! combinations alternate between the two settings. For each it reports the sweep's wall
//! time, its workers' CPU time, the CPU per hour at the interval the `[schedule]
//! max_duty_cycle` budget allows, the coefficient of variation of a combination's runs within
//! a sweep, and how much each combination's published median moves from sweep to sweep (the
//! coefficient of variation across sweeps); CVs are medians over the combinations.
//!
//! `cargo bench --bench sweep_cost` (COPYBENCH_BENCH_SWEEPS per setting, default 4;
//! COPYBENCH_BENCH_LINES, default the configuration's).

use std::sync::Arc;
use std::time::{Duration, Instant};

use copybench_exporter::analysis::stats;
use copybench_exporter::config::Config;
use copybench_exporter::host::Capacity;
use copybench_exporter::results::Results;
use copybench_exporter::schedule::{RunSlot, Setup, Sweeper};
use tokio_util::sync::CancellationToken;

/// One setting of repeats and warm-up, and what its sweeps measured.
struct Setting {
    name: String,
    repeats: u32,
    warmup: bool,
    wall: Vec<f64>,
    cpu: Vec<f64>,
    /// Published median of each combination, per sweep.
    medians: Vec<Vec<f64>>,
    /// Coefficient of variation of each combination's runs within each sweep.
    within: Vec<f64>,
}

fn main() {
    let sweeps: usize = env_number("COPYBENCH_BENCH_SWEEPS", 4);
    let mut config = Config::default();
    config.workload.lines =
        env_number("COPYBENCH_BENCH_LINES", config.workload.lines as usize) as u64;
    let workdir = tempfile::tempdir().expect("temporary directory");
    config.workload.workdir = workdir.path().to_owned();
    config.schedule.run_timeout = Duration::from_secs(600);
    let results = Arc::new(Results::open(None, config.state.retention).expect("results"));
    let sweeper = Sweeper::new(
        Arc::clone(&results),
        Arc::new(RunSlot::new().expect("slot")),
    );
    let setup = |repeats: u32, warmup: bool| {
        let mut config = config.clone();
        config.workload.repeats = repeats;
        config.workload.warmup = warmup;
        Setup::new(
            Arc::new(config),
            Capacity::current(),
            env!("CARGO_BIN_EXE_copybench_exporter").into(),
            CancellationToken::new(),
        )
    };
    let specs = setup(1, false).specs;
    let default = &config.workload;
    let mut settings = vec![
        Setting::new("1 run each".to_owned(), 1, false, specs.len()),
        Setting::new(
            format!("{} runs each (default)", default.repeats),
            default.repeats,
            default.warmup,
            specs.len(),
        ),
    ];
    let stop = CancellationToken::new();
    for sweep in 1..=sweeps {
        for setting in &mut settings {
            let setup = setup(setting.repeats, setting.warmup);
            let started = Instant::now();
            let swept = sweeper.sweep(&setup, &stop, |_| {});
            setting.wall.push(started.elapsed().as_secs_f64());
            setting.cpu.push(swept.cpu_seconds);
            let points = results
                .sweep_points(swept.id.expect("sweep id"), &specs, config.analysis.max_cv)
                .expect("points");
            for (i, point) in points.iter().enumerate() {
                setting.medians[i].extend(point.median_seconds);
                setting.within.extend(point.cv);
            }
        }
        eprintln!("round {sweep}/{sweeps} done");
    }

    let s = &config.schedule;
    println!(
        "{} combinations x {} lines, {sweeps} sweeps per setting, alternating; budget {:.0} % of one CPU, interval at least {:?}",
        specs.len(),
        config.workload.lines,
        s.max_duty_cycle * 100.0,
        s.interval
    );
    println!(
        "{:<24} {:>12} {:>12} {:>11} {:>13} {:>14} {:>14}",
        "",
        "sweep wall s",
        "sweep CPU s",
        "interval s",
        "CPU s / hour",
        "CV in a sweep",
        "CV of medians"
    );
    for setting in &settings {
        let cpu = stats::median(&setting.cpu).unwrap_or(f64::NAN);
        let interval = s.interval.as_secs_f64().max(cpu / s.max_duty_cycle);
        let cvs: Vec<f64> = setting
            .medians
            .iter()
            .filter_map(|m| stats::cv(m))
            .collect();
        let within = stats::median(&setting.within)
            .map_or_else(|| "-".to_owned(), |cv| format!("{:.1}%", cv * 100.0));
        println!(
            "{:<24} {:>12.1} {:>12.1} {:>11.0} {:>13.0} {:>14} {:>13.1}%",
            setting.name,
            stats::median(&setting.wall).unwrap_or(f64::NAN),
            cpu,
            interval,
            cpu * 3600.0 / interval,
            within,
            stats::median(&cvs).unwrap_or(f64::NAN) * 100.0
        );
    }
}

impl Setting {
    fn new(name: String, repeats: u32, warmup: bool, combinations: usize) -> Setting {
        Setting {
            name,
            repeats,
            warmup,
            wall: Vec::new(),
            cpu: Vec::new(),
            medians: vec![Vec::new(); combinations],
            within: Vec::new(),
        }
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
