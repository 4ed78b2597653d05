//! The counts since start ([`crate::results::counters`]): runs, failures and the duration
//! histogram of each combination, failures by reason, sweeps, the workload's CPU time and
//! failed writes to the history.

use prometheus::proto::{self, MetricType};

use super::Sources;
use super::family::{Family, SeriesLabels};
use crate::record::FailureReason;
use crate::results::counters::Histogram;

/// The counter families of every configured combination and of the sweeps.
pub(super) fn collect(sources: &Sources) -> Vec<Family> {
    let mut runs = Family::counter("copybench_runs_total", "Runs completed or failed.");
    let mut failures = Family::counter(
        "copybench_run_failures_total",
        "Failed runs of the combination (copybench_run_failure_reasons_total says why).",
    );
    let mut reasons = Family::counter(
        "copybench_run_failure_reasons_total",
        "Failed runs of every combination together, by reason.",
    );
    let mut by_reason = [0u64; FailureReason::ALL.len()];
    let mut durations = Family::new(
        "copybench_run_duration_seconds",
        "Durations of completed runs.",
        MetricType::HISTOGRAM,
    );
    for state in &sources.snapshot.series {
        let labels = SeriesLabels::of(&state.spec);
        let l = labels.with(&[]);
        let tally = &state.tally;
        runs.count(&l, tally.runs as f64);
        let mut failed = 0;
        for (reason, sum) in FailureReason::ALL.iter().zip(&mut by_reason) {
            let count = tally.failures.get(reason).copied().unwrap_or(0);
            failed += count;
            *sum += count;
        }
        failures.count(&l, failed as f64);
        durations.add(&l, |m| m.set_histogram(histogram(&tally.durations)));
    }
    for (reason, count) in FailureReason::ALL.iter().zip(by_reason) {
        reasons.count(&[("reason", reason.as_str())], count as f64);
    }
    let totals = &sources.snapshot.totals;
    let mut sweeps = Family::counter("copybench_sweeps_total", "Scheduled sweeps completed.");
    sweeps.count(&[], totals.sweeps_completed as f64);
    let mut confirmations = Family::counter(
        "copybench_confirmation_sweeps_total",
        "Confirmation sweeps completed: run a confirm_interval after a sweep when a detector suspected a change, of the suspected combinations and the single-worker ones ([analysis] confirm_sweeps).",
    );
    confirmations.count(&[], totals.confirmation_sweeps as f64);
    let mut save_failures = Family::counter(
        "copybench_state_save_failures_total",
        "Writes to the run history (runs, sweeps, retention) that failed; the runs are still counted and exported, and wait in memory (copybench_state_unsaved_runs) to be written.",
    );
    save_failures.count(&[], totals.save_failures as f64);
    let mut cpu = Family::counter(
        "copybench_workload_cpu_seconds_total",
        "CPU time (user and system) the workers of scheduled and confirmation sweeps used (probes are not counted).",
    );
    cpu.count(&[], totals.workload_cpu_seconds);
    let unsaved = Family::single(
        "copybench_state_unsaved_runs",
        "Runs waiting in memory because the run history refused writes (a full disk, a read-only file); they are written when it takes writes again.",
        totals.unsaved_runs as f64,
    );
    let sweep_duration = Family::single(
        "copybench_sweep_duration_seconds",
        "Wall time of the last complete sweep.",
        totals.last_sweep_seconds.unwrap_or(0.0),
    );
    vec![
        runs,
        failures,
        reasons,
        durations,
        sweeps,
        confirmations,
        save_failures,
        cpu,
        unsaved,
        sweep_duration,
    ]
}

fn histogram(h: &Histogram) -> proto::Histogram {
    let mut histogram = proto::Histogram::default();
    histogram.set_sample_count(h.count);
    histogram.set_sample_sum(h.sum);
    let buckets = h
        .bounds
        .iter()
        .zip(&h.cumulative)
        .map(|(bound, count)| {
            let mut bucket = proto::Bucket::default();
            bucket.set_upper_bound(*bound);
            bucket.set_cumulative_count(*count);
            bucket
        })
        .collect();
    histogram.set_bucket(buckets);
    histogram
}
