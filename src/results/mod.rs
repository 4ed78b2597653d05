//! What the runs said: the one model every consumer reads.
//!
//! [`Results`] writes each finished run to the history [`store`] and answers the questions the
//! rest of the exporter asks: the latest run of each configured spec (the cached metrics, the
//! landing page, in a [`Snapshot`]), a filtered history (`/api/v1/runs`), the last sweep (the
//! `run` command's table). It keeps the [`counters`] since start and what the change-point
//! detectors said last ([`detection`]); [`point`] summarises a sweep. Nothing else keeps a copy
//! of any of it.

pub mod counters;
pub mod detection;
pub mod filter;
pub mod point;
pub mod snapshot;
pub mod store;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::analysis::changes;
use crate::analysis::stats;
use crate::record::{RunRecord, unix_now};
use crate::workload::Spec;
use counters::Counters;
pub use detection::{Detection, SeriesPoint, TimedChange};
pub use filter::{DEFAULT_LIMIT, MAX_LIMIT, RunFilter};
pub use point::{Estimate, Point, Scaling, scaling};
pub use snapshot::{SeriesState, Snapshot};
pub use store::{Store, StoreError};

/// The detections of every combination, as of each one's latest sweep.
type Detections = HashMap<Spec, Detection>;

/// The results model over the run history.
pub struct Results {
    store: Mutex<Store>,
    counters: Mutex<Counters>,
    detections: Mutex<Detections>,
    retention: Duration,
}

/// A sweep in progress, from [`Results::begin_sweep`].
#[derive(Clone, Copy, Debug)]
pub struct SweepHandle {
    /// Its id in the history, if the history could record it.
    pub id: Option<i64>,
    started: f64,
}

impl Results {
    /// Opens the history database at `path` (in memory without one) and deletes runs older
    /// than `retention`.
    pub fn open(path: Option<&Path>, retention: Duration) -> Result<Results, StoreError> {
        Results::new(Store::open(path)?, retention)
    }

    /// Like [`Results::open`] for the history of a state directory (`history.sqlite`),
    /// importing the JSON state of earlier versions found there once.
    pub fn open_state_dir(dir: &Path, retention: Duration) -> Result<Results, StoreError> {
        Results::new(Store::open_state_dir(dir)?, retention)
    }

    /// Opens the history database at `path` for reading only: nothing is migrated, pruned or
    /// set aside (`changes --db` on someone else's history).
    pub fn read_only(path: &Path) -> Result<Results, StoreError> {
        Ok(Results {
            store: Mutex::new(Store::open_read_only(path)?),
            counters: Mutex::default(),
            detections: Mutex::default(),
            retention: Duration::MAX,
        })
    }

    fn new(store: Store, retention: Duration) -> Result<Results, StoreError> {
        let results = Results {
            store: Mutex::new(store),
            counters: Mutex::default(),
            detections: Mutex::default(),
            retention,
        };
        results.prune()?;
        Ok(results)
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn counters(&self) -> MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn prune(&self) -> Result<(), StoreError> {
        let cutoff = SystemTime::now()
            .checked_sub(self.retention)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0.0, |d| d.as_secs_f64());
        let deleted = self.saved(self.store().prune(cutoff))?;
        if deleted > 0 {
            tracing::info!(deleted, "deleted runs older than the retention period");
        }
        Ok(())
    }

    /// Starts a sweep. Without a working history the sweep still runs, unrecorded as a sweep.
    pub fn begin_sweep(&self) -> SweepHandle {
        let started = unix_now();
        let id = self
            .saved(self.store().begin_sweep(started))
            .inspect_err(|e| tracing::warn!("cannot record the start of a sweep: {e}"))
            .ok();
        SweepHandle { id, started }
    }

    /// Keeps the median time of a sweep's calibration runs (none if they all failed).
    pub fn calibrated(&self, sweep: SweepHandle, seconds: Option<f64>) {
        if let (Some(id), Some(seconds)) = (sweep.id, seconds)
            && let Err(e) = self.saved(self.store().calibrate_sweep(id, seconds))
        {
            tracing::warn!("cannot keep the calibration of sweep {id}: {e}");
        }
    }

    /// Ends a sweep that ran to completion, whose workers used `cpu_seconds`, and applies the
    /// retention period.
    pub fn finish_sweep(&self, sweep: SweepHandle, cpu_seconds: f64) {
        let finished = unix_now();
        self.counters().sweep(finished - sweep.started, cpu_seconds);
        if let Some(id) = sweep.id
            && let Err(e) = self.saved(self.store().finish_sweep(id, finished, cpu_seconds))
        {
            tracing::warn!("cannot record the end of sweep {id}: {e}");
        }
        if let Err(e) = self.prune() {
            tracing::warn!("cannot apply the retention period: {e}");
        }
    }

    /// Counts a finished run and adds it to the history. The counts include it even when the
    /// history cannot be written (the error says why); a probe's run is not counted.
    pub fn record(&self, record: &RunRecord) -> Result<(), StoreError> {
        if !record.probe {
            self.counters().run(record);
        }
        let inserted = self.store().insert(record);
        self.saved(inserted)
    }

    /// `result` of a write to the history, counted when it failed.
    fn saved<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.is_err() {
            self.counters().save_failed();
        }
        result
    }

    /// Runs that match `filter`, newest first.
    pub fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        self.store().runs(filter)
    }

    /// The runs of sweep `id`, in the order they ran.
    pub fn sweep_runs(&self, id: i64) -> Result<Vec<RunRecord>, StoreError> {
        let mut runs = self.runs(&RunFilter {
            sweep_id: Some(id),
            limit: usize::MAX,
            ..RunFilter::default()
        })?;
        runs.reverse();
        Ok(runs)
    }

    /// Every combination the history holds runs of.
    pub fn specs(&self) -> Result<Vec<Spec>, StoreError> {
        self.store().specs()
    }

    /// The per-sweep medians of `spec` (its counted runs only: successful, undisturbed, not
    /// warm-ups), oldest first, the last `limit` sweeps that have any.
    pub fn series(&self, spec: &Spec, limit: usize) -> Result<Vec<SeriesPoint>, StoreError> {
        let mut runs = {
            let store = self.store();
            let from_sweep = store.nth_latest_sweep(spec, limit)?;
            store.runs(&RunFilter {
                from_sweep,
                finished_sweeps: true,
                ..RunFilter::series(spec, usize::MAX)
            })?
        };
        // Runs of different writers (a daemon and `run --record`) interleave in id order.
        runs.sort_by_key(|r| std::cmp::Reverse(r.sweep_id));
        let mut points: Vec<SeriesPoint> = runs
            .chunk_by(|a, b| a.sweep_id == b.sweep_id)
            .filter_map(|sweep| {
                let sweep_id = sweep[0].sweep_id?;
                let counted: Vec<f64> = sweep
                    .iter()
                    .filter(|r| r.counts())
                    .filter_map(RunRecord::duration_seconds)
                    .collect();
                Some(SeriesPoint {
                    sweep_id,
                    time: sweep
                        .iter()
                        .map(|r| r.started_at)
                        .fold(f64::INFINITY, f64::min),
                    median_seconds: stats::median(&counted)?,
                })
            })
            .take(limit)
            .collect();
        points.reverse();
        Ok(points)
    }

    fn detections(&self) -> MutexGuard<'_, Detections> {
        self.detections.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs the change-point detectors over the last `history` sweeps of each of `specs` and
    /// keeps what they say; the other combinations' detections are dropped.
    pub fn detect(
        &self,
        specs: &[Spec],
        settings: &changes::Settings,
        history: usize,
    ) -> Result<(), StoreError> {
        let mut found = Detections::new();
        for spec in specs {
            let series = self.series(spec, history)?;
            found.insert(*spec, Detection::of(*spec, &series, settings));
        }
        *self.detections() = found;
        Ok(())
    }

    /// The change points of the combinations the last [`Results::detect`] covered that match
    /// `filter` (backend, sync, workers, since, limit), newest first.
    pub fn changes(&self, filter: &RunFilter) -> Vec<TimedChange> {
        detection::matching(self.detections().values(), filter)
    }

    /// Summaries of `specs` in sweep `id` (the `run` command's sweep), in the order given.
    pub fn sweep_points(
        &self,
        id: i64,
        specs: &[Spec],
        max_cv: f64,
    ) -> Result<Vec<Point>, StoreError> {
        let store = self.store();
        specs
            .iter()
            .map(|spec| point_in_sweep(&store, *spec, id, max_cv))
            .collect()
    }

    /// The scaling of `specs`' backends and sync modes fitted to every counted run of each
    /// combination's last `sweeps` finished sweeps.
    pub fn scaling_over(&self, specs: &[Spec], sweeps: usize) -> Result<Vec<Scaling>, StoreError> {
        let store = self.store();
        let mut durations = Vec::new();
        for spec in specs {
            let from_sweep = store.nth_latest_sweep(spec, sweeps)?;
            let runs = store.runs(&RunFilter {
                from_sweep,
                finished_sweeps: true,
                ..RunFilter::series(spec, usize::MAX)
            })?;
            durations.push((*spec, None));
            durations.extend(
                runs.iter()
                    .filter(|r| r.counts())
                    .map(|r| (*spec, r.duration_seconds())),
            );
        }
        Ok(point::fit(durations))
    }
}

/// The summary of `spec`'s runs in sweep `id`, against the same sweep's 1-worker runs.
fn point_in_sweep(store: &Store, spec: Spec, id: i64, max_cv: f64) -> Result<Point, StoreError> {
    let in_sweep = |spec: &Spec| {
        store.runs(&RunFilter {
            sweep_id: Some(id),
            ..RunFilter::series(spec, MAX_LIMIT)
        })
    };
    let runs = in_sweep(&spec)?;
    let one_worker = in_sweep(&Spec { workers: 1, ..spec })?;
    Ok(Point::of(spec, &runs, &one_worker, max_cv))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::usl;
    use crate::record::FailureReason;
    use crate::record::fixtures::{measured, spec};

    fn run(workers: u32, finished_at: f64, seconds: Option<f64>) -> RunRecord {
        let mut record = RunRecord::failed(
            &spec(workers),
            finished_at,
            FailureReason::Verify,
            "lost lines".into(),
        );
        record.finished_at = finished_at;
        if let Some(seconds) = seconds {
            record = measured(workers, finished_at);
            record.measurement.as_mut().expect("m").duration_seconds = seconds;
        }
        record
    }

    #[test]
    fn the_series_has_one_median_per_finished_sweep_only() {
        let results = Results::open(None, Duration::from_secs(3600)).expect("results");
        let add = |finish: bool, seconds: &[f64]| {
            let sweep = results.begin_sweep();
            for (i, s) in seconds.iter().enumerate() {
                let mut run = measured(1, unix_now() + i as f64);
                run.measurement.as_mut().expect("m").duration_seconds = *s;
                run.sweep_id = sweep.id;
                results.record(&run).expect("record");
            }
            if finish {
                results.finish_sweep(sweep, 0.0);
            }
        };
        add(true, &[0.1, 0.3, 0.2]);
        add(true, &[0.5, 0.4, 0.6]);
        add(false, &[9.0, 9.0, 9.0]);
        let medians: Vec<f64> = results
            .series(&spec(1), 10)
            .expect("series")
            .iter()
            .map(|p| p.median_seconds)
            .collect();
        assert_eq!(
            medians,
            [0.2, 0.5],
            "oldest first, the unfinished sweep left out"
        );
        assert_eq!(results.series(&spec(1), 1).expect("series").len(), 1);
    }

    #[test]
    fn scaling_fits_each_backend_and_sync_mode_or_says_why_not() {
        let point = |workers: u32, seconds: f64| {
            let mut run = measured(workers, 1.0);
            run.measurement.as_mut().expect("m").duration_seconds = seconds;
            Point::of(run.spec, std::slice::from_ref(&run), &[], 0.1)
        };
        // Throughput 10 lines per 0.1 s per worker at sigma 0.1, kappa 0: Amdahl's law.
        let points: Vec<Point> = (1..=6)
            .map(|n| point(n, 0.1 * (1.0 + 0.1 * f64::from(n - 1)) / f64::from(n)))
            .collect();
        let found = scaling(&points);
        assert_eq!(found.len(), 1);
        let fit = found[0].fit.as_ref().expect("fit");
        assert!((fit.sigma.value - 0.1).abs() < 1e-3, "{fit:?}");
        assert!((fit.lambda.value - 100.0).abs() < 0.5, "{fit:?}");
        let three = scaling(&points[..3]);
        assert_eq!(three[0].fit, Err(usl::FitError::TooFewPoints { found: 3 }));
    }

    #[test]
    fn failed_writes_to_the_history_are_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.sqlite");
        drop(Results::open(Some(&path), Duration::from_secs(3600)).expect("create"));
        let results = Results::read_only(&path).expect("read only");
        assert!(results.record(&measured(1, 1.0)).is_err());
        let sweep = results.begin_sweep();
        results.finish_sweep(sweep, 0.0);
        // The run, the start of the sweep and the retention at its end.
        assert_eq!(
            results
                .snapshot(&[], 0.1, 1)
                .expect("snapshot")
                .totals
                .save_failures,
            3
        );
    }

    #[test]
    fn the_fit_over_several_sweeps_uses_every_counted_run_of_them() {
        let results = Results::open(None, Duration::from_secs(3600)).expect("results");
        let amdahl = |sigma: f64, n: u32| 0.1 * (1.0 + sigma * f64::from(n - 1)) / f64::from(n);
        // Finished sweeps at contention 0.1 and 0.3, then an unfinished one at 0.9.
        for (sigma, finish) in [(0.1, true), (0.3, true), (0.9, false)] {
            let sweep = results.begin_sweep();
            for n in 1..=6 {
                let mut run = run(n, unix_now(), Some(amdahl(sigma, n)));
                run.sweep_id = sweep.id;
                results.record(&run).expect("record");
            }
            if finish {
                results.finish_sweep(sweep, 0.0);
            }
        }
        let specs: Vec<Spec> = (1..=6).map(spec).collect();
        let sigma = |sweeps| {
            let found = results.scaling_over(&specs, sweeps).expect("scaling");
            found[0].fit.as_ref().expect("fit").sigma.value
        };
        assert!(
            (sigma(1) - 0.3).abs() < 1e-3,
            "the latest finished sweep only"
        );
        assert!(
            (0.15..0.25).contains(&sigma(2)),
            "both finished sweeps: {}",
            sigma(2)
        );
        let snapshot = results.snapshot(&specs, 0.1, 2).expect("snapshot");
        assert_eq!(
            snapshot.scaling,
            results.scaling_over(&specs, 2).expect("scaling")
        );
        let latest = results.snapshot(&specs, 0.1, 1).expect("snapshot");
        let medians = latest.scaling[0].fit.as_ref().expect("fit");
        assert!((medians.sigma.value - 0.3).abs() < 1e-3, "{medians:?}");
    }

    #[test]
    fn a_snapshot_has_the_latest_run_last_success_and_counts_of_each_spec() {
        let results = Results::open(None, Duration::from_secs(3600)).expect("results");
        let now = unix_now();
        for record in [
            run(1, now, Some(0.5)),
            run(1, now + 1.0, None),
            run(2, now + 2.0, Some(0.05)),
        ] {
            results.record(&record).expect("record");
        }
        let snapshot = results
            .snapshot(&[spec(1), spec(2), spec(3)], 0.1, 1)
            .expect("snapshot");
        let [one, two, three] = &snapshot.series[..] else {
            panic!("{snapshot:?}")
        };
        assert_eq!(one.latest.as_ref().map(|r| r.success), Some(false));
        assert_eq!(one.last_success_at, Some(now));
        assert_eq!(one.tally.runs, 2);
        assert_eq!(one.tally.failures.get(&FailureReason::Verify), Some(&1));
        assert_eq!(
            (one.tally.durations.count, one.tally.durations.sum),
            (1, 0.5)
        );
        assert_eq!(two.tally.durations.count, 1);
        assert_eq!(two.last_success_at, Some(now + 2.0));
        assert_eq!((three.latest.as_ref(), three.tally.runs), (None, 0));
        assert_eq!(three.tally.durations.count, 0);
    }

    #[test]
    fn runs_past_the_retention_period_are_dropped_on_open_and_after_a_sweep() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(store::FILE);
        let day = 24.0 * 3600.0;
        let retention = Duration::from_secs(7 * 24 * 3600);
        {
            let results = Results::open(Some(&path), Duration::MAX).expect("open");
            for age_days in [30.0, 8.0, 6.0, 0.0] {
                results
                    .record(&run(1, unix_now() - age_days * day, Some(0.1)))
                    .expect("record");
            }
        }
        let results = Results::open(Some(&path), retention).expect("reopen");
        let everything = RunFilter {
            limit: MAX_LIMIT,
            ..RunFilter::default()
        };
        assert_eq!(results.runs(&everything).expect("runs").len(), 2);
        results
            .record(&run(1, unix_now() - 10.0 * day, Some(0.1)))
            .expect("a late arrival");
        let sweep = results.begin_sweep();
        results.finish_sweep(sweep, 0.0);
        assert_eq!(results.runs(&everything).expect("runs").len(), 2);
        assert_eq!(
            results
                .snapshot(&[], 0.1, 1)
                .expect("snapshot")
                .totals
                .sweeps_completed,
            1
        );
    }
}
