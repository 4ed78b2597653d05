//! Counts since the process started, as Prometheus counters report them: runs, failures by
//! reason and a duration histogram per combination, sweeps, the workload's CPU time and failed
//! writes to the history. They describe this process, not the history, so they live here and
//! nowhere else; the metrics render them from a snapshot.

use std::collections::{BTreeMap, HashMap};

use crate::record::{FailureReason, RunRecord};
use crate::workload::Spec;

/// Durations of one combination's completed runs, counted into buckets.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Upper bounds of the buckets (the `+Inf` bucket is the count).
    pub bounds: Vec<f64>,
    /// Completed runs at most each bound, cumulative.
    pub cumulative: Vec<u64>,
    /// Completed runs.
    pub count: u64,
    /// Sum of their durations, in seconds.
    pub sum: f64,
}

impl Histogram {
    /// An empty histogram with bounds sized for `spec`'s runs: doublings around an estimate of
    /// one run's duration (quadratic in lines when re-reading, linear otherwise), from 1/8 to
    /// 16 times it.
    pub fn for_spec(spec: &Spec) -> Histogram {
        let lines = spec.lines as f64;
        let per_task = if spec.reread {
            lines * 2e-9 + 10e-6
        } else {
            10e-6
        };
        let estimate = (lines * per_task).max(1e-3);
        let bounds: Vec<f64> = (-3..=4).map(|k| estimate * 2f64.powi(k)).collect();
        Histogram {
            cumulative: vec![0; bounds.len()],
            bounds,
            count: 0,
            sum: 0.0,
        }
    }

    fn observe(&mut self, seconds: f64) {
        for (count, bound) in self.cumulative.iter_mut().zip(&self.bounds) {
            *count += u64::from(seconds <= *bound);
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Counts of one combination's scheduled runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Tally {
    /// Runs completed or failed.
    pub runs: u64,
    /// Failed runs by reason.
    pub failures: BTreeMap<FailureReason, u64>,
    /// Durations of completed runs.
    pub durations: Histogram,
}

impl Tally {
    /// No runs of `spec` yet.
    pub fn new(spec: &Spec) -> Tally {
        Tally {
            runs: 0,
            failures: BTreeMap::new(),
            durations: Histogram::for_spec(spec),
        }
    }
}

/// Counts of the sweeps and the history's writes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    /// Scheduled sweeps completed.
    pub sweeps_completed: u64,
    /// Confirmation sweeps completed.
    pub confirmation_sweeps: u64,
    /// Wall time of the last complete sweep.
    pub last_sweep_seconds: Option<f64>,
    /// CPU time the workload's workers used, confirmation sweeps included.
    pub workload_cpu_seconds: f64,
    /// Writes to the history that failed.
    pub save_failures: u64,
    /// Runs waiting in memory for the history to take writes again.
    pub unsaved_runs: u64,
}

/// Every count since start.
#[derive(Default)]
pub struct Counters {
    tallies: HashMap<Spec, Tally>,
    totals: Totals,
}

impl Counters {
    /// Counts a scheduled run.
    pub fn run(&mut self, record: &RunRecord) {
        let tally = self
            .tallies
            .entry(record.spec)
            .or_insert_with(|| Tally::new(&record.spec));
        tally.runs += 1;
        if let Some(failure) = &record.failure {
            *tally.failures.entry(failure.reason).or_default() += 1;
        }
        if let Some(seconds) = record.duration_seconds() {
            tally.durations.observe(seconds);
        }
    }

    /// Counts a complete scheduled sweep that took `seconds` and whose workers used `cpu_seconds`.
    pub fn sweep(&mut self, seconds: f64, cpu_seconds: f64) {
        self.totals.sweeps_completed += 1;
        self.totals.last_sweep_seconds = Some(seconds);
        self.totals.workload_cpu_seconds += cpu_seconds;
    }

    /// Counts a confirmation sweep whose workers used `cpu_seconds`.
    pub fn confirmation(&mut self, cpu_seconds: f64) {
        self.totals.confirmation_sweeps += 1;
        self.totals.workload_cpu_seconds += cpu_seconds;
    }

    /// Counts a failed write to the history.
    pub fn save_failed(&mut self) {
        self.totals.save_failures += 1;
    }

    /// The counts of `spec`.
    pub fn tally(&self, spec: &Spec) -> Tally {
        self.tallies
            .get(spec)
            .cloned()
            .unwrap_or_else(|| Tally::new(spec))
    }

    /// The sweeps' and the history's counts.
    pub fn totals(&self) -> Totals {
        self.totals.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::fixtures::{measured, spec};

    #[test]
    fn buckets_grow_with_the_workload() {
        let small = Histogram::for_spec(&Spec {
            lines: 300,
            ..spec(1)
        });
        let big = Histogram::for_spec(&Spec {
            lines: 10_000,
            ..spec(1)
        });
        assert_eq!(small.bounds.len(), 8);
        assert!(big.bounds[5] > small.bounds[5] * 10.0);
        assert!(small.bounds.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn runs_are_counted_into_their_combination_and_buckets() {
        let mut counters = Counters::default();
        let mut run = measured(1, 1.0);
        let bounds = Histogram::for_spec(&run.spec).bounds;
        run.measurement.as_mut().expect("measured").duration_seconds = bounds[3];
        counters.run(&run);
        let failed =
            crate::record::RunRecord::failed(&run.spec, 2.0, FailureReason::Timeout, "slow".into());
        counters.run(&failed);
        let tally = counters.tally(&run.spec);
        assert_eq!(tally.runs, 2);
        assert_eq!(tally.failures.get(&FailureReason::Timeout), Some(&1));
        assert_eq!(tally.durations.cumulative, [0, 0, 0, 1, 1, 1, 1, 1]);
        assert_eq!((tally.durations.count, tally.durations.sum), (1, bounds[3]));
        assert_eq!(counters.tally(&spec(2)).runs, 0);
    }
}
