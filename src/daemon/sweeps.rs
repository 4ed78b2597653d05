//! The daemon's schedule: a sweep every interval plus jitter, stretched when the last sweep
//! (and its confirmations) used more CPU than `[schedule] max_duty_cycle` allows; metrics
//! published after every run and change points looked for after every complete sweep;
//! confirmation sweeps a `confirm_interval` apart while the node's watch suspects a change.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Daemon;
use crate::config::Schedule;
use crate::record::RunRecord;
use crate::results::alerts::key_of;
use crate::schedule::{self, Setup, Swept};

/// The interval in force (after the CPU budget stretched it, jitter aside), in seconds.
pub(super) struct Interval(AtomicU64);

impl Interval {
    pub(super) fn new(interval: Duration) -> Interval {
        Interval(AtomicU64::new(interval.as_secs_f64().to_bits()))
    }

    pub(super) fn seconds(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    fn set(&self, interval: Duration) {
        self.0
            .store(interval.as_secs_f64().to_bits(), Ordering::Relaxed);
    }
}

/// What the schedule runs next.
#[derive(Clone, Copy, PartialEq)]
enum Next {
    /// A scheduled sweep.
    Sweep,
    /// The `n`th confirmation (from 1) after the latest scheduled sweep.
    Confirmation(u32),
}

/// The latest scheduled sweep: when it started, its jitter (drawn once), and the CPU time it
/// and its confirmations used, which set when the next one starts.
struct Cycle {
    started: tokio::time::Instant,
    offset: f64,
    cpu_seconds: f64,
}

/// Runs sweeps on the schedule until shutdown begins; while the node's watch suspects a
/// change after one, up to `[analysis] confirm_sweeps` confirmations `confirm_interval`
/// apart, each only if it is expected to end before the next scheduled sweep.
pub(super) async fn schedule(daemon: Arc<Daemon>) {
    let stop = daemon.shutdown.stop.clone();
    let first = &daemon.live.setup().config.schedule;
    let mut next = tokio::time::Instant::now();
    if !first.run_at_start {
        next += schedule::next_interval(first, 0.0, schedule::jitter(first));
    }
    let mut what = Next::Sweep;
    let mut cycle = Cycle {
        started: next,
        offset: 0.0,
        cpu_seconds: 0.0,
    };
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = stop.cancelled() => return,
        }
        if what == Next::Sweep {
            let offset = schedule::jitter(&daemon.live.setup().config.schedule);
            cycle = Cycle {
                started: tokio::time::Instant::now(),
                offset,
                cpu_seconds: 0.0,
            };
        }
        let swept = Arc::clone(&daemon);
        let before = cycle.cpu_seconds;
        let done = tokio::task::spawn_blocking(move || {
            let done = match what {
                Next::Sweep => sweep(&swept),
                Next::Confirmation(_) => confirm(&swept),
            };
            // The interval the sweep and its confirmations so far leave, in the metrics.
            let schedule = &swept.setup().config.schedule;
            swept
                .interval
                .set(budgeted(schedule, before + done.cpu_seconds));
            swept.publish();
            done
        })
        .await
        .unwrap_or_else(|_| {
            tracing::error!("a sweep ended in a panic");
            Done::default()
        });
        if stop.is_cancelled() {
            return;
        }
        let setup = daemon.live.setup();
        let (schedule, analysis) = (&setup.config.schedule, &setup.config.analysis);
        cycle.cpu_seconds += done.cpu_seconds;
        let regular =
            cycle.started + schedule::next_interval(schedule, cycle.cpu_seconds, cycle.offset);
        let confirmation = match what {
            Next::Sweep => 1,
            Next::Confirmation(n) => n + 1,
        };
        let now = tokio::time::Instant::now();
        (what, next) = match done.confirmation {
            Some(takes)
                if confirmation <= analysis.confirm_sweeps
                    && now + analysis.confirm_interval + takes < regular =>
            {
                (
                    Next::Confirmation(confirmation),
                    now + analysis.confirm_interval,
                )
            }
            _ => (Next::Sweep, regular.max(now)),
        };
    }
}

/// What a sweep (scheduled or confirmation) did: the CPU time its workers used and, if it
/// completed and the node's watch suspects a change after it, how long a confirmation would
/// take at its pace.
#[derive(Clone, Copy, Default)]
struct Done {
    cpu_seconds: f64,
    confirmation: Option<Duration>,
}

impl Done {
    /// The account of `swept`, a sweep of `setup` that took `elapsed`.
    fn of(daemon: &Daemon, setup: &Setup, swept: &Swept, elapsed: Duration) -> Done {
        let workload = &setup.config.workload;
        let runs = setup.specs.len() * workload.repeats as usize + usize::from(workload.warmup);
        let per_run = elapsed / u32::try_from(runs.max(1)).unwrap_or(u32::MAX);
        let confirmation = confirming(daemon)
            .filter(|_| swept.complete)
            .map(|(next, _)| {
                let runs = next.specs.len() * next.config.workload.repeats as usize;
                per_run * u32::try_from(runs).unwrap_or(u32::MAX)
            });
        Done {
            cpu_seconds: swept.cpu_seconds,
            confirmation,
        }
    }
}

/// Runs one sweep of the setup in force, publishing the metrics after each run.
fn sweep(daemon: &Daemon) -> Done {
    let setup = daemon.setup();
    let started = Instant::now();
    let swept = run(daemon, &setup);
    if swept.complete {
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            cpu_seconds = swept.cpu_seconds,
            "sweep done"
        );
    }
    Done::of(daemon, &setup, &swept, started.elapsed())
}

/// Runs one sweep of `setup`, publishing the metrics after each run and looking for changes
/// once it is complete.
fn run(daemon: &Daemon, setup: &Setup) -> Swept {
    let swept = daemon
        .sweeper
        .sweep(setup, &daemon.shutdown.stop, |record| {
            log(record);
            daemon.publish();
        });
    if swept.complete {
        daemon.detect();
    }
    swept
}

/// The confirmation of what the node's watch suspects now, if anything (and confirmations
/// are on): the suspected combinations and the single-worker ones their signals are measured
/// against; and the names of what is suspected.
fn confirming(daemon: &Daemon) -> Option<(Setup, Vec<String>)> {
    let setup = daemon.setup();
    let suspected = daemon.results().suspected();
    if suspected.is_empty() || setup.config.analysis.confirm_sweeps == 0 {
        return None;
    }
    let confirming = setup.confirming(|spec| {
        spec.workers == 1 || suspected.iter().any(|s| s.key() == Some(&key_of(spec)))
    });
    Some((
        confirming,
        suspected.iter().map(|s| format!("{s:?}")).collect(),
    ))
}

/// A confirmation sweep of what the node's watch suspects, so the suspicion is settled in
/// minutes rather than after the next scheduled sweeps; nothing when nothing is suspected
/// any more.
fn confirm(daemon: &Daemon) -> Done {
    let Some((setup, names)) = confirming(daemon) else {
        return Done::default();
    };
    tracing::info!(suspected = ?names, "a change is suspected; confirming it now");
    let started = Instant::now();
    let swept = run(daemon, &setup);
    Done::of(daemon, &setup, &swept, started.elapsed())
}

fn log(record: &RunRecord) {
    let spec = &record.spec;
    match &record.failure {
        None => tracing::debug!(%spec.backend, %spec.sync, spec.workers, "run succeeded"),
        Some(f) => tracing::warn!(
            %spec.backend, %spec.sync, spec.workers, reason = f.reason.as_str(),
            "run failed: {}", f.message
        ),
    }
}

/// The interval after a sweep that used `cpu_seconds`, warning when the CPU budget stretches
/// it.
fn budgeted(schedule: &Schedule, cpu_seconds: f64) -> Duration {
    let budgeted = schedule::next_interval(schedule, cpu_seconds, 0.0);
    if budgeted > schedule.interval {
        tracing::warn!(
            cpu_seconds,
            max_duty_cycle = schedule.max_duty_cycle,
            interval = ?budgeted,
            "the last sweep and its confirmations used more CPU than the budget allows; the next one waits longer"
        );
    }
    budgeted
}
