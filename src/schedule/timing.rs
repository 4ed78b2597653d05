//! When sweeps start: every `interval` plus jitter, stretched to keep the workload within its
//! CPU budget.

use std::time::Duration;

use crate::config::{MAX_DURATION, Schedule};

/// The time from one sweep's start to the next: `interval`, stretched so that a sweep that
/// used `cpu_seconds` of CPU stays within `max_duty_cycle`, plus `offset` seconds (a
/// [`jitter`], drawn once per sweep).
pub fn next_interval(schedule: &Schedule, cpu_seconds: f64, offset: f64) -> Duration {
    let budgeted = (cpu_seconds / schedule.max_duty_cycle).min(MAX_DURATION.as_secs_f64());
    let base = schedule.interval.as_secs_f64().max(budgeted);
    Duration::from_secs_f64((base + offset).max(0.001))
}

/// A uniform random offset within +-`jitter` seconds.
pub fn jitter(schedule: &Schedule) -> f64 {
    let jitter = schedule.jitter.as_secs_f64();
    if jitter > 0.0 {
        rand::random_range(-jitter..=jitter)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_stretches_to_keep_the_cpu_budget() {
        let schedule = Schedule {
            interval: Duration::from_secs(10),
            jitter: Duration::ZERO,
            max_duty_cycle: 0.02,
            ..Schedule::default()
        };
        assert_eq!(next_interval(&schedule, 0.1, 0.0), Duration::from_secs(10));
        assert_eq!(next_interval(&schedule, 1.0, 0.0), Duration::from_secs(50));
        assert_eq!(
            next_interval(&schedule, 1.0, -2.5),
            Duration::from_secs_f64(47.5)
        );
        assert_eq!(jitter(&schedule), 0.0);
        let jittered = Schedule {
            jitter: Duration::from_secs(2),
            ..schedule
        };
        let draws: Vec<f64> = (0..200).map(|_| jitter(&jittered)).collect();
        assert!(draws.iter().all(|d| (-2.0..=2.0).contains(d)), "{draws:?}");
        assert!(draws.iter().any(|d| *d < -1.0) && draws.iter().any(|d| *d > 1.0));
    }
}
