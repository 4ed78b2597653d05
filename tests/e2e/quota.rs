//! A real CPU quota: a cgroup (the v1 `cpu` controller, writable as root on the machines
//! this runs on) with 0.3 of a CPU. Runs made inside it are marked throttled, with the time
//! the quota held them back; the same runs outside it are not.

use crate::cgroup::QuotaGroup;
use crate::util::IDLE;
use crate::util::{self, TestConfig, start_daemon};

const RUN: [&str; 16] = [
    "run",
    "--json",
    "--backend",
    "thread",
    "--sync",
    "none",
    "--workers",
    "2",
    "--lines",
    "4000",
    "--repeats",
    "2",
    "--warmup",
    "false",
    "--reference",
    "false",
];

#[test]
fn runs_under_a_cpu_quota_are_marked_throttled_and_the_same_runs_outside_are_not() {
    let _turn = util::heavy_turn();
    let group = QuotaGroup::new(0.3);
    let workdir = tempfile::tempdir().expect("tempdir");
    let inside = group
        .command(&RUN)
        .arg("--workdir")
        .arg(workdir.path())
        .output()
        .expect("run inside the group");
    assert!(inside.status.success(), "{inside:?}");
    let (runs, points) = util::json_lines(&inside.stdout);
    assert_eq!(runs.len(), 2, "{runs:?}");
    for run in &runs {
        assert_eq!(run["throttled"], true, "{run}");
        assert_eq!(run["disturbed"], true, "{run}");
        assert!(
            run["throttled_seconds"].as_f64().is_some_and(|s| s > 0.0),
            "{run}"
        );
        let (throttled, total) = (
            run["throttled_periods"]
                .as_u64()
                .expect("throttled periods"),
            run["total_periods"].as_u64().expect("periods"),
        );
        assert!(throttled > 0 && throttled <= total, "{run}");
    }
    assert_eq!(points[0]["throttled_runs"], 2, "{points:?}");
    assert_eq!(
        points[0]["runs"], 0,
        "throttled runs are left out of the statistics"
    );

    let outside = util::command()
        .args(RUN)
        .arg("--workdir")
        .arg(workdir.path())
        .output()
        .expect("run outside");
    assert!(outside.status.success(), "{outside:?}");
    let (runs, points) = util::json_lines(&outside.stdout);
    for run in &runs {
        assert_eq!(run["throttled"], false, "{run}");
        assert_eq!(
            run["throttled_seconds"].as_f64().unwrap_or(0.0),
            0.0,
            "{run}"
        );
    }
    let point = &points[0];
    assert_eq!(point["throttled_runs"], 0, "{point}");
    // Steal on a shared host may still set a run aside; none is lost.
    let sum = point["runs"].as_u64().zip(point["disturbed_runs"].as_u64());
    assert_eq!(sum.map(|(c, d)| c + d), Some(2), "{point}");
}

#[test]
fn the_daemon_under_a_cpu_quota_reports_the_quota_and_throttled_runs() {
    let _turn = util::heavy_turn();
    let group = QuotaGroup::new(0.3);
    let config = TestConfig::from(IDLE)
        .set("schedule.interval", "2s")
        .set("workload.lines", 4000)
        .set("workload.workers", "auto")
        .set("metrics.detail", "full")
        .text();
    let daemon = start_daemon(&config, &[]);
    group.enter(daemon.child.id());
    assert!(daemon.wait_for_sweep(), "no sweep completed");
    let metrics = daemon.metrics();
    assert_eq!(
        util::sample(&metrics, "copybench_cpu_quota_cores"),
        Some(0.3)
    );
    // One usable CPU: "auto" sweeps 1 worker and one oversubscribed size, 2.
    let two = r#"{backend="thread",sync="none",workers="2"}"#;
    assert_eq!(
        util::sample(&metrics, &format!("copybench_run_throttled{two}")),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        util::sample(&metrics, &format!("copybench_point_throttled_seconds{two}"))
            .is_some_and(|s| s > 0.0),
        "{metrics}"
    );
    let (_, runs) = daemon.get("/api/v1/runs?workers=2");
    let runs: Vec<serde_json::Value> = serde_json::from_str(&runs).expect("runs");
    assert!(runs.iter().any(|r| r["throttled"] == true), "{runs:?}");
}
