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

/// Runs sweeps on the schedule until shutdown begins; while the node's watch suspects a
/// change after one, up to `[analysis] confirm_sweeps` confirmations `confirm_interval`
/// apart, as long as each ends before the next scheduled sweep.
pub(super) async fn schedule(daemon: Arc<Daemon>) {
    let stop = daemon.shutdown.stop.clone();
    let first = &daemon.live.setup().config.schedule;
    let mut next = tokio::time::Instant::now();
    if !first.run_at_start {
        next += schedule::next_interval(first, 0.0);
    }
    let (mut what, mut scheduled, mut cpu_seconds) = (Next::Sweep, next, 0.0);
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = stop.cancelled() => return,
        }
        let started = tokio::time::Instant::now();
        if what == Next::Sweep {
            (scheduled, cpu_seconds) = (started, 0.0);
        }
        let swept = Arc::clone(&daemon);
        let before = cpu_seconds;
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
        cpu_seconds += done.cpu_seconds;
        let regular = scheduled + schedule::next_interval(schedule, cpu_seconds);
        let confirmation = match what {
            Next::Sweep => 1,
            Next::Confirmation(n) => n + 1,
        };
        let now = tokio::time::Instant::now();
        // The latest confirmation took about as long as the next would.
        let took = now - started;
        (what, next) = if done.suspected
            && confirmation <= analysis.confirm_sweeps
            && now + analysis.confirm_interval + took < regular
        {
            (
                Next::Confirmation(confirmation),
                now + analysis.confirm_interval,
            )
        } else {
            (Next::Sweep, regular.max(now))
        };
    }
}

/// What a sweep (scheduled or confirmation) did: the CPU time its workers used, and whether
/// it completed and the node's watch suspects a change after it.
#[derive(Clone, Copy, Default)]
struct Done {
    cpu_seconds: f64,
    suspected: bool,
}

impl Done {
    /// The account of `swept`.
    fn of(daemon: &Daemon, swept: &Swept) -> Done {
        Done {
            cpu_seconds: swept.cpu_seconds,
            suspected: swept.complete && !daemon.results().suspected().is_empty(),
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
    Done::of(daemon, &swept)
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

/// A confirmation sweep of what the node's watch suspects: the suspected combinations and
/// the single-worker ones their signals are measured against, so the suspicion is settled in
/// minutes rather than after the next scheduled sweeps. Nothing when nothing is suspected
/// any more.
fn confirm(daemon: &Daemon) -> Done {
    let suspected = daemon.results().suspected();
    if suspected.is_empty() {
        return Done::default();
    }
    let confirming = daemon.setup().confirming(|spec| {
        let key = ((spec.backend, spec.sync), spec.workers);
        spec.workers == 1 || suspected.iter().any(|s| s.key() == Some(&key))
    });
    let names: Vec<String> = suspected.iter().map(|s| format!("{s:?}")).collect();
    tracing::info!(suspected = ?names, "a change is suspected; confirming it now");
    Done::of(daemon, &run(daemon, &confirming))
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
    let unjittered = Schedule {
        jitter: Duration::ZERO,
        ..schedule.clone()
    };
    let budgeted = schedule::next_interval(&unjittered, cpu_seconds);
    if budgeted > schedule.interval {
        tracing::warn!(
            cpu_seconds,
            max_duty_cycle = schedule.max_duty_cycle,
            interval = ?budgeted,
            "the last sweep used more CPU than the budget allows; the next one waits longer"
        );
    }
    budgeted
}
