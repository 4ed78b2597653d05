//! What the runs said: the one model every consumer reads.
//!
//! [`Results`] writes each finished run to the history [`store`] and answers the questions the
//! rest of the exporter asks: the latest run of each configured spec (the cached metrics, the
//! landing page, in a [`Snapshot`]), a filtered history (`/api/v1/runs`), the last sweep (the
//! `run` command's table). It keeps the [`counters`] since start, what the change-point
//! detectors said last ([`detection`]) and the node's watch over its sweeps ([`alerts`]);
//! [`point`] summarises a sweep. Writes the history refuses wait in memory and are read with
//! it meanwhile. Nothing else keeps a copy of any of it.

pub mod alerts;
pub mod counters;
pub mod detection;
pub mod filter;
mod history;
pub mod point;
pub mod snapshot;
pub mod store;
mod unsaved;
mod writes;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::analysis::attribution::{self, Cause};
use crate::analysis::{changes, watch};
use crate::workload::Spec;
use alerts::{AlertSpan, AlertState, Alerts};
use counters::Counters;
pub use detection::{Detection, SeriesPoint, TimedChange};
pub use filter::{DEFAULT_LIMIT, MAX_LIMIT, RunFilter};
pub use point::{Estimate, Point, Scaling, scaling};
pub use snapshot::{SeriesState, Snapshot};
pub use store::{Store, StoreError};
pub use unsaved::MAX_UNSAVED;
use unsaved::Unsaved;
pub use writes::SweepHandle;

/// The detections of every combination, as of each one's latest sweep.
type Detections = HashMap<Spec, Detection>;

/// The results model over the run history.
pub struct Results {
    store: Mutex<Store>,
    unsaved: Mutex<Unsaved>,
    counters: Mutex<Counters>,
    detections: Mutex<Detections>,
    alerts: Mutex<Alerts>,
    retention: Duration,
}

/// The latest runs the node's watch is rebuilt from at a daemon's start (about 1,000 sweeps
/// of the default combinations).
const REWATCH_RUNS: usize = 100_000;

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
            unsaved: Mutex::default(),
            counters: Mutex::default(),
            detections: Mutex::default(),
            alerts: Mutex::new(Alerts::new(watch::Settings::default())),
            retention: Duration::MAX,
        })
    }

    fn new(store: Store, retention: Duration) -> Result<Results, StoreError> {
        let results = Results {
            store: Mutex::new(store),
            unsaved: Mutex::default(),
            counters: Mutex::default(),
            detections: Mutex::default(),
            alerts: Mutex::new(Alerts::new(watch::Settings::default())),
            retention,
        };
        results.prune()?;
        Ok(results)
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn unsaved(&self) -> MutexGuard<'_, Unsaved> {
        self.unsaved.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn counters(&self) -> MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn alerts(&self) -> MutexGuard<'_, Alerts> {
        self.alerts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rebuilds the node's watch with `settings` from the latest sweeps of the history, as
    /// if it had watched them (a daemon's start or reload; `run` watches only its own
    /// sweeps).
    pub fn rewatch(&self, settings: watch::Settings) -> Result<(), StoreError> {
        *self.alerts() = alerts::replay(self, settings, REWATCH_RUNS)?;
        Ok(())
    }

    /// Every alert the node's watch raised, in the order raised (the oldest ended ones are
    /// forgotten beyond 10,000).
    pub fn alert_spans(&self) -> Vec<AlertSpan> {
        let spans = self.alerts().spans().to_vec();
        self.with_causes(spans)
    }

    /// `spans`, each with what changed on the node around its start. A history that cannot
    /// be read leaves them unattributed: the alerts still stand.
    pub fn with_causes(&self, spans: Vec<AlertSpan>) -> Vec<AlertSpan> {
        spans
            .into_iter()
            .map(|span| AlertSpan {
                // Every alert of the watch is of a slowdown or of contention.
                causes: self.causes(span.started_at, true).unwrap_or_default(),
                ..span
            })
            .collect()
    }

    /// The signals whose detectors suspect a change that has yet to alert.
    pub fn suspected(&self) -> Vec<watch::Signal<alerts::Group>> {
        self.alerts().suspected()
    }

    /// The settings the node is watched with.
    pub fn watch_settings(&self) -> watch::Settings {
        *self.alerts().settings()
    }

    /// What the node's watch says now.
    pub fn alert_state(&self) -> AlertState {
        let mut state = self.alerts().state();
        state.firing = self.with_causes(std::mem::take(&mut state.firing));
        state
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
        let mut causes: HashMap<i64, Vec<Cause>> = HashMap::new();
        for spec in specs {
            let series = self.series(spec, history)?;
            let mut detection = Detection::of(*spec, &series, settings);
            for change in detection
                .changes
                .iter_mut()
                .chain(&mut detection.regression)
            {
                change.causes = match causes.get(&change.sweep_id) {
                    Some(known) => known.clone(),
                    None => {
                        let named = self.causes(change.time, change.change.ratio > 1.0)?;
                        causes.insert(change.sweep_id, named.clone());
                        named
                    }
                };
            }
            found.insert(*spec, detection);
        }
        *self.detections() = found;
        Ok(())
    }

    /// What changed on the node around `onset` that explains a slowdown (`slower`) or a
    /// speed-up, most likely first, from the history's sweeps either side
    /// ([`attribution::attribute`] with its default window).
    pub fn causes(&self, onset: f64, slower: bool) -> Result<Vec<Cause>, StoreError> {
        let settings = attribution::Settings::default();
        let sweeps = self.store().sweeps_around(onset, settings.window)?;
        Ok(attribution::attribute(&sweeps, onset, slower, &settings))
    }

    /// The change points of the combinations the last [`Results::detect`] covered that match
    /// `filter` (backend, sync, workers, since, limit), newest first.
    pub fn changes(&self, filter: &RunFilter) -> Vec<TimedChange> {
        detection::matching(self.detections().values(), filter)
    }

    /// The scaling of `specs`' backends and sync modes fitted to every counted run of each
    /// combination's last `sweeps` finished sweeps.
    pub fn scaling_over(&self, specs: &[Spec], sweeps: usize) -> Result<Vec<Scaling>, StoreError> {
        let history = self.history();
        let mut durations = Vec::new();
        for spec in specs {
            let runs = history.recent_runs(spec, sweeps)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::usl;
    use crate::host::facts::Facts;
    use crate::record::FailureReason;
    use crate::record::fixtures::{measured, spec};
    use crate::record::{RunRecord, unix_now};

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
            let sweep = results.begin_sweep(&Facts::default());
            for (i, s) in seconds.iter().enumerate() {
                let mut run = measured(1, unix_now() + i as f64);
                run.measurement.as_mut().expect("m").duration_seconds = *s;
                run.sweep_id = sweep.id;
                results.record(&run);
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
    fn refused_writes_are_counted_wait_in_memory_are_read_meanwhile_and_written_later() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.sqlite");
        drop(Results::open(Some(&path), Duration::from_secs(3600)).expect("create"));
        // A history that refuses writes, as a full disk does.
        let results = Results::read_only(&path).expect("read only");
        let sweep = results.begin_sweep(&Facts::default());
        let mut run = measured(1, unix_now());
        run.sweep_id = sweep.id;
        results.record(&run);
        results.finish_sweep(sweep, 0.0);
        let snapshot = results.snapshot(&[spec(1)], 0.1, 1).expect("snapshot");
        // The start of the sweep, then one attempt to write what waits before each of the
        // run and the end; the retention waits.
        assert_eq!(snapshot.totals.save_failures, 3);
        assert_eq!(snapshot.totals.unsaved_runs, 1);
        let state = &snapshot.series[0];
        assert_eq!(
            state.latest.as_ref(),
            Some(&run),
            "the waiting run is the latest"
        );
        assert_eq!(
            state.point.as_ref().map(|p| p.runs),
            Some(1),
            "and its sweep's summary"
        );
        assert_eq!(results.series(&spec(1), 10).expect("series").len(), 1);
        // The history takes writes again: what waited is written, in order, with real ids.
        let writable = Results::open(Some(&path), Duration::from_secs(3600)).expect("writable");
        {
            let mut store = writable.store();
            results.unsaved().flush(&mut store).expect("written");
        }
        let runs = writable
            .runs(&RunFilter::series(&spec(1), 10))
            .expect("runs");
        assert_eq!(runs.len(), 1);
        assert!(
            runs[0].sweep_id.is_some_and(|id| id < 1000),
            "{:?}",
            runs[0].sweep_id
        );
        assert_eq!(writable.series(&spec(1), 10).expect("series").len(), 1);
    }

    #[test]
    fn the_fit_over_several_sweeps_uses_every_counted_run_of_them() {
        let results = Results::open(None, Duration::from_secs(3600)).expect("results");
        let amdahl = |sigma: f64, n: u32| 0.1 * (1.0 + sigma * f64::from(n - 1)) / f64::from(n);
        // Finished sweeps at contention 0.1 and 0.3, then an unfinished one at 0.9.
        for (sigma, finish) in [(0.1, true), (0.3, true), (0.9, false)] {
            let sweep = results.begin_sweep(&Facts::default());
            for n in 1..=6 {
                let mut run = run(n, unix_now(), Some(amdahl(sigma, n)));
                run.sweep_id = sweep.id;
                results.record(&run);
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
            results.record(&record);
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
                results.record(&run(1, unix_now() - age_days * day, Some(0.1)));
            }
        }
        let results = Results::open(Some(&path), retention).expect("reopen");
        let everything = RunFilter {
            limit: MAX_LIMIT,
            ..RunFilter::default()
        };
        assert_eq!(results.runs(&everything).expect("runs").len(), 2);
        results.record(&run(1, unix_now() - 10.0 * day, Some(0.1)));
        let sweep = results.begin_sweep(&Facts::default());
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
