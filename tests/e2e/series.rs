//! The series budget: what the default configuration costs a Prometheus that scrapes it.

use std::time::Duration;

use crate::util::{start_daemon, wait_for};

/// The most series `/metrics` may carry on the default configuration after its first sweep
/// (the README's series budget).
const BUDGET: usize = 500;

/// The series of a text exposition.
fn series(exposition: &str) -> usize {
    exposition.lines().filter(|l| !l.starts_with('#')).count()
}

#[test]
fn the_default_configuration_stays_within_the_series_budget() {
    let defaults = start_daemon("", &[]);
    let full = start_daemon("[metrics]\ndetail = \"full\"\n", &[]);
    for daemon in [&defaults, &full] {
        assert!(
            wait_for(Duration::from_secs(240), || daemon
                .sample("copybench_sweeps_total")
                .is_some_and(|n| n >= 1.0)),
            "no sweep of the defaults ended"
        );
    }
    let (basic, detailed) = (defaults.metrics(), full.metrics());
    println!(
        "series: {} basic, {} full",
        series(&basic),
        series(&detailed)
    );
    assert!(
        series(&basic) <= BUDGET,
        "{} series on the defaults, above the budget of {BUDGET}",
        series(&basic)
    );
    // Full detail is the switch for the rest: every family of the basic one and more.
    assert!(series(&detailed) > series(&basic));
    for family in basic.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        assert!(detailed.contains(&format!("# TYPE {family}")), "{family}");
    }
    assert!(detailed.contains("# TYPE copybench_run_duration_seconds histogram"));
    assert!(!basic.contains("copybench_run_duration_seconds_bucket"));
}
