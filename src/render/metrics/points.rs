//! Each combination's summary in its latest finished sweep: the median with its interval,
//! spread, speedup and efficiency with theirs, and what the host took from its runs.

use super::Sources;
use super::family::{self, Family, Gauge};
use crate::results::Point;

/// The gauges of a combination's summary in its latest finished sweep.
const GAUGES: &[Gauge<Point>] = &[
    (
        "copybench_point_runs",
        "Runs of the combination that count in its latest sweep: successful, undisturbed, not the warm-up.",
        |p| Some(p.runs as f64),
    ),
    (
        "copybench_point_disturbed_runs",
        "Runs of the combination in its latest sweep left out because the host disturbed them (steal or the CPU quota beyond the [analysis] bounds).",
        |p| Some(p.disturbed_runs as f64),
    ),
    (
        "copybench_point_median_seconds",
        "Median duration of the combination's runs in its latest sweep.",
        |p| p.median_seconds,
    ),
    (
        "copybench_point_median_lower_seconds",
        "Lower bound of the order-statistic confidence interval of the median (95 %, or [min, max] with fewer than 6 runs).",
        |p| p.median_interval.map(|i| i.lower),
    ),
    (
        "copybench_point_median_upper_seconds",
        "Upper bound of the order-statistic confidence interval of the median.",
        |p| p.median_interval.map(|i| i.upper),
    ),
    (
        "copybench_point_min_seconds",
        "Shortest duration of the combination's runs in its latest sweep.",
        |p| p.min_seconds,
    ),
    (
        "copybench_point_mad_seconds",
        "Median absolute deviation of the durations in the latest sweep.",
        |p| p.mad_seconds,
    ),
    (
        "copybench_point_cv_ratio",
        "Coefficient of variation of the durations in the latest sweep.",
        |p| p.cv,
    ),
    (
        "copybench_point_noisy",
        "1 if the coefficient of variation is above [analysis] max_cv.",
        |p| Some(f64::from(p.noisy)),
    ),
    (
        "copybench_speedup_ratio",
        "Median 1-worker duration over this combination's median, in its latest sweep.",
        |p| p.speedup.map(|s| s.value),
    ),
    (
        "copybench_speedup_lower_ratio",
        "Lower bound of the 95 % bootstrap interval of the speedup.",
        |p| p.speedup.map(|s| s.lower),
    ),
    (
        "copybench_speedup_upper_ratio",
        "Upper bound of the 95 % bootstrap interval of the speedup.",
        |p| p.speedup.map(|s| s.upper),
    ),
    (
        "copybench_parallel_efficiency_ratio",
        "Speedup per worker.",
        |p| p.efficiency.map(|s| s.value),
    ),
    (
        "copybench_parallel_efficiency_lower_ratio",
        "Lower bound of the 95 % bootstrap interval of the parallel efficiency.",
        |p| p.efficiency.map(|s| s.lower),
    ),
    (
        "copybench_parallel_efficiency_upper_ratio",
        "Upper bound of the 95 % bootstrap interval of the parallel efficiency.",
        |p| p.efficiency.map(|s| s.upper),
    ),
    (
        "copybench_run_throttled",
        "1 if any run of the combination in its latest sweep was throttled by the CPU quota beyond [analysis] max_throttled_ratio.",
        |p| Some(f64::from(p.throttled_runs > 0)),
    ),
    (
        "copybench_point_throttled_seconds",
        "Time the CPU quota held back the combination's runs in its latest sweep.",
        |p| Some(p.throttled_seconds),
    ),
    (
        "copybench_point_steal_seconds",
        "Steal time of the host (all CPUs) during the combination's runs in its latest sweep.",
        |p| Some(p.steal_seconds),
    ),
];

/// The point families of every configured combination (NaN before its first sweep).
pub(super) fn collect(sources: &Sources) -> Vec<Family> {
    family::per_series(GAUGES, &sources.snapshot.series, |s| s.point.as_ref())
}
