//! What the runs said: the one model every consumer reads.
//!
//! [`Results`] writes each finished run to the history [`store`] and answers the questions the
//! rest of the exporter asks: the latest run of each configured spec (the cached metrics, the
//! landing page), a filtered history (`/api/v1/runs`), the last sweep (the `run` command's
//! table). It also keeps the counts since start that Prometheus counters report (runs, failures
//! by reason, the duration histogram, sweeps), since those describe this process, not the
//! history. Nothing else keeps a copy of any of it.

pub mod store;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::analysis::changes::{self, Change};
use crate::analysis::stats::{self, Interval};
use crate::analysis::usl;
use crate::run::{FailureReason, RunRecord, unix_now};
use crate::workload::{Backend, Spec, SyncMode};
pub use store::{Store, StoreError};

/// Runs `/api/v1/runs` answers without a `limit`.
pub const DEFAULT_LIMIT: usize = 200;

/// The most runs one answer may hold.
pub const MAX_LIMIT: usize = 10_000;

/// Which runs to read, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct RunFilter {
    /// Only this backend.
    pub backend: Option<Backend>,
    /// Only this sync mode.
    pub sync: Option<SyncMode>,
    /// Only this pool size.
    pub workers: Option<u32>,
    /// Only this input size.
    pub lines: Option<u64>,
    /// Only runs with (or without) re-reads.
    pub reread: Option<bool>,
    /// Only runs that ended at or after this Unix time.
    pub since: Option<f64>,
    /// Only runs of this sweep.
    pub sweep_id: Option<i64>,
    /// Only runs of this sweep or later ones.
    pub from_sweep: Option<i64>,
    /// Only runs of sweeps that ran to the end.
    pub finished_sweeps: bool,
    /// Only successful runs.
    pub success_only: bool,
    /// Only `/probe` runs (true) or only scheduled ones (false).
    pub probe: Option<bool>,
    /// At most this many runs.
    pub limit: usize,
}

impl Default for RunFilter {
    fn default() -> Self {
        RunFilter {
            backend: None,
            sync: None,
            workers: None,
            lines: None,
            reread: None,
            since: None,
            sweep_id: None,
            from_sweep: None,
            finished_sweeps: false,
            success_only: false,
            probe: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

impl RunFilter {
    /// The scheduled runs of exactly `spec` (probes left out).
    pub fn series(spec: &Spec, limit: usize) -> RunFilter {
        RunFilter {
            probe: Some(false),
            backend: Some(spec.backend),
            sync: Some(spec.sync),
            workers: Some(spec.workers),
            lines: Some(spec.lines),
            reread: Some(spec.reread),
            limit,
            ..RunFilter::default()
        }
    }
}

/// Counts of one spec's runs since the process started, as Prometheus counters report them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    /// Runs completed or failed.
    pub runs: u64,
    /// Failed runs by reason.
    pub failures: BTreeMap<FailureReason, u64>,
    /// Completed runs whose duration was at most each bound of [`Snapshot::bounds`].
    pub duration_buckets: Vec<u64>,
    /// Completed runs.
    pub duration_count: u64,
    /// Sum of their durations, in seconds.
    pub duration_sum: f64,
}

/// What is known of one configured spec.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesState {
    /// The spec.
    pub spec: Spec,
    /// Its newest run in the history.
    pub latest: Option<RunRecord>,
    /// When its newest successful run ended.
    pub last_success_at: Option<f64>,
    /// Its runs in the newest finished sweep that ran it, summarised.
    pub point: Option<Point>,
    /// What the change-point detectors said after its latest sweep.
    pub detection: Option<Detection>,
    /// Its counts since start.
    pub tally: Tally,
}

/// A change in a combination's per-sweep medians, placed in time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimedChange {
    /// The combination.
    #[serde(flatten)]
    pub spec: Spec,
    /// The change.
    #[serde(flatten)]
    pub change: Change,
    /// The first sweep after the change.
    pub sweep_id: i64,
    /// When the combination's first run in that sweep started, Unix seconds.
    pub time: f64,
}

/// What the change-point detectors said of one combination after its latest sweep.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Detection {
    /// Every change in its recent history, oldest first.
    pub changes: Vec<TimedChange>,
    /// The regression, if the latest change is a slowdown beyond the minimum magnitude that
    /// the sweep before showed too.
    pub regression: Option<TimedChange>,
}

/// One combination's runs in one sweep, summarised: the measurement a sweep makes of it.
/// Only runs that count (successful, undisturbed, not the warm-up) enter the statistics.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    /// The combination.
    #[serde(flatten)]
    pub spec: Spec,
    /// The sweep.
    pub sweep_id: Option<i64>,
    /// Runs that count.
    pub runs: usize,
    /// Runs that failed.
    pub failed_runs: usize,
    /// Runs marked disturbed (throttled by the quota, or stolen from), which the statistics
    /// leave out.
    pub disturbed_runs: usize,
    /// Runs throttled by the CPU quota.
    pub throttled_runs: usize,
    /// Time held back by the quota over the runs (the warm-up aside).
    pub throttled_seconds: f64,
    /// Steal over the runs (the warm-up aside).
    pub steal_seconds: f64,
    /// Median duration.
    pub median_seconds: Option<f64>,
    /// Shortest duration.
    pub min_seconds: Option<f64>,
    /// Median absolute deviation of the durations.
    pub mad_seconds: Option<f64>,
    /// Coefficient of variation of the durations.
    pub cv: Option<f64>,
    /// Confidence interval of the median, from order statistics.
    pub median_interval: Option<Interval>,
    /// Whether the CV is above `[analysis] max_cv`.
    pub noisy: bool,
    /// 1-worker median over this median, with a bootstrap interval.
    pub speedup: Option<Estimate>,
    /// Speedup per worker.
    pub efficiency: Option<Estimate>,
}

/// One sweep's median of one combination, a point of the series change points are found in.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SeriesPoint {
    /// The sweep.
    pub sweep_id: i64,
    /// When its first run of the combination started, Unix seconds.
    pub time: f64,
    /// The median of its counted runs.
    pub median_seconds: f64,
}

/// A value with its confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// The estimate.
    pub value: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

impl Point {
    /// Summarises `runs` (one combination's runs of one sweep) against `one_worker` (the same
    /// sweep's runs of its 1-worker combination), flagging a CV above `max_cv`.
    pub fn of(spec: Spec, runs: &[RunRecord], one_worker: &[RunRecord], max_cv: f64) -> Point {
        let durations = |runs: &[RunRecord]| -> Vec<f64> {
            runs.iter()
                .filter(|r| r.counts())
                .filter_map(RunRecord::duration_seconds)
                .collect()
        };
        let own = durations(runs);
        let base = durations(one_worker);
        let cv = stats::cv(&own);
        let speedup = stats::median(&base)
            .zip(stats::median(&own))
            .filter(|(_, own)| *own > 0.0)
            .and_then(|(base_median, own_median)| {
                let interval = stats::ratio_interval(&base, &own)?;
                Some(Estimate {
                    value: base_median / own_median,
                    lower: interval.lower,
                    upper: interval.upper,
                })
            });
        let per_worker = f64::from(spec.workers.max(1));
        let counted = |f: fn(&RunRecord) -> bool| runs.iter().filter(|r| !r.warmup && f(r)).count();
        Point {
            spec,
            sweep_id: runs.first().and_then(|r| r.sweep_id),
            runs: own.len(),
            failed_runs: counted(|r| !r.success),
            disturbed_runs: counted(|r| r.disturbed),
            throttled_runs: counted(|r| r.throttled),
            throttled_seconds: runs
                .iter()
                .filter(|r| !r.warmup)
                .filter_map(|r| r.host.throttled_seconds)
                .sum(),
            steal_seconds: runs
                .iter()
                .filter(|r| !r.warmup)
                .filter_map(|r| r.host.steal_seconds)
                .sum(),
            median_seconds: stats::median(&own),
            min_seconds: own.iter().copied().reduce(f64::min),
            mad_seconds: stats::mad(&own),
            cv,
            median_interval: stats::median_interval(&own),
            noisy: cv.is_some_and(|cv| cv > max_cv),
            efficiency: speedup.map(|s| Estimate {
                value: s.value / per_worker,
                lower: s.lower / per_worker,
                upper: s.upper / per_worker,
            }),
            speedup,
        }
    }
}

/// The state of every configured spec and of the sweeps, as the metrics publish it.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// One entry per configured spec, in the order asked for.
    pub series: Vec<SeriesState>,
    /// Upper bounds of the duration histogram.
    pub bounds: Vec<f64>,
    /// Sweeps completed since start.
    pub sweeps_completed: u64,
    /// Wall time of the last complete sweep.
    pub last_sweep_seconds: Option<f64>,
    /// CPU time the workload's workers used since start, calibration included.
    pub workload_cpu_seconds: f64,
    /// Median time of the newest sweep's calibration runs.
    pub calibration_seconds: Option<f64>,
    /// How each backend and sync mode scale, as `[analysis] fit_sweeps` asks.
    pub scaling: Vec<Scaling>,
    /// Writes to the history that failed since start.
    pub save_failures: u64,
}

/// How one backend and sync mode scale: the Universal Scalability Law fitted to the throughput
/// (lines per second at the median) of their combinations' points, one per pool size.
#[derive(Clone, Debug, PartialEq)]
pub struct Scaling {
    /// The backend.
    pub backend: Backend,
    /// The sync mode.
    pub sync: SyncMode,
    /// The fit, or why none was made.
    pub fit: Result<usl::Fit, usl::FitError>,
}

/// The scaling of every backend and sync mode among `points`, fitted to their medians, in
/// their order.
pub fn scaling<'a>(points: impl IntoIterator<Item = &'a Point>) -> Vec<Scaling> {
    fit(points.into_iter().map(|p| (p.spec, p.median_seconds)))
}

/// The scaling of every backend and sync mode among `durations` (a combination and, when it
/// has one, a duration), in the order first seen.
fn fit(durations: impl IntoIterator<Item = (Spec, Option<f64>)>) -> Vec<Scaling> {
    // (backend, sync) and their (workers, lines per second).
    type Group = ((Backend, SyncMode), Vec<(f64, f64)>);
    let mut groups: Vec<Group> = Vec::new();
    for (spec, seconds) in durations {
        let key = (spec.backend, spec.sync);
        let at = match groups.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                groups.push((key, Vec::new()));
                groups.len() - 1
            }
        };
        if let Some(seconds) = seconds.filter(|s| *s > 0.0) {
            groups[at]
                .1
                .push((f64::from(spec.workers), spec.lines as f64 / seconds));
        }
    }
    groups
        .into_iter()
        .map(|((backend, sync), throughput)| Scaling {
            backend,
            sync,
            fit: usl::fit(&throughput),
        })
        .collect()
}

/// The detections of every combination, as of each one's latest sweep.
type Detections = HashMap<Spec, Detection>;

#[derive(Default)]
struct Counts {
    tallies: HashMap<Spec, Tally>,
    sweeps_completed: u64,
    last_sweep_seconds: Option<f64>,
    workload_cpu_seconds: f64,
    save_failures: u64,
}

/// The results model over the run history.
pub struct Results {
    store: Mutex<Store>,
    counts: Mutex<Counts>,
    detections: Mutex<Detections>,
    bounds: Vec<f64>,
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
    /// Opens the history database at `path` (in memory without one), deletes runs older
    /// than `retention`, and counts durations into histogram buckets with upper `bounds`.
    pub fn open(
        path: Option<&Path>,
        retention: Duration,
        bounds: Vec<f64>,
    ) -> Result<Results, StoreError> {
        Results::new(Store::open(path)?, retention, bounds)
    }

    /// Like [`Results::open`] for the history of a state directory (`history.sqlite`),
    /// importing the JSON state of earlier versions found there once.
    pub fn open_state_dir(
        dir: &Path,
        retention: Duration,
        bounds: Vec<f64>,
    ) -> Result<Results, StoreError> {
        let mut store = Store::open(Some(&dir.join(store::FILE)))?;
        store.import_legacy(&dir.join(store::LEGACY_FILE))?;
        Results::new(store, retention, bounds)
    }

    /// Opens the history database at `path` for reading only: nothing is migrated, pruned or
    /// set aside (`changes --db` on someone else's history).
    pub fn read_only(path: &Path) -> Result<Results, StoreError> {
        Ok(Results {
            store: Mutex::new(Store::open_read_only(path)?),
            counts: Mutex::default(),
            detections: Mutex::default(),
            bounds: Vec::new(),
            retention: Duration::MAX,
        })
    }

    fn new(store: Store, retention: Duration, bounds: Vec<f64>) -> Result<Results, StoreError> {
        let results = Results {
            store: Mutex::new(store),
            counts: Mutex::default(),
            detections: Mutex::default(),
            bounds,
            retention,
        };
        results.prune()?;
        Ok(results)
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
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
        {
            let mut counts = self.counts();
            counts.sweeps_completed += 1;
            counts.last_sweep_seconds = Some(finished - sweep.started);
            counts.workload_cpu_seconds += cpu_seconds;
        }
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
            let mut counts = self.counts();
            let tally = counts.tallies.entry(record.spec).or_default();
            tally.runs += 1;
            if let Some(failure) = &record.failure {
                *tally.failures.entry(failure.reason).or_default() += 1;
            }
            if let Some(seconds) = record.duration_seconds() {
                tally.duration_buckets.resize(self.bounds.len(), 0);
                for (count, bound) in tally.duration_buckets.iter_mut().zip(&self.bounds) {
                    *count += u64::from(seconds <= *bound);
                }
                tally.duration_count += 1;
                tally.duration_sum += seconds;
            }
        }
        let inserted = self.store().insert(record);
        self.saved(inserted)
    }

    /// `result` of a write to the history, counted when it failed.
    fn saved<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.is_err() {
            self.counts().save_failures += 1;
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
            let values: Vec<f64> = series.iter().map(|p| p.median_seconds).collect();
            let timed = |change: Change| {
                let at = series.get(change.index)?;
                Some(TimedChange {
                    spec: *spec,
                    change,
                    sweep_id: at.sweep_id,
                    time: at.time,
                })
            };
            found.insert(
                *spec,
                Detection {
                    changes: changes::changes(&values, settings)
                        .into_iter()
                        .filter_map(timed)
                        .collect(),
                    regression: changes::confirmed_regression(&values, settings, true, true)
                        .and_then(timed),
                },
            );
        }
        *self.detections() = found;
        Ok(())
    }

    /// The change points of the combinations the last [`Results::detect`] covered that match
    /// `filter` (backend, sync, workers, since, limit), newest first.
    pub fn changes(&self, filter: &RunFilter) -> Vec<TimedChange> {
        let mut all: Vec<TimedChange> = self
            .detections()
            .values()
            .flat_map(|d| d.changes.iter().cloned())
            .filter(|c| {
                filter.backend.is_none_or(|b| b == c.spec.backend)
                    && filter.sync.is_none_or(|s| s == c.spec.sync)
                    && filter.workers.is_none_or(|w| w == c.spec.workers)
                    && filter.since.is_none_or(|t| c.time >= t)
            })
            .collect();
        all.sort_by(|a, b| b.time.total_cmp(&a.time));
        all.truncate(filter.limit);
        all
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
            .map(|spec| point(&store, *spec, id, max_cv))
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
        Ok(fit(durations))
    }

    /// The newest run, last success, latest summary and counts of each of `specs`, and their
    /// scaling fitted to the latest sweep (`fit_sweeps` 1) or the runs of the last
    /// `fit_sweeps` sweeps.
    pub fn snapshot(
        &self,
        specs: &[Spec],
        max_cv: f64,
        fit_sweeps: usize,
    ) -> Result<Snapshot, StoreError> {
        let mut series = Vec::with_capacity(specs.len());
        let calibration_seconds;
        {
            let store = self.store();
            calibration_seconds = store.latest_calibration()?;
            for spec in specs {
                let latest = store.runs(&RunFilter::series(spec, 1))?.pop();
                let last_success_at = match &latest {
                    Some(run) if run.success => Some(run.finished_at),
                    _ => store
                        .runs(&RunFilter {
                            success_only: true,
                            ..RunFilter::series(spec, 1)
                        })?
                        .pop()
                        .map(|run| run.finished_at),
                };
                let point = match store.latest_sweep_of(spec)? {
                    Some(id) => Some(point(&store, *spec, id, max_cv)?),
                    None => None,
                };
                series.push(SeriesState {
                    spec: *spec,
                    latest,
                    last_success_at,
                    point,
                    detection: None,
                    tally: Tally::default(),
                });
            }
        }
        let scaling = if fit_sweeps > 1 {
            self.scaling_over(specs, fit_sweeps)?
        } else {
            scaling(series.iter().filter_map(|s| s.point.as_ref()))
        };
        let detections = self.detections();
        for state in &mut series {
            state.detection = detections.get(&state.spec).cloned();
        }
        drop(detections);
        let counts = self.counts();
        for state in &mut series {
            state.tally = counts.tallies.get(&state.spec).cloned().unwrap_or_default();
            state.tally.duration_buckets.resize(self.bounds.len(), 0);
        }
        Ok(Snapshot {
            series,
            bounds: self.bounds.clone(),
            sweeps_completed: counts.sweeps_completed,
            last_sweep_seconds: counts.last_sweep_seconds,
            workload_cpu_seconds: counts.workload_cpu_seconds,
            calibration_seconds,
            scaling,
            save_failures: counts.save_failures,
        })
    }
}

/// The summary of `spec`'s runs in sweep `id`, against the same sweep's 1-worker runs.
fn point(store: &Store, spec: Spec, id: i64, max_cv: f64) -> Result<Point, StoreError> {
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
    use crate::run::fixtures::{measured, spec};

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
        let results = Results::open(None, Duration::from_secs(3600), vec![]).expect("results");
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
        drop(Results::open(Some(&path), Duration::from_secs(3600), vec![]).expect("create"));
        let results = Results::read_only(&path).expect("read only");
        assert!(results.record(&measured(1, 1.0)).is_err());
        let sweep = results.begin_sweep();
        results.finish_sweep(sweep, 0.0);
        // The run, the start of the sweep and the retention at its end.
        assert_eq!(
            results
                .snapshot(&[], 0.1, 1)
                .expect("snapshot")
                .save_failures,
            3
        );
    }

    #[test]
    fn the_fit_over_several_sweeps_uses_every_counted_run_of_them() {
        let results = Results::open(None, Duration::from_secs(3600), vec![]).expect("results");
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
        let results =
            Results::open(None, Duration::from_secs(3600), vec![0.1, 1.0]).expect("results");
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
        assert_eq!(one.tally.duration_buckets, [0, 1]);
        assert_eq!((one.tally.duration_count, one.tally.duration_sum), (1, 0.5));
        assert_eq!(two.tally.duration_buckets, [1, 1]);
        assert_eq!(two.last_success_at, Some(now + 2.0));
        assert_eq!((three.latest.as_ref(), three.tally.runs), (None, 0));
        assert_eq!(three.tally.duration_buckets, [0, 0]);
    }

    #[test]
    fn runs_past_the_retention_period_are_dropped_on_open_and_after_a_sweep() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(store::FILE);
        let day = 24.0 * 3600.0;
        let retention = Duration::from_secs(7 * 24 * 3600);
        {
            let results = Results::open(Some(&path), Duration::MAX, vec![]).expect("open");
            for age_days in [30.0, 8.0, 6.0, 0.0] {
                results
                    .record(&run(1, unix_now() - age_days * day, Some(0.1)))
                    .expect("record");
            }
        }
        let results = Results::open(Some(&path), retention, vec![]).expect("reopen");
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
                .sweeps_completed,
            1
        );
    }
}
