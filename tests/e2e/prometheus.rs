//! The exporter as a real Prometheus server sees it.

use std::time::Duration;

use crate::util::{TINY, start_daemon, start_prometheus, wait_for};

#[test]
fn prometheus_scrapes_every_combination_and_lock_keeps_order() {
    let daemon = start_daemon(TINY, &[]);
    let prometheus = start_prometheus(&daemon.address);
    let measured = wait_for(Duration::from_secs(60), || {
        prometheus
            .vector("copybench_last_run_duration_seconds{job=\"copybench\"} > 0")
            .len()
            == 8
    });
    assert!(
        measured,
        "not every combination reached Prometheus: {:?}",
        prometheus.vector("copybench_last_run_duration_seconds")
    );
    let lock = prometheus.vector("copybench_disorder_lines{sync=\"lock\"}");
    assert_eq!(lock.len(), 4, "{lock:?}");
    for series in &lock {
        assert_eq!(series["value"][1], "0", "{series}");
    }
    assert_eq!(prometheus.vector("up{job=\"copybench\"} == 1").len(), 1);
}
