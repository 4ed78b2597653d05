//! One measured run from start to record: execute the workload, verify its output, and keep
//! the outcome as a [`RunRecord`], the one shape every consumer reads (the `run` command's
//! table and JSON, the metrics, the runs API and the run history). A run never returns an
//! error: a failure is a record with a bounded reason and a message.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::Analysis;
use crate::host::{AllowedCpus, CpuCgroup, Disturbance, Sample};
use crate::verify::{self, Verification};
use crate::workload::{self, RawRun, RunOptions, Spec, WorkloadError};

/// Why a run failed; a closed set, so it can be a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The run exceeded its timeout and its workers were stopped.
    Timeout,
    /// A file or system call failed.
    Io,
    /// A worker died, exited non-zero or broke the protocol.
    WorkerExit,
    /// The output lost or repeated lines, or named impossible CPUs.
    Verify,
    /// The run was stopped by shutdown or Ctrl-C.
    Cancelled,
}

names!(FailureReason, "failure reason",
    Timeout => "timeout",
    Io => "io",
    WorkerExit => "worker_exit",
    Verify => "verify",
    Cancelled => "cancelled"
);

impl From<&WorkloadError> for FailureReason {
    fn from(error: &WorkloadError) -> Self {
        match error {
            WorkloadError::Io { .. } => FailureReason::Io,
            WorkloadError::WorkerExit(_) => FailureReason::WorkerExit,
            WorkloadError::Timeout(_) => FailureReason::Timeout,
            WorkloadError::Cancelled => FailureReason::Cancelled,
        }
    }
}

/// Why a run failed, for people and for the label.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Bounded reason.
    pub reason: FailureReason,
    /// What happened, in words.
    pub message: String,
}

/// What a completed run measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// From first task handed out to last task done.
    pub duration_seconds: f64,
    /// Input lines copied per second.
    pub lines_per_second: f64,
    /// What the output says: order, losses, writers and CPUs.
    #[serde(flatten)]
    pub output: Verification,
    /// Consecutive tasks of one worker on different CPUs, summed over workers.
    pub cpu_migrations: u64,
    /// Voluntary context switches of all workers.
    pub voluntary_ctx_switches: u64,
    /// Involuntary context switches of all workers.
    pub involuntary_ctx_switches: u64,
    /// CPU time of all workers, user and system.
    #[serde(default)]
    pub cpu_seconds: f64,
    /// CPUs the run was allowed to use (its affinity mask); `None` in records from before
    /// it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_allowed: Option<u32>,
    /// Time its workers waited on a run queue for a CPU, summed (schedstat run_delay): what
    /// other tasks, or its own workers beyond the CPUs, took from it. `None` where the kernel
    /// keeps no schedstat, and in records from before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_seconds: Option<f64>,
}

/// The record of one run: its parameters, when it ran, and its outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The parameters the run was made with.
    #[serde(flatten)]
    pub spec: Spec,
    /// The sweep the run belonged to; none for a run made on its own (a probe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_id: Option<i64>,
    /// A sweep's warm-up run: recorded, left out of its summaries.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warmup: bool,
    /// The round of its sweep it ran in (0 the warm-up, then from 1): the runs of one round
    /// ran within seconds of each other, on the host as it was then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<u32>,
    /// A `/probe`'s run: kept in the history, left out of the sweeps' metrics and statistics.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub probe: bool,
    /// Unix time the run started, in seconds (0 when unknown, in imported records).
    #[serde(default)]
    pub started_at: f64,
    /// Unix time the run ended, in seconds.
    pub finished_at: f64,
    /// Whether the run completed and its output verified.
    pub success: bool,
    /// Set when the run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Set when the run completed, even if verification then failed it.
    #[serde(flatten)]
    pub measurement: Option<Measurement>,
    /// What the host did during the run: throttling, steal, pressure.
    #[serde(flatten)]
    pub host: Disturbance,
    /// Throttled by the CPU quota in more than `[analysis] max_throttled_ratio` of its periods.
    #[serde(default)]
    pub throttled: bool,
    /// Throttled, or lost more than `[analysis] max_steal_ratio` of its time to steal: its
    /// duration says more about the host than about the workload, so summaries and detectors
    /// leave it out.
    #[serde(default)]
    pub disturbed: bool,
}

impl RunRecord {
    /// The record of a run that started at `started_at` and failed before it could measure
    /// anything.
    pub fn failed(spec: &Spec, started_at: f64, reason: FailureReason, message: String) -> Self {
        RunRecord::new(spec, started_at, Some(Failure { reason, message }), None)
    }

    fn new(
        spec: &Spec,
        started_at: f64,
        failure: Option<Failure>,
        measurement: Option<Measurement>,
    ) -> Self {
        RunRecord {
            spec: *spec,
            sweep_id: None,
            warmup: false,
            round: None,
            probe: false,
            started_at,
            finished_at: unix_now(),
            success: failure.is_none(),
            failure,
            measurement,
            host: Disturbance::default(),
            throttled: false,
            disturbed: false,
        }
    }

    /// The run's duration, when it measured one.
    pub fn duration_seconds(&self) -> Option<f64> {
        self.measurement.as_ref().map(|m| m.duration_seconds)
    }

    /// Whether the run's duration counts in its sweep's summary: a successful, undisturbed
    /// run that is not a warm-up.
    pub fn counts(&self) -> bool {
        self.success && !self.warmup && !self.disturbed && self.measurement.is_some()
    }

    /// Sets the host's disturbance of the run and marks it against `analysis`'s thresholds;
    /// a run whose process `moved` to another cgroup meanwhile is disturbed, as what a quota
    /// did to it was counted in the cgroup it left.
    fn judge(&mut self, host: Disturbance, host_cpus: u32, moved: bool, analysis: &Analysis) {
        let share = |part: Option<f64>, whole: f64| part.filter(|_| whole > 0.0).map(|p| p / whole);
        let periods = host.total_periods.map(|p| p as f64).unwrap_or(0.0);
        let throttled_share = share(host.throttled_periods.map(|t| t as f64), periods);
        let wall = (self.finished_at - self.started_at) * f64::from(host_cpus.max(1));
        // Steal is counted in clock ticks per CPU: less than a tick per CPU may be no steal
        // at all, which would mark every run shorter than a few ticks.
        let resolution = f64::from(host_cpus.max(1)) * crate::host::tick_seconds();
        let steal_share = share(host.steal_seconds.map(|s| (s - resolution).max(0.0)), wall);
        self.throttled = throttled_share.is_some_and(|s| s > analysis.max_throttled_ratio);
        self.disturbed =
            moved || self.throttled || steal_share.is_some_and(|s| s > analysis.max_steal_ratio);
        self.host = host;
    }
}

/// Runs `spec` once, verifies the output, notes what the host did meanwhile (marking the run
/// against `analysis`'s thresholds) and returns the record.
pub fn measure(spec: &Spec, options: &RunOptions, analysis: &Analysis) -> RunRecord {
    let cgroup = CpuCgroup::current();
    let before = Sample::now(cgroup.as_ref());
    let mut record = run_and_verify(spec, options);
    let after = Sample::now(cgroup.as_ref());
    let moved = CpuCgroup::current() != cgroup;
    record.judge(before.until(&after), after.host_cpus(), moved, analysis);
    record
}

fn run_and_verify(spec: &Spec, options: &RunOptions) -> RunRecord {
    let started_at = unix_now();
    let raw = match workload::execute(spec, options) {
        Ok(raw) => raw,
        Err(error) => {
            let reason = FailureReason::from(&error);
            return RunRecord::failed(spec, started_at, reason, error.to_string());
        }
    };
    let allowed = match AllowedCpus::current() {
        Ok(allowed) => allowed,
        Err(e) => {
            let message = format!("read the CPU affinity mask: {e}");
            return RunRecord::failed(spec, started_at, FailureReason::Io, message);
        }
    };
    let verification = verify::verify(&raw.output, spec.lines, &allowed);
    let problems = verification.problems();
    let failure = (!problems.is_empty()).then(|| Failure {
        reason: FailureReason::Verify,
        message: problems.join("; "),
    });
    RunRecord::new(
        spec,
        started_at,
        failure,
        Some(measurement(spec, &raw, verification, allowed.len())),
    )
}

fn measurement(
    spec: &Spec,
    raw: &RawRun,
    output: verify::Verification,
    cpus_allowed: u32,
) -> Measurement {
    let seconds = raw.duration.as_secs_f64();
    let sum = |f: fn(&workload::WorkerStats) -> u64| raw.workers.iter().map(f).sum();
    Measurement {
        duration_seconds: seconds,
        lines_per_second: if seconds > 0.0 {
            spec.lines as f64 / seconds
        } else {
            0.0
        },
        output,
        cpu_migrations: sum(|w| w.cpu_migrations),
        voluntary_ctx_switches: sum(|w| w.voluntary_ctx_switches),
        involuntary_ctx_switches: sum(|w| w.involuntary_ctx_switches),
        cpu_seconds: sum(|w| w.cpu_ns) as f64 / 1e9,
        cpus_allowed: Some(cpus_allowed),
        wait_seconds: (raw.workers.iter().map(|w| w.wait_ns))
            .sum::<Option<u64>>()
            .map(|ns| ns as f64 / 1e9),
    }
}

/// Seconds since the Unix epoch, as Prometheus timestamps are given.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Records for the unit tests of the modules that read runs.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::RunRecord;
    use crate::workload::{Backend, Spec, SyncMode};

    /// Threads, lock mode, 10 lines with re-reads: the spec of [`measured`].
    pub fn spec(workers: u32) -> Spec {
        Spec {
            backend: Backend::Thread,
            sync: SyncMode::Lock,
            workers,
            lines: 10,
            reread: true,
        }
    }

    /// A successful 0.25 s run of [`spec`]`(workers)` that ended at `finished_at`, with
    /// records on CPUs 0 and 13.
    pub fn measured(workers: u32, finished_at: f64) -> RunRecord {
        serde_json::from_value(serde_json::json!({
            "backend": "thread", "sync": "lock", "workers": workers, "lines": 10, "reread": true,
            "started_at": finished_at - 0.25, "finished_at": finished_at, "success": true,
            "duration_seconds": 0.25, "lines_per_second": 40.0, "disorder": 1, "duplicates": 0,
            "missing": 0, "torn_records": 2, "pids": 1, "threads_min": 3, "threads_max": 4,
            "cpu_records": {"0": 4, "13": 6}, "cpus_used": 2, "cpu_migrations": 2,
            "voluntary_ctx_switches": 7, "involuntary_ctx_switches": 1, "cpus_allowed": 2
        }))
        .expect("record")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Backend, SyncMode};
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    fn run_once(spec: &Spec, options: &RunOptions) -> RunRecord {
        measure(spec, options, &Analysis::default())
    }

    fn options(workdir: &std::path::Path) -> RunOptions {
        RunOptions {
            workdir: workdir.to_owned(),
            worker_exe: "/nonexistent/copybench-worker".into(),
            timeout: Duration::from_secs(60),
            cancel: CancellationToken::new(),
            keep_output: None,
        }
    }

    fn spec(sync: SyncMode, workers: u32) -> Spec {
        Spec {
            backend: Backend::Thread,
            sync,
            workers,
            lines: 300,
            reread: true,
        }
    }

    #[test]
    fn one_thread_writes_every_line_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let record = run_once(&spec(SyncMode::None, 1), &options(dir.path()));
        assert!(record.success, "{:?}", record.failure);
        let m = record.measurement.expect("measurement").output;
        assert_eq!(
            (m.disorder, m.duplicates, m.missing, m.torn_records),
            (0, 0, 0, 0)
        );
        assert_eq!(m.pids, 1);
        assert_eq!(m.cpu_records.values().sum::<u64>(), 300);
        assert!(record.started_at > 0.0 && record.started_at <= record.finished_at);
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("workdir").count(),
            0,
            "scratch removed"
        );
    }

    #[test]
    fn lock_and_ordered_keep_order_with_several_threads() {
        let dir = tempfile::tempdir().expect("tempdir");
        for sync in [SyncMode::Lock, SyncMode::Ordered] {
            let record = run_once(&spec(sync, 3), &options(dir.path()));
            assert!(record.success, "{sync}: {:?}", record.failure);
            let m = record.measurement.expect("measurement").output;
            assert_eq!((m.disorder, m.torn_records), (0, 0), "{sync}");
            assert!(m.threads_min >= 3, "{sync}: {} threads", m.threads_min);
            assert_eq!(m.pids, 1);
        }
    }

    #[test]
    fn without_reread_the_output_is_the_same() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = Spec {
            reread: false,
            ..spec(SyncMode::Ordered, 2)
        };
        let record = run_once(&spec, &options(dir.path()));
        assert!(record.success, "{:?}", record.failure);
        assert_eq!(record.measurement.expect("measurement").output.missing, 0);
    }

    #[test]
    fn cancelled_and_unstartable_runs_are_failures_with_reasons() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = options(dir.path());
        opts.cancel.cancel();
        let record = run_once(
            &Spec {
                lines: 200_000,
                ..spec(SyncMode::Lock, 2)
            },
            &opts,
        );
        assert_eq!(
            record.failure.map(|f| f.reason),
            Some(FailureReason::Cancelled)
        );

        let process = Spec {
            backend: Backend::Process,
            ..spec(SyncMode::None, 2)
        };
        let record = run_once(&process, &options(dir.path()));
        let failure = record.failure.expect("failure");
        assert_eq!(failure.reason, FailureReason::Io);
        assert!(
            failure.message.contains("/nonexistent/copybench-worker"),
            "{}",
            failure.message
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("workdir").count(),
            0,
            "scratch removed"
        );
    }

    #[test]
    fn steal_below_one_tick_per_cpu_does_not_disturb_a_short_run_and_a_move_does() {
        let tick = crate::host::tick_seconds();
        let judged = |seconds: f64, steal: f64, moved: bool| {
            let mut run = fixtures::measured(1, 100.0);
            run.started_at = 100.0 - seconds;
            let host = Disturbance {
                steal_seconds: Some(steal),
                ..Disturbance::default()
            };
            run.judge(host, 2, moved, &Analysis::default());
            run.disturbed
        };
        assert!(!judged(0.008, tick, false), "one tick on a run of 8 ms");
        assert!(!judged(0.008, 2.0 * tick, false), "a tick on each CPU");
        assert!(judged(2.0, 0.5, false), "a quarter of 2 s on 2 CPUs");
        assert!(!judged(2.0, 0.1, false), "2.5 % of the CPU time");
        assert!(
            judged(2.0, 0.0, true),
            "moved to another cgroup during the run"
        );
    }

    #[test]
    fn a_record_round_trips_through_json_with_flat_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let record = run_once(&spec(SyncMode::None, 2), &options(dir.path()));
        let json = serde_json::to_value(&record).expect("json");
        for key in [
            "backend",
            "workers",
            "duration_seconds",
            "cpu_records",
            "cpus_used",
            "torn_records",
            "started_at",
        ] {
            assert!(json.get(key).is_some(), "missing key {key} in {json}");
        }
        let back: RunRecord = serde_json::from_value(json).expect("parse");
        assert_eq!(back, record);
    }
}
