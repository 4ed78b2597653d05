//! A combination's runs in one sweep, summarised (median, its interval, spread, speedup), and
//! how each backend and sync mode scale over pool sizes: the statistics of a sweep, from the
//! pure functions of [`crate::analysis`].

use serde::Serialize;

use crate::analysis::stats::{self, Interval};
use crate::analysis::usl;
use crate::record::RunRecord;
use crate::workload::{Backend, Spec, SyncMode};

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
pub(super) fn fit(durations: impl IntoIterator<Item = (Spec, Option<f64>)>) -> Vec<Scaling> {
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
