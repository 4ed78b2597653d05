//! Which runs a sweep makes and when sweeps start: every combination of the configured
//! backends, sync modes and pool sizes, `repeats` times in shuffled rounds, run one after
//! another (never two at once, so runs do not disturb each other's timings), every `interval`
//! plus jitter, stretched to keep within the CPU budget. The sweep loop here serves both the
//! daemon and the `run` command.

use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, RngExt};
use tokio_util::sync::CancellationToken;

use crate::analysis::stats;
use crate::config::{Analysis, MAX_DURATION, Schedule, Workload};
use crate::results::Results;
use crate::run::{self, RunRecord};
use crate::workload::{Backend, RunOptions, Spec, SyncMode};

/// Every combination the workload settings ask for on a host with `usable_cpus` CPUs, in a
/// stable order: backend, sync, workers.
pub fn combinations(workload: &Workload, usable_cpus: u32) -> Vec<Spec> {
    let mut specs = Vec::new();
    for &backend in &workload.backends {
        for &sync in &workload.sync {
            for workers in workload.workers.sizes(usable_cpus) {
                specs.push(Spec {
                    backend,
                    sync,
                    workers,
                    lines: workload.lines,
                    reread: workload.reread,
                });
            }
        }
    }
    specs.sort_by_key(|s| (s.backend, s.sync, s.workers));
    specs.dedup();
    specs
}

/// One run of a sweep's plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planned {
    /// What to run.
    pub spec: Spec,
    /// Whether it is the sweep's warm-up run (recorded, not counted).
    pub warmup: bool,
}

/// The order of a sweep's runs: an optional warm-up run of the first spec, then `repeats`
/// rounds that each run every spec once in a fresh random order. No spec runs twice in a row
/// (when there are two or more), so slow drift of the host spreads over all specs instead of
/// landing on one.
pub fn plan(specs: &[Spec], repeats: u32, warmup: bool, rng: &mut impl Rng) -> Vec<Planned> {
    let mut order: Vec<Planned> = Vec::with_capacity(specs.len() * repeats as usize + 1);
    if warmup && let Some(&spec) = specs.first() {
        order.push(Planned { spec, warmup: true });
    }
    for _ in 0..repeats {
        let mut round = specs.to_vec();
        round.shuffle(rng);
        if round.len() > 1 && order.last().is_some_and(|last| last.spec == round[0]) {
            let other = rng.random_range(1..round.len());
            round.swap(0, other);
        }
        order.extend(round.into_iter().map(|spec| Planned {
            spec,
            warmup: false,
        }));
    }
    order
}

/// The fixed single-thread reference each sweep starts with: the workload's own file
/// operations on a small input, no parallelism. Its time tracks how fast the host is at
/// everything, apart from how the workload scales.
pub const CALIBRATION: Spec = Spec {
    backend: Backend::Thread,
    sync: SyncMode::None,
    workers: 1,
    lines: 1000,
    reread: true,
};

/// Runs of [`CALIBRATION`] per sweep; their median is kept.
pub const CALIBRATION_RUNS: usize = 3;

/// Runs `plan` as one sweep, recording each run in `results` and then handing it to `each`;
/// the sweep starts with [`CALIBRATION_RUNS`] calibration runs. Before each run it takes
/// `hold()` (the daemon's run lock) and keeps it until the run has ended. No further run
/// starts once `stop` is cancelled; a run in progress is stopped by `options.cancel`.
pub fn sweep<G>(
    plan: &[Planned],
    options: &RunOptions,
    analysis: &Analysis,
    results: &Results,
    stop: &CancellationToken,
    mut hold: impl FnMut() -> G,
    mut each: impl FnMut(&RunRecord),
) -> Swept {
    let handle = results.begin_sweep();
    let mut swept = Swept {
        id: handle.id,
        complete: false,
        cpu_seconds: 0.0,
    };
    let mut calibration = Vec::with_capacity(CALIBRATION_RUNS);
    // Calibration measures the host, not the workload: its files are not kept.
    let calibrating = RunOptions {
        keep_output: None,
        ..options.clone()
    };
    for _ in 0..CALIBRATION_RUNS {
        let _held = hold();
        if stop.is_cancelled() {
            return swept;
        }
        let record = run::execute(&CALIBRATION, &calibrating, analysis);
        swept.cpu_seconds += record.measurement.as_ref().map_or(0.0, |m| m.cpu_seconds);
        calibration.extend(record.duration_seconds().filter(|_| record.success));
    }
    results.calibrated(handle, stats::median(&calibration));
    for planned in plan {
        let held = hold();
        if stop.is_cancelled() {
            return swept;
        }
        let mut record = run::execute(&planned.spec, options, analysis);
        drop(held);
        record.sweep_id = handle.id;
        record.warmup = planned.warmup;
        swept.cpu_seconds += record.measurement.as_ref().map_or(0.0, |m| m.cpu_seconds);
        if let Err(e) = results.record(&record) {
            tracing::warn!("cannot keep the run in the history: {e}");
        }
        each(&record);
    }
    results.finish_sweep(handle, swept.cpu_seconds);
    swept.complete = true;
    swept
}

/// How a sweep ended.
#[derive(Clone, Copy, Debug)]
pub struct Swept {
    /// Its id in the history (none if the history could not record it).
    pub id: Option<i64>,
    /// Whether every run was made.
    pub complete: bool,
    /// CPU time its workers used, calibration included.
    pub cpu_seconds: f64,
}

/// The time from one sweep's start to the next: `interval`, stretched so that a sweep that
/// used `cpu_seconds` of CPU stays within `max_duty_cycle`, plus a uniform random offset
/// within +-jitter.
pub fn next_interval(schedule: &Schedule, cpu_seconds: f64) -> Duration {
    let budgeted = (cpu_seconds / schedule.max_duty_cycle).min(MAX_DURATION.as_secs_f64());
    let base = schedule.interval.as_secs_f64().max(budgeted);
    let jitter = schedule.jitter.as_secs_f64();
    let offset = if jitter > 0.0 {
        rand::random_range(-jitter..=jitter)
    } else {
        0.0
    };
    Duration::from_secs_f64((base + offset).max(0.001))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Workers;
    use rand::SeedableRng;

    #[test]
    fn combinations_cover_every_setting_once_in_order() {
        let workload = Workload {
            backends: vec![Backend::Thread, Backend::Process],
            sync: vec![SyncMode::Lock, SyncMode::None],
            workers: Workers::List(vec![3, 1, 3]),
            ..Workload::default()
        };
        let specs = combinations(&workload, 2);
        assert_eq!(specs.len(), 8);
        assert_eq!(
            (specs[0].backend, specs[0].sync, specs[0].workers),
            (Backend::Process, SyncMode::None, 1)
        );
        assert_eq!(
            (specs[7].backend, specs[7].sync, specs[7].workers),
            (Backend::Thread, SyncMode::Lock, 3)
        );
        let auto = Workload {
            workers: Workers::Auto,
            ..workload
        };
        let sizes: Vec<u32> = combinations(&auto, 2)
            .iter()
            .map(|s| s.workers)
            .take(3)
            .collect();
        assert_eq!(
            sizes,
            [1, 2, 3],
            "1 up to the usable CPUs, plus one oversubscribed"
        );
    }

    #[test]
    fn plans_repeat_every_spec_in_shuffled_rounds_never_back_to_back() {
        let specs = combinations(&Workload::default(), 2);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..50 {
            let order = plan(&specs, 5, true, &mut rng);
            assert_eq!(order.len(), specs.len() * 5 + 1);
            assert!(order[0].warmup && order.iter().skip(1).all(|p| !p.warmup));
            for spec in &specs {
                let counted = order
                    .iter()
                    .filter(|p| !p.warmup && p.spec == *spec)
                    .count();
                assert_eq!(counted, 5);
            }
            assert!(
                order.windows(2).all(|w| w[0].spec != w[1].spec),
                "a spec ran twice in a row"
            );
        }
        let order = plan(&specs[..1], 3, false, &mut rng);
        assert_eq!(order.len(), 3, "one spec can only repeat back to back");
    }

    #[test]
    fn the_interval_stretches_to_keep_the_cpu_budget() {
        let schedule = Schedule {
            interval: Duration::from_secs(10),
            jitter: Duration::ZERO,
            max_duty_cycle: 0.02,
            ..Schedule::default()
        };
        assert_eq!(next_interval(&schedule, 0.1), Duration::from_secs(10));
        assert_eq!(next_interval(&schedule, 1.0), Duration::from_secs(50));
        let jittered = Schedule {
            jitter: Duration::from_secs(2),
            ..schedule
        };
        for _ in 0..200 {
            let d = next_interval(&jittered, 0.0).as_secs_f64();
            assert!((8.0..=12.0).contains(&d), "{d}");
        }
    }

    #[test]
    fn a_sweep_calibrates_then_records_every_run_under_one_id_and_stops_when_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let results = Results::open(None, Duration::from_secs(3600), vec![1.0]).expect("results");
        let workload = Workload {
            backends: vec![Backend::Thread],
            sync: vec![SyncMode::None],
            workers: Workers::List(vec![1, 2]),
            lines: 50,
            ..Workload::default()
        };
        let order = plan(&combinations(&workload, 2), 2, true, &mut rand::rng());
        let options = RunOptions {
            workdir: dir.path().to_owned(),
            worker_exe: "/nonexistent".into(),
            timeout: Duration::from_secs(60),
            cancel: CancellationToken::new(),
            keep_output: None,
        };
        let stop = CancellationToken::new();
        let analysis = Analysis::default();
        let mut seen = 0;
        let swept = sweep(
            &order,
            &options,
            &analysis,
            &results,
            &stop,
            || (),
            |_| seen += 1,
        );
        assert!(swept.complete && swept.cpu_seconds > 0.0);
        assert_eq!(seen, 5);
        let runs = results.sweep_runs(swept.id.expect("id")).expect("sweep");
        assert_eq!(runs.len(), 5);
        assert!(runs.iter().all(|r| r.success && r.sweep_id == swept.id));
        assert_eq!(runs.iter().filter(|r| r.warmup).count(), 1);
        let snapshot = results.snapshot(&[], 0.1, 1).expect("snapshot");
        assert!(snapshot.calibration_seconds.is_some_and(|s| s > 0.0));

        stop.cancel();
        let swept = sweep(
            &order,
            &options,
            &analysis,
            &results,
            &stop,
            || (),
            |_| seen += 1,
        );
        assert!(!swept.complete);
        assert_eq!(seen, 5, "no run starts after stop");
    }
}
