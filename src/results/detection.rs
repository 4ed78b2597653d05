//! What the change-point detectors said of each combination, placed in time: the changes in
//! its recent per-sweep medians and whether the latest is a regression.

use serde::Serialize;

use super::RunFilter;
use crate::analysis::attribution::Cause;
use crate::analysis::changes::{self, Change};
use crate::workload::Spec;

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
    /// What changed on the node around it, most likely first; empty when nothing did.
    pub causes: Vec<Cause>,
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

impl Detection {
    /// What the detectors with `settings` say of `spec`'s per-sweep medians `series`.
    pub fn of(spec: Spec, series: &[SeriesPoint], settings: &changes::Settings) -> Detection {
        let values: Vec<f64> = series.iter().map(|p| p.median_seconds).collect();
        let timed = |change: Change| {
            let at = series.get(change.index)?;
            Some(TimedChange {
                spec,
                change,
                sweep_id: at.sweep_id,
                time: at.time,
                causes: Vec::new(),
            })
        };
        Detection {
            changes: changes::changes(&values, settings)
                .into_iter()
                .filter_map(timed)
                .collect(),
            regression: changes::confirmed_regression(&values, settings, true, true)
                .and_then(timed),
        }
    }
}

/// The change points of `detections` that match `filter` (backend, sync, workers, since,
/// probe, limit), newest first. Change points are found in scheduled sweeps only, so
/// `probe = true` matches none.
pub fn matching<'a>(
    detections: impl IntoIterator<Item = &'a Detection>,
    filter: &RunFilter,
) -> Vec<TimedChange> {
    if filter.probe == Some(true) {
        return Vec::new();
    }
    let mut all: Vec<TimedChange> = detections
        .into_iter()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::fixtures::spec;

    #[test]
    fn change_points_come_from_scheduled_sweeps_only() {
        let series: Vec<SeriesPoint> = (0..40)
            .map(|i| SeriesPoint {
                sweep_id: i,
                time: i as f64,
                median_seconds: if i < 20 { 1.0 } else { 2.0 } + (i % 3) as f64 * 0.01,
            })
            .collect();
        let settings = changes::Settings::new(20, 0.001, 0.05);
        let detection = Detection::of(spec(1), &series, &settings);
        assert!(!detection.changes.is_empty(), "{detection:?}");
        let all = RunFilter::default();
        assert_eq!(matching([&detection], &all).len(), detection.changes.len());
        let scheduled = RunFilter {
            probe: Some(false),
            ..RunFilter::default()
        };
        assert_eq!(
            matching([&detection], &scheduled).len(),
            detection.changes.len()
        );
        let probes = RunFilter {
            probe: Some(true),
            ..RunFilter::default()
        };
        assert!(matching([&detection], &probes).is_empty());
    }
}
