//! The values a configuration may hold: every impossible one is reported, naming its key.

use std::time::Duration;

use super::{
    Config, ConfigError, MAX_CONNECTIONS, MAX_DURATION, MAX_FIT_SWEEPS, MAX_HISTORY, MAX_LINES,
    MAX_REPEATS, MAX_WORKERS, Workers,
};

/// The most sweeps a change must hold before it alerts.
const MAX_ALERT_SWEEPS: usize = 100;

/// The most confirmation sweeps after a scheduled one.
const MAX_CONFIRM_SWEEPS: u32 = 10;

/// The problems found so far, each `key: why`.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    /// Notes `why` against `key` unless `ok`.
    fn check(&mut self, ok: bool, key: &str, why: &str) {
        if !ok {
            self.0.push(format!("{key}: {why}"));
        }
    }

    /// Notes `key` unless `value` is within `range`.
    fn range<T: PartialOrd + std::fmt::Display>(
        &mut self,
        value: T,
        range: std::ops::RangeInclusive<T>,
        key: &str,
    ) {
        let why = format!("must be between {} and {}", range.start(), range.end());
        self.check(range.contains(&value), key, &why);
    }
}

impl Config {
    /// Checks every value, as loading does: an error lists each impossible one by key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Every impossible value, each naming its key.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut p = Problems::default();
        self.durations(&mut p);
        self.schedule(&mut p);
        self.workload(&mut p);
        self.analysis(&mut p);
        self.probe(&mut p);
        p.range(
            self.web.max_connections,
            1..=MAX_CONNECTIONS,
            "web.max_connections",
        );
        p.check(
            self.state.retention >= Duration::from_secs(3600),
            "state.retention",
            "must be at least 1h",
        );
        p.0
    }

    /// Every duration fits clock arithmetic.
    fn durations(&self, p: &mut Problems) {
        let s = &self.schedule;
        for (key, value) in [
            ("schedule.interval", s.interval),
            ("schedule.jitter", s.jitter),
            ("schedule.run_timeout", s.run_timeout),
            ("schedule.shutdown_grace", s.shutdown_grace),
            ("probe.timeout", self.probe.timeout),
            ("probe.min_interval", self.probe.min_interval),
            ("state.retention", self.state.retention),
            ("web.write_timeout", self.web.write_timeout),
            ("web.idle_timeout", self.web.idle_timeout),
            ("analysis.alert_after", self.analysis.alert_after),
            ("analysis.host_alert_after", self.analysis.host_alert_after),
            (
                "analysis.contention_window",
                self.analysis.contention_window,
            ),
            ("analysis.confirm_interval", self.analysis.confirm_interval),
        ] {
            p.check(value <= MAX_DURATION, key, "must be at most 366 days");
        }
        for (key, value) in [
            ("web.write_timeout", self.web.write_timeout),
            ("web.idle_timeout", self.web.idle_timeout),
        ] {
            p.check(!value.is_zero(), key, "must be greater than 0");
        }
    }

    fn schedule(&self, p: &mut Problems) {
        let s = &self.schedule;
        p.check(
            !s.interval.is_zero(),
            "schedule.interval",
            "must be greater than 0",
        );
        p.check(
            s.jitter < s.interval || s.interval.is_zero(),
            "schedule.jitter",
            "must be less than schedule.interval",
        );
        p.check(
            !s.run_timeout.is_zero(),
            "schedule.run_timeout",
            "must be greater than 0",
        );
        p.check(
            s.max_duty_cycle > 0.0 && s.max_duty_cycle <= 1.0,
            "schedule.max_duty_cycle",
            "must be above 0 and at most 1 (one whole CPU)",
        );
    }

    fn workload(&self, p: &mut Problems) {
        let w = &self.workload;
        p.check(
            !w.backends.is_empty(),
            "workload.backends",
            "must name at least one of process, thread",
        );
        p.check(
            !w.sync.is_empty(),
            "workload.sync",
            "must name at least one of none, lock, ordered",
        );
        if let Workers::List(sizes) = &w.workers {
            p.check(
                !sizes.is_empty(),
                "workload.workers",
                "must list at least one pool size, or be \"auto\"",
            );
            p.check(
                sizes.iter().all(|&n| (1..=MAX_WORKERS).contains(&n)),
                "workload.workers",
                &format!("every pool size must be between 1 and {MAX_WORKERS}"),
            );
        }
        p.range(w.repeats, 1..=MAX_REPEATS, "workload.repeats");
        p.range(w.lines, 1..=MAX_LINES, "workload.lines");
    }

    fn analysis(&self, p: &mut Problems) {
        let a = &self.analysis;
        p.check(
            (4..=1000).contains(&a.window),
            "analysis.window",
            "must be between 4 and 1000 sweeps",
        );
        p.check(
            (a.window..=MAX_HISTORY).contains(&a.history),
            "analysis.history",
            &format!("must be between analysis.window and {MAX_HISTORY} sweeps"),
        );
        p.check(
            (1..=MAX_FIT_SWEEPS).contains(&a.fit_sweeps),
            "analysis.fit_sweeps",
            &format!("must be between 1 and {MAX_FIT_SWEEPS} sweeps"),
        );
        p.range(
            a.alert_sweeps,
            1..=MAX_ALERT_SWEEPS,
            "analysis.alert_sweeps",
        );
        p.range(
            a.host_alert_sweeps,
            1..=MAX_ALERT_SWEEPS,
            "analysis.host_alert_sweeps",
        );
        let key = "analysis.confirm_sweeps";
        p.range(a.confirm_sweeps, 0..=MAX_CONFIRM_SWEEPS, key);
        // The range the detectors' thresholds were simulated for.
        let false_alarms = 500..=100_000;
        let key = "analysis.alert_false_alarm_sweeps";
        p.range(a.alert_false_alarm_sweeps, false_alarms.clone(), key);
        let key = "analysis.host_false_alarm_sweeps";
        p.range(a.host_false_alarm_sweeps, false_alarms, key);
        p.check(
            !a.contention_window.is_zero(),
            "analysis.contention_window",
            "must be greater than 0",
        );
        p.check(
            a.contention_share > 0.5 && a.contention_share <= 1.0,
            "analysis.contention_share",
            "must be above 0.5 and at most 1",
        );
        p.check(
            a.confirm_from > 0.0 && a.confirm_from <= 1.0,
            "analysis.confirm_from",
            "must be above 0 and at most 1",
        );
        for (key, value) in [
            ("analysis.max_contention", a.max_contention),
            (
                "analysis.max_full_width_contention",
                a.max_full_width_contention,
            ),
            ("analysis.max_cv", a.max_cv),
            ("analysis.max_throttled_ratio", a.max_throttled_ratio),
            ("analysis.max_steal_ratio", a.max_steal_ratio),
            ("analysis.max_pvalue", a.max_pvalue),
            ("analysis.min_magnitude", a.min_magnitude),
        ] {
            p.check((0.0..=1.0).contains(&value), key, "must be between 0 and 1");
        }
    }

    fn probe(&self, p: &mut Problems) {
        let pr = &self.probe;
        p.range(pr.max_workers, 1..=MAX_WORKERS, "probe.max_workers");
        p.range(pr.max_lines, 1..=MAX_LINES, "probe.max_lines");
        p.check(
            !pr.timeout.is_zero(),
            "probe.timeout",
            "must be greater than 0",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::config::load::tests::invalid;

    #[test]
    fn impossible_values_name_their_keys() {
        let problems = invalid(
            "[workload]\nworkers = [0]\nlines = 0\nrepeats = 0\n[schedule]\ninterval = \"0s\"\nmax_duty_cycle = 0\n\
             [state]\nretention = \"5m\"\n[analysis]\nmax_cv = 2\nalert_sweeps = 0\n\
             host_false_alarm_sweeps = 100\ncontention_share = 0.5\ncontention_window = \"0s\"\n\
             confirm_from = 0\n",
        );
        let joined = problems.join("\n");
        for key in [
            "workload.workers",
            "workload.lines",
            "schedule.interval",
            "state.retention",
            "workload.repeats",
            "schedule.max_duty_cycle",
            "analysis.max_cv",
            "analysis.alert_sweeps",
            "analysis.host_false_alarm_sweeps",
            "analysis.contention_share",
            "analysis.contention_window",
            "analysis.confirm_from",
        ] {
            assert!(joined.contains(key), "{key} not reported in:\n{joined}");
        }
        assert!(
            invalid("[schedule]\ninterval = \"10s\"\njitter = \"10s\"\n")[0]
                .starts_with("schedule.jitter")
        );
        assert!(invalid("[workload]\nbackends = []\n")[0].starts_with("workload.backends"));
        assert!(
            invalid("[schedule]\nrun_timeout = \"1000y\"\n")[0].starts_with("schedule.run_timeout")
        );
    }
}
