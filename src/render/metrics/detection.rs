//! What the change-point detectors said of each combination: whether it regressed, by how
//! much, how sure, and since when.

use super::Sources;
use super::family::{self, Family, Gauge};
use crate::results::Detection;

/// The gauges of what the change-point detectors said of a combination.
const GAUGES: &[Gauge<Detection>] = &[
    (
        "copybench_regression_detected",
        "1 if the latest change point of the combination's per-sweep medians is a slowdown beyond [analysis] min_magnitude, shown by the last two sweeps, and no later change undid it.",
        |d| Some(f64::from(d.regression.is_some())),
    ),
    (
        "copybench_regression_ratio",
        "After over before at the latest change point: means for E-divisive's, medians for the tail test's (NaN without one).",
        |d| d.changes.last().map(|c| c.change.ratio),
    ),
    (
        "copybench_regression_pvalue",
        "P-value of the latest change point (NaN without one).",
        |d| d.changes.last().map(|c| c.change.pvalue),
    ),
    (
        "copybench_regression_change_timestamp_seconds",
        "Unix time of the first sweep after the latest change point (NaN without one).",
        |d| d.changes.last().map(|c| c.time),
    ),
];

/// The detection families of every configured combination (no detection yet reads as none).
pub(super) fn collect(sources: &Sources) -> Vec<Family> {
    let none = Detection::default();
    family::per_series(GAUGES, &sources.snapshot.series, |s| {
        Some(s.detection.as_ref().unwrap_or(&none))
    })
}
