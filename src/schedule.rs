//! Which runs a sweep makes and when sweeps start: every combination of the configured
//! backends, sync modes and pool sizes, run one after another (never two at once, so runs do
//! not disturb each other's timings), every `interval` plus jitter. The sweep loop here serves
//! both the daemon and the `run` command.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{Schedule, Workload};
use crate::results::Results;
use crate::run::{self, RunRecord};
use crate::workload::{RunOptions, Spec};

/// Every combination the workload settings ask for, in a stable order: backend, sync, workers.
pub fn combinations(workload: &Workload) -> Vec<Spec> {
    let mut specs = Vec::new();
    for &backend in &workload.backends {
        for &sync in &workload.sync {
            for &workers in &workload.workers {
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

/// Runs `specs` in order as one sweep, recording each run in `results` and then handing it to
/// `each`. Before each run it takes `hold()` (the daemon's run lock) and keeps it until the
/// run has ended. No further run starts once `stop` is cancelled; a run in progress is stopped
/// by `options.cancel`.
pub fn sweep<G>(
    specs: &[Spec],
    options: &RunOptions,
    results: &Results,
    stop: &CancellationToken,
    mut hold: impl FnMut() -> G,
    mut each: impl FnMut(&RunRecord),
) -> Swept {
    let handle = results.begin_sweep();
    for spec in specs {
        let held = hold();
        if stop.is_cancelled() {
            return Swept {
                id: handle.id,
                complete: false,
            };
        }
        let mut record = run::execute(spec, options);
        drop(held);
        record.sweep_id = handle.id;
        if let Err(e) = results.record(&record) {
            tracing::warn!("cannot keep the run in the history: {e}");
        }
        each(&record);
    }
    results.finish_sweep(handle);
    Swept {
        id: handle.id,
        complete: true,
    }
}

/// How a sweep ended.
#[derive(Clone, Copy, Debug)]
pub struct Swept {
    /// Its id in the history (none if the history could not record it).
    pub id: Option<i64>,
    /// Whether every run was made.
    pub complete: bool,
}

/// The interval plus a uniform random offset within +-jitter.
pub fn jittered(schedule: &Schedule) -> Duration {
    let jitter = schedule.jitter.as_secs_f64();
    let offset = if jitter > 0.0 {
        rand::random_range(-jitter..=jitter)
    } else {
        0.0
    };
    Duration::from_secs_f64((schedule.interval.as_secs_f64() + offset).max(0.001))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Backend, SyncMode};

    #[test]
    fn combinations_cover_every_setting_once_in_order() {
        let workload = Workload {
            backends: vec![Backend::Thread, Backend::Process],
            sync: vec![SyncMode::Lock, SyncMode::None],
            workers: vec![3, 1, 3],
            ..Workload::default()
        };
        let specs = combinations(&workload);
        assert_eq!(specs.len(), 8);
        assert_eq!(
            (specs[0].backend, specs[0].sync, specs[0].workers),
            (Backend::Process, SyncMode::None, 1)
        );
        assert_eq!(
            (specs[7].backend, specs[7].sync, specs[7].workers),
            (Backend::Thread, SyncMode::Lock, 3)
        );
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let mut schedule = Schedule {
            interval: Duration::from_secs(10),
            jitter: Duration::from_secs(2),
            ..Schedule::default()
        };
        for _ in 0..200 {
            let d = jittered(&schedule).as_secs_f64();
            assert!((8.0..=12.0).contains(&d), "{d}");
        }
        schedule.jitter = Duration::ZERO;
        assert_eq!(jittered(&schedule), Duration::from_secs(10));
    }

    #[test]
    fn a_sweep_records_every_run_under_one_id_and_stops_when_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let results = Results::open(None, Duration::from_secs(3600), vec![1.0]).expect("results");
        let specs = combinations(&Workload {
            backends: vec![Backend::Thread],
            sync: vec![SyncMode::None],
            workers: vec![1, 2],
            lines: 50,
            ..Workload::default()
        });
        let options = RunOptions {
            workdir: dir.path().to_owned(),
            worker_exe: "/nonexistent".into(),
            timeout: Duration::from_secs(60),
            cancel: CancellationToken::new(),
        };
        let stop = CancellationToken::new();
        let mut seen = 0;
        let swept = sweep(&specs, &options, &results, &stop, || (), |_| seen += 1);
        assert!(swept.complete);
        assert_eq!(seen, 2);
        let last = results.sweep_runs(swept.id.expect("id")).expect("sweep");
        assert_eq!(last.len(), 2);
        assert!(last.iter().all(|r| r.success && r.sweep_id.is_some()));
        assert_eq!(last[0].sweep_id, last[1].sweep_id);
        assert_eq!(
            last.iter().map(|r| r.spec.workers).collect::<Vec<_>>(),
            [1, 2]
        );

        stop.cancel();
        let swept = sweep(&specs, &options, &results, &stop, || (), |_| seen += 1);
        assert!(!swept.complete);
        assert_eq!(seen, 2, "no run starts after stop");
    }
}
