//! A fleet of three exporters on loopback, one of them made slower for real by a CPU quota
//! (needs root and the cgroup v1 `cpu` controller), scraped by one real Prometheus with the
//! shipped rules: the fleet rules rank the slow one first and its outlier alert goes pending;
//! and `changes --prometheus` over the fleet finds a quota set partway on that instance only.

use std::time::Duration;

use crate::cgroup::QuotaGroup;
use crate::util::IDLE;
use crate::util::{self, TestConfig, start_daemon, wait_for};

#[test]
fn the_slow_node_of_three_is_ranked_first_and_its_outlier_alert_goes_pending() {
    let _turn = util::heavy_turn();
    // Sweeps of a few seconds, back to back.
    let config = TestConfig::from(IDLE)
        .set("schedule.interval", "2s")
        .set("schedule.run_at_start", true)
        .set("workload.workers", vec![1, 2])
        .set("workload.lines", 2000)
        .set("workload.repeats", 3)
        .text();
    let fleet: Vec<_> = (0..3).map(|_| start_daemon(&config, &[])).collect();
    let group = QuotaGroup::new(0.2);
    group.enter(fleet[2].pid());
    let slow = fleet[2].address.clone();
    let targets: Vec<&str> = fleet.iter().map(|d| d.address.as_str()).collect();
    let prometheus = util::start_prometheus_with(&targets, true, "");

    // Whether the slow instance is among the first `top` series of `query`.
    let among = |query: &str, top: usize| {
        (prometheus.vector(query).iter().take(top))
            .any(|s| s["metric"]["instance"] == slow.as_str())
    };
    let ranked_first = wait_for(Duration::from_secs(180), || {
        among(
            "topk(1, instance:copybench_fleet_duration_robust_z:median)",
            1,
        )
    });
    assert!(
        ranked_first,
        "the slow node is not first: {:?}",
        prometheus.vector("instance:copybench_fleet_duration_robust_z:median")
    );
    let pending = wait_for(Duration::from_secs(120), || {
        among("ALERTS{alertname=\"CopybenchNodeOutlier\"}", usize::MAX)
    });
    assert!(
        pending,
        "no outlier alert for {slow}: {:?}",
        prometheus.vector("ALERTS")
    );
    let others = prometheus.vector("ALERTS{alertname=\"CopybenchNodeOutlier\"}");
    assert!(
        others
            .iter()
            .all(|a| a["metric"]["instance"] == slow.as_str()),
        "a node within the quota-free pair was called an outlier: {others:?}"
    );
}

/// `changes --prometheus URL ARGS`: its status, stdout and stderr.
fn changes(prometheus: &util::Prometheus, args: &[&str]) -> (bool, String, String) {
    let output = util::command()
        .args(["changes", "--prometheus", &prometheus.url])
        .args(args)
        .output()
        .expect("run changes");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn changes_over_prometheus_finds_a_quota_set_partway_on_that_instance_only_within_one_step() {
    let _turn = util::heavy_turn();
    const STEP: f64 = 5.0;
    let config = TestConfig::from(IDLE)
        .set("schedule.interval", "1s")
        .set("schedule.run_at_start", true)
        .set("workload.lines", 3000)
        .text();
    let fleet: Vec<_> = (0..3).map(|_| start_daemon(&config, &[])).collect();
    let slow = fleet[1].address.clone();
    let targets: Vec<&str> = fleet.iter().map(|d| d.address.as_str()).collect();
    let prometheus = util::start_prometheus_with(&targets, false, "");
    let samples = |promql: &str| -> Vec<f64> {
        prometheus
            .vector(promql)
            .iter()
            .filter_map(|s| s["value"][1].as_str()?.parse().ok())
            .collect()
    };

    // A minute of every instance's runs before the quota, the last 30 s of it in the window.
    let start = util::unix_now();
    let before = wait_for(Duration::from_secs(120), || {
        util::unix_now() - start >= 60.0
            && samples("count_over_time(copybench_last_run_duration_seconds[40s])")
                .iter()
                .filter(|&&n| n >= 30.0)
                .count()
                == 3
    });
    assert!(
        before,
        "Prometheus did not scrape all three exporters for 40 s"
    );
    let selector = format!("copybench_last_run_duration_seconds{{instance=\"{slow}\"}}");
    let usual = samples(&format!("max_over_time({selector}[30s])"))[0];

    let group = QuotaGroup::new(0.2);
    let quota_at = util::unix_now();
    group.enter(fleet[1].pid());
    let seen = wait_for(Duration::from_secs(60), || {
        samples(&selector).first().is_some_and(|&d| d > 2.0 * usual)
    });
    let seen_at = util::unix_now();
    assert!(
        seen,
        "runs under a 0.2-CPU quota are not twice as slow as {usual} s"
    );
    let after = wait_for(Duration::from_secs(120), || {
        util::unix_now() - seen_at >= 40.0
            && samples(&format!("count_over_time({selector}[40s])"))
                .first()
                .is_some_and(|&n| n >= 30.0)
    });
    assert!(after, "Prometheus lost the slowed exporter under its quota");

    // The window leaves out the first 30 s, while three daemons and Prometheus start together:
    // on a busy machine an instance's runs took twice as long for the first 25 s.
    let since = start + 30.0;
    let (since, until) = (format!("{since:.3}"), format!("{:.3}", util::unix_now()));
    let range = [
        "--query",
        "copybench_last_run_duration_seconds",
        "--since",
        &since,
        "--until",
        &until,
        "--step",
        "5s",
    ];
    // Changes of at least a doubling, as the quota makes (seen above); the three exporters
    // share two CPUs, so smaller real shifts come and go on all of them.
    let (ok, out, err) = changes(
        &prometheus,
        &[&range[..], &["--min-magnitude", "1", "--json"]].concat(),
    );
    assert!(ok, "changes --prometheus failed: {err}");
    let found: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert!(
        found
            .iter()
            .all(|c| c["labels"]["instance"] == slow.as_str()),
        "a change on an instance without a quota ({slow} has it): {found:?}"
    );
    let at_quota = found.iter().any(|c| {
        let time: f64 = c["time"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0.0);
        c["ratio"].as_f64().is_some_and(|r| r > 2.0)
            && time > quota_at - STEP
            && time <= seen_at + STEP
    });
    assert!(
        at_quota,
        "no slowdown of {slow} within a step of the quota (set at {quota_at:.1}, seen in \
         Prometheus by {seen_at:.1}): {found:?}"
    );

    // Bounded: more series than allowed, or a query Prometheus refuses, is a clear error.
    let (ok, _, err) = changes(&prometheus, &[&range[..], &["--max-series", "2"]].concat());
    assert!(
        !ok && err.contains("3 series, more than --max-series 2"),
        "{err}"
    );
    let (ok, _, err) = changes(&prometheus, &["--query", "rate(", "--since", "1m"]);
    assert!(
        !ok && err.contains("HTTP 400") && err.contains("bad_data"),
        "{err}"
    );
}
