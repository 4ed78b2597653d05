//! A fleet of three exporters on loopback, one of them made slower for real by a CPU quota
//! (needs root and the cgroup v1 `cpu` controller), scraped by one real Prometheus with the
//! shipped rules: the fleet rules rank the slow one first and its outlier alert goes pending.

use std::time::Duration;

use crate::daemon::IDLE;
use crate::quota::QuotaGroup;
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

    let ranked_first = wait_for(Duration::from_secs(180), || {
        prometheus
            .vector("topk(1, instance:copybench_fleet_duration_robust_z:median)")
            .first()
            .is_some_and(|s| s["metric"]["instance"] == slow.as_str())
    });
    assert!(
        ranked_first,
        "the slow node is not first: {:?}",
        prometheus.vector("instance:copybench_fleet_duration_robust_z:median")
    );
    let pending = wait_for(Duration::from_secs(120), || {
        prometheus
            .vector("ALERTS{alertname=\"CopybenchNodeOutlier\"}")
            .iter()
            .any(|a| a["metric"]["instance"] == slow.as_str())
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
