//! When sweeps start: every `interval` plus jitter, stretched to keep the workload within its
//! CPU budget.

use std::time::Duration;

use crate::config::{MAX_DURATION, Schedule};

/// The time from one sweep's start to the next: `interval`, stretched so that a sweep that
/// used `cpu_seconds` of CPU stays within `max_duty_cycle`, plus a uniform random offset
/// within +-jitter.
pub fn next_interval(schedule: &Schedule, cpu_seconds: f64) -> Duration {
    let budgeted = (cpu_seconds / schedule.max_duty_cycle).min(MAX_DURATION.as_secs_f64());
    let base = schedule.interval.as_secs_f64().max(budgeted);
    let jitter = schedule.jitter.as_secs_f64();
    let offset = if jitter > 0.0 {
        rand::random_range(-jitter..=jitter)
    } else {
        0.0
    };
    Duration::from_secs_f64((base + offset).max(0.001))
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
        assert_eq!(next_interval(&schedule, 0.1), Duration::from_secs(10));
        assert_eq!(next_interval(&schedule, 1.0), Duration::from_secs(50));
        let jittered = Schedule {
            jitter: Duration::from_secs(2),
            ..schedule
        };
        for _ in 0..200 {
            let d = next_interval(&jittered, 0.0).as_secs_f64();
            assert!((8.0..=12.0).contains(&d), "{d}");
        }
    }
}
