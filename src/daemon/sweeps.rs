//! The daemon's schedule: a sweep every interval plus jitter, stretched when the last sweep
//! used more CPU than `[schedule] max_duty_cycle` allows; metrics published after every run
//! and change points looked for after every complete sweep; confirmation sweeps at once
//! while the node's watch suspects a change.

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

/// Runs sweeps on the schedule until shutdown begins.
pub(super) async fn schedule(daemon: Arc<Daemon>) {
    let stop = daemon.shutdown.stop.clone();
    let first = &daemon.live.setup().config.schedule;
    let mut next = tokio::time::Instant::now();
    if !first.run_at_start {
        next += schedule::next_interval(first, 0.0);
    }
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = stop.cancelled() => return,
        }
        let started = tokio::time::Instant::now();
        let swept = Arc::clone(&daemon);
        let cpu_seconds = tokio::task::spawn_blocking(move || sweep(&swept))
            .await
            .unwrap_or_else(|_| {
                tracing::error!("a sweep ended in a panic");
                0.0
            });
        if stop.is_cancelled() {
            return;
        }
        let schedule = &daemon.live.setup().config.schedule;
        next = (started + schedule::next_interval(schedule, cpu_seconds))
            .max(tokio::time::Instant::now());
    }
}

/// Runs one sweep of the setup in force, publishing the metrics after each run, and its
/// confirmations if it raised a suspicion. Returns the CPU time their workers used.
fn sweep(daemon: &Daemon) -> f64 {
    let setup = daemon.setup();
    let started = Instant::now();
    let swept = run(daemon, &setup);
    let mut cpu_seconds = swept.cpu_seconds;
    if swept.complete {
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            cpu_seconds,
            "sweep done"
        );
        cpu_seconds += confirm(daemon, &setup);
        daemon
            .interval
            .set(budgeted(&setup.config.schedule, cpu_seconds));
        daemon.publish();
    }
    cpu_seconds
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

/// While the node's watch suspects a change, runs confirmation sweeps at once, at most
/// `[analysis] confirm_sweeps`: the suspected combinations and the single-worker ones their
/// signals are measured against, so the suspicion is settled now rather than after the next
/// scheduled sweeps. Returns the CPU time their workers used.
fn confirm(daemon: &Daemon, setup: &Setup) -> f64 {
    let mut cpu_seconds = 0.0;
    for _ in 0..setup.config.analysis.confirm_sweeps {
        let suspected = daemon.results().suspected();
        if suspected.is_empty() {
            break;
        }
        let confirming = setup.confirming(|spec| {
            let key = ((spec.backend, spec.sync), spec.workers);
            spec.workers == 1 || suspected.iter().any(|s| s.key() == Some(&key))
        });
        let names: Vec<String> = suspected.iter().map(|s| format!("{s:?}")).collect();
        tracing::info!(suspected = ?names, "a change is suspected; confirming it now");
        let swept = run(daemon, &confirming);
        cpu_seconds += swept.cpu_seconds;
        if !swept.complete {
            break;
        }
    }
    cpu_seconds
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
