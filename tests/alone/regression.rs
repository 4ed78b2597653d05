//! Regression detection for real: a daemon builds a history with a short interval, then its
//! host slows down. Busy processes on its CPUs (a noisy neighbour) make the change-point
//! detector report a regression and, with a real Prometheus and the shipped rules,
//! `CopybenchPerformanceRegression` go pending, the change point and the alert's description
//! naming the cause (other tasks wanting the CPUs); a CPU quota instead marks the runs
//! throttled, leaves them out, and the alert stays silent.

use std::time::Duration;

use crate::cgroup::QuotaGroup;
use crate::util::{self, Daemon, Neighbour, TestConfig, start_daemon, wait_for, why};

/// One small combination, swept back to back; the CPU budget and the noise flag are relaxed
/// so that neither gets in the way of the test. Other work on a shared machine can slow the
/// host by up to a third for tens of seconds, a real change the default 5 % magnitude would
/// report; only changes of more than 40 % of the mean count here, well below the slowdowns under
/// test (the neighbour: 1.9 to 2.6 times; the quota: about 4.5 times).
const CONFIG: &str = r#"
[schedule]
interval = "100ms"
jitter = "0s"
max_duty_cycle = 1.0
[workload]
backends = ["thread"]
sync = ["none"]
workers = [1]
lines = 2000
repeats = 3
warmup = false
[analysis]
max_cv = 0.5
min_magnitude = 0.4
"#;

const SERIES: &str = r#"{backend="thread",sync="none",workers="1"}"#;

/// Waits until the daemon has completed `n` sweeps. A sweep of the quota test's runs takes
/// about 4 s of a debug build, more while other work loads both CPUs, or under a quota: the history is a precondition, so its deadline (300 s) is generous.
fn wait_sweeps(daemon: &Daemon, n: f64) -> bool {
    wait_for(Duration::from_secs(300), || {
        daemon
            .sample("copybench_sweeps_total")
            .is_some_and(|s| s >= n)
    })
}

#[test]
fn a_noisy_neighbour_is_detected_as_a_regression_and_the_alert_goes_pending() {
    let _turn = util::heavy_turn();
    let daemon = start_daemon(CONFIG, &[]);
    let prometheus = util::start_prometheus_with_rules(&daemon.address, true);
    assert!(wait_sweeps(&daemon, 25.0), "no history built");
    let detected = format!("copybench_regression_detected{SERIES}");
    // Other work on the machine can slow the host by more than the magnitude for a while: a
    // real change the detector reports. The neighbour comes only once the latest segment is quiet.
    assert!(
        wait_for(Duration::from_secs(120), || daemon.sample(&detected)
            == Some(0.0)),
        "a regression before any slowdown that did not clear in 120 s; metrics:\n{}",
        daemon.metrics()
    );

    let neighbour = Neighbour::start();
    assert!(
        wait_for(Duration::from_secs(60), || daemon.sample(&detected)
            == Some(1.0)),
        "no regression detected; metrics:\n{}",
        daemon.metrics()
    );
    let ratio = daemon
        .sample(&format!("copybench_regression_ratio{SERIES}"))
        .expect("ratio");
    assert!(ratio > 1.4, "ratio {ratio}");
    let (_, changes) = daemon.get("/api/v1/changes?backend=thread");
    let changes: Vec<serde_json::Value> = serde_json::from_str(&changes).expect("changes");
    // The neighbour's is the latest change point (what `copybench_regression_detected`
    // reports); other work on the machine may have made earlier ones of its own.
    let change = changes
        .iter()
        .filter(|c| c["ratio"].as_f64().is_some_and(|r| r > 1.4))
        .max_by_key(|c| c["index"].as_u64())
        .unwrap_or_else(|| panic!("no slowdown among the change points: {changes:?}"));
    // It says why: other tasks wanted the CPUs (pressure, involuntary context switches).
    let neighbourly = |why: &str| {
        why.contains("cpu_pressure_share ") || why.contains("involuntary_switches_per_second ")
    };
    let names: Vec<&str> = change["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(neighbourly(&format!("{} ", names.join(" "))), "{change}");
    assert!(daemon.get("/").1.contains("REGRESSION"));
    // Pending, its description (the shipped rule's template) saying why.
    assert!(
        wait_for(Duration::from_secs(60), || {
            prometheus
                .alert("CopybenchPerformanceRegression")
                .is_some_and(|a| a["state"] == "pending" && why(&a).is_some_and(neighbourly))
        }),
        "the alert did not go pending saying why: {:?}",
        prometheus.alert("CopybenchPerformanceRegression")
    );
    drop(neighbour);
}

#[test]
fn a_cpu_quota_marks_the_runs_throttled_and_the_regression_alert_stays_silent() {
    let _turn = util::heavy_turn();
    let group = QuotaGroup::new(0.3);
    // Runs long enough (tens of ms of CPU) to outlast the quota's 30 ms a period, so every run
    // under it is throttled: none slips through to be slowed by other load on the machine.
    // Full detail: the seconds the quota held the runs back too.
    let config = TestConfig::from(CONFIG)
        .set("workload.lines", 5000)
        .set("metrics.detail", "full")
        .text();
    let daemon = start_daemon(&config, &[]);
    let prometheus = util::start_prometheus_with_rules(&daemon.address, true);
    assert!(wait_sweeps(&daemon, 25.0), "no history built");
    group.enter(daemon.child.id());
    let throttled = format!("copybench_run_throttled{SERIES}");
    assert!(
        wait_for(Duration::from_secs(60), || daemon.sample(&throttled)
            == Some(1.0)),
        "runs under the quota were not marked throttled"
    );
    let now = daemon.sample("copybench_sweeps_total").expect("sweeps");
    assert!(
        wait_sweeps(&daemon, now + 5.0),
        "the daemon stopped sweeping"
    );
    let detected = daemon.sample(&format!("copybench_regression_detected{SERIES}"));
    if detected != Some(0.0) {
        let (_, runs) = daemon.get("/api/v1/runs?limit=60");
        let runs: Vec<serde_json::Value> = serde_json::from_str(&runs).expect("runs");
        let brief: Vec<String> = runs
            .iter()
            .map(|r| {
                format!(
                    "{}:{:.4}:{}/{}:{}",
                    r["sweep_id"],
                    r["duration_seconds"].as_f64().unwrap_or(f64::NAN),
                    r["throttled_periods"],
                    r["total_periods"],
                    r["disturbed"]
                )
            })
            .collect();
        panic!(
            "throttled runs taken for a regression: {:?}\nchanges {}\nruns {brief:?}",
            detected,
            daemon.get("/api/v1/changes").1
        );
    }
    assert!(
        daemon
            .sample(&format!("copybench_point_throttled_seconds{SERIES}"))
            .is_some_and(|s| s > 0.0)
    );
    // Once Prometheus has seen the throttled data for a few scrapes, the rules have had it.
    let seen = format!("min_over_time(copybench_run_throttled{SERIES}[4s]) == 1");
    assert!(
        wait_for(Duration::from_secs(30), || !prometheus
            .vector(&seen)
            .is_empty()),
        "Prometheus never saw the throttling"
    );
    assert_eq!(
        prometheus.alert_state("CopybenchPerformanceRegression"),
        None
    );
    drop(daemon);
    drop(group);
}
