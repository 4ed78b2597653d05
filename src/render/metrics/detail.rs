//! Which families and samples `/metrics` carries at each `[metrics] detail`: basic, what the
//! shipped dashboards and alerts read (the README's series budget), or full.

use super::family::Family;

/// The families only `[metrics] detail = "full"` renders: no shipped dashboard panel or
/// alert reads them. The duration histograms and the other point statistics restate what
/// the median and its interval say, efficiency is speedup over the pool size, the records
/// per CPU of each combination grow with the host's CPUs (the node's total stays), and the
/// intervals of speedup and of the scalability fit, the seconds throttled (whether runs were
/// throttled stays), migrations and the lowest thread count are detail of detail.
pub const FULL_ONLY: &[&str] = &[
    "copybench_run_duration_seconds",
    "copybench_cpu_records",
    "copybench_point_min_seconds",
    "copybench_point_mad_seconds",
    "copybench_point_runs",
    "copybench_point_disturbed_runs",
    "copybench_last_run_lines",
    "copybench_regression_pvalue",
    "copybench_parallel_efficiency_ratio",
    "copybench_parallel_efficiency_lower_ratio",
    "copybench_parallel_efficiency_upper_ratio",
    "copybench_worker_threads_min",
    "copybench_speedup_lower_ratio",
    "copybench_speedup_upper_ratio",
    "copybench_usl_sigma_lower",
    "copybench_usl_sigma_upper",
    "copybench_usl_kappa_lower",
    "copybench_usl_kappa_upper",
    "copybench_point_throttled_seconds",
    "copybench_cpu_migrations",
];

/// The samples basic detail leaves out of families it keeps, by a label's value: those
/// constant by construction (one worker's speedup is 1, one writer makes no disorder or
/// torn record, threads share one pid, a worker process has one thread) and the voluntary
/// context switches.
pub const FULL_ONLY_SAMPLES: &[(&str, &str, &str)] = &[
    ("copybench_speedup_ratio", "workers", "1"),
    ("copybench_disorder_lines", "workers", "1"),
    ("copybench_torn_records", "workers", "1"),
    ("copybench_worker_processes", "backend", "thread"),
    ("copybench_worker_threads_max", "backend", "process"),
    ("copybench_context_switches", "kind", "voluntary"),
];

/// `family` as basic detail carries it (`None`: not at all), or as it is with `full`.
pub fn at(mut family: Family, full: bool) -> Option<Family> {
    if full {
        return Some(family);
    }
    if FULL_ONLY.contains(&family.name()) {
        return None;
    }
    for (name, label, value) in FULL_ONLY_SAMPLES {
        if family.name() == *name {
            family.drop_samples(label, value);
        }
    }
    Some(family)
}
