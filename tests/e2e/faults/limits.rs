//! The system's limits met for real: no thread can be made (a pids cgroup at its maximum),
//! the state directory's disk is full, and a second daemon on the same state directory.

use std::time::Duration;

use nix::sys::signal::Signal;

use super::{Tmpfs, Watch, at_rest};
use crate::cgroup::Cgroup;
use crate::util::IDLE;
use crate::util::{self, TestConfig, sample, wait_for};

#[test]
fn no_thread_to_spare_fails_a_reload_or_a_request_and_panics_nothing() {
    let group = Cgroup::new("pids");
    let daemon = util::start_daemon(IDLE, &[]);
    group.write("cgroup.procs", &daemon.pid().to_string());
    // Every blocking thread the runtime keeps has been used once, then the limit is met.
    assert_eq!(daemon.get("/api/v1/runs").0, 200);
    assert_eq!(daemon.get("/").0, 200);
    let current = group.read("pids.current");
    group.write("pids.max", &current);
    let watch = Watch::start(&daemon, &[]);
    daemon.signal(Signal::SIGHUP);
    assert!(
        daemon.wait_log(Duration::from_secs(20), |l| l
            .contains("configuration reload")),
        "the reload was neither done nor refused: {:?}",
        daemon.logs()
    );
    for path in ["/api/v1/runs", "/", "/-/ready"] {
        let (status, body) = daemon.get(path);
        assert!(status == 200 || status == 503, "{path}: {status} {body}");
    }
    // A probe needs worker threads the limit forbids: a failed run, not a dead daemon.
    let (status, body) = daemon.get("/probe?workers=2&lines=100");
    assert!(status == 200 || status == 503, "{status} {body}");
    watch.check();
    assert!(
        !daemon.logs().iter().any(|l| l.contains("panicked")),
        "{:?}",
        daemon.logs()
    );
    group.write("pids.max", "max");
    let mut daemon = daemon;
    daemon.signal(Signal::SIGTERM);
    assert_eq!(daemon.wait_exit(Duration::from_secs(15)), Some(0));
}

#[test]
fn a_full_state_disk_keeps_runs_in_memory_published_and_writes_them_when_it_recovers() {
    let _turn = util::heavy_turn();
    let disk = Tmpfs::mount("size=300k");
    let state = disk.path().join("state");
    let config = TestConfig::from(IDLE)
        .set("schedule.interval", "300ms")
        .set("schedule.run_at_start", true)
        .set("schedule.max_duty_cycle", 1.0)
        .set("state.dir", state.display().to_string())
        .text();
    let daemon = util::start_daemon(&config, &[]);
    let at_rest = at_rest(&daemon);
    let watch = Watch::start(&daemon, &[]);
    let series = r#"{backend="thread",sync="none",workers="1"}"#;
    assert!(
        wait_for(Duration::from_secs(120), || daemon
            .sample("copybench_state_unsaved_runs")
            .is_some_and(|n| n >= 3.0)),
        "the disk never filled: {:?}",
        daemon.sample("copybench_state_save_failures_total")
    );
    // Full: the published results still move.
    let last = |d: &util::Daemon| {
        d.sample(&format!("copybench_last_run_timestamp_seconds{series}"))
            .unwrap_or(0.0)
    };
    let before = last(&daemon);
    assert!(
        wait_for(Duration::from_secs(20), || last(&daemon) > before),
        "copybench_last_run_timestamp_seconds froze on a full disk"
    );
    assert!(daemon.sample("copybench_state_save_failures_total") > Some(0.0));
    let waiting = daemon.sample("copybench_state_unsaved_runs").unwrap_or(0.0);
    let (_, runs) = daemon.get("/api/v1/runs?limit=10000");
    let shown = serde_json::from_str::<Vec<serde_json::Value>>(&runs)
        .expect("runs JSON")
        .len();
    // The disk recovers: everything waiting is written, nothing lost.
    let status = std::process::Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(disk.path())
        .status()
        .expect("remount");
    assert!(status.success());
    assert!(
        wait_for(Duration::from_secs(30), || daemon
            .sample("copybench_state_unsaved_runs")
            == Some(0.0)),
        "the waiting runs were not written: {:?}",
        daemon
            .logs()
            .iter()
            .filter(|l| l.contains("history"))
            .collect::<Vec<_>>()
    );
    watch.check();
    assert!(
        wait_for(Duration::from_secs(10), || super::fds(daemon.pid())
            <= at_rest),
        "descriptors left: {} open, {at_rest} at rest",
        super::fds(daemon.pid())
    );
    let mut daemon = daemon;
    daemon.signal(Signal::SIGTERM);
    assert_eq!(daemon.wait_exit(Duration::from_secs(20)), Some(0));
    assert!(util::entries(&daemon.scratch()).is_empty(), "scratch left");
    let history = copybench_exporter::results::Results::read_only(&state.join("history.sqlite"))
        .expect("the history");
    let kept = history
        .runs(&copybench_exporter::results::RunFilter {
            limit: 100_000,
            ..Default::default()
        })
        .expect("runs");
    assert!(
        kept.len() >= shown && shown as f64 >= waiting,
        "{} runs kept; {shown} shown on the full disk, {waiting} of them waiting",
        kept.len()
    );
}

#[test]
fn a_second_daemon_on_the_same_state_directory_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let config = TestConfig::from(IDLE)
        .set("state.dir", state.display().to_string())
        .text();
    let first = util::start_daemon(&config, &[]);
    let file = dir.path().join("second.toml");
    std::fs::write(&file, &config).expect("config");
    let output = util::command()
        .arg("--config.file")
        .arg(&file)
        .args(["--web.listen-address", "127.0.0.1:0"])
        .output()
        .expect("run the second daemon");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "is in use by another copybench_exporter (pid {})",
            first.pid()
        )),
        "{stderr}"
    );
    assert_eq!(first.get("/-/healthy").0, 200);
    let (_, body) = first.get("/probe?lines=100");
    assert_eq!(sample(&body, "copybench_probe_success"), Some(1.0));
}
