//! The node's watch against real events, with the daemon sweeping a small workload back to
//! back: a busy-loop neighbour that leaves is a transient, one that stays raises the
//! contention alert (pending in a real Prometheus with the shipped rules) and no host,
//! workload or scaling alert; a CPU quota marks the runs throttled and raises no workload or
//! scaling alert; a cpuset shrunk to one CPU raises the scaling alert after a confirmation
//! sweep, and the history replayed offline (`changes --replay`) gives the alerts the daemon
//! raised. Each alert says why, in `/api/v1/alerts` and in the notification a real
//! Alertmanager delivers to a webhook here: the contention alert names the CPU pressure, the
//! scaling alert (and the change points of `/api/v1/changes`) the cpuset that went from every
//! CPU to one.
//!
//! The windows are scaled to the test's cadence (a sweep every second or two, not every few
//! minutes): the contention window is 30 s, and a change alerts after 2 sweeps.

use std::time::Duration;

use crate::alertmanager::Alertmanager;
use crate::cgroup::Cgroup;
use crate::cgroup::QuotaGroup;
use crate::util::{self, Daemon, Neighbour, TestConfig, start_daemon, wait_for, why};

/// Two backends, no sync, 1 and 2 workers: the reference (thread/none/1) and the scaling of
/// both backends. Runs long enough (tens of ms) for two workers to beat one. The Prometheus
/// beside the daemon (scraping and evaluating every second) and the tests beside this one
/// keep the CPUs busy for 5-20 % of a run; a sweep counts as contended only beyond half its
/// 1-worker runs' time, which busy loops on every CPU make nearly all of it. The 2-worker runs
/// are full-width on two CPUs, and wait for any of that: beyond 80 % of their time.
const CONFIG: &str = r#"
[schedule]
interval = "100ms"
jitter = "0s"
max_duty_cycle = 1.0
[workload]
backends = ["process", "thread"]
sync = ["none"]
workers = [1, 2]
lines = 1000
repeats = 3
warmup = false
[analysis]
max_cv = 0.5
max_contention = 0.5
max_full_width_contention = 0.8
contention_window = "30s"
"#;

/// The contention window of [`CONFIG`]: a contention alert begins with its first contended
/// sweep, so a calm stretch before a neighbour lasts at least this long.
const CONTENTION_WINDOW: Duration = Duration::from_secs(30);

/// The daemon's sweeps so far.
fn sweeps(daemon: &Daemon) -> f64 {
    daemon.sample("copybench_sweeps_total").unwrap_or(0.0)
}

/// Waits until the daemon has made `n` sweeps (the history is a precondition: a generous
/// deadline).
fn wait_sweeps(daemon: &Daemon, n: f64) -> bool {
    wait_for(Duration::from_secs(300), || sweeps(daemon) >= n)
}

/// Waits until every detector of the daemon's watch has its baseline (24 uncontended sweeps
/// before a guard of 8; a precondition: a generous deadline, as the steal and the tests
/// beside this one may leave a sweep unusable).
fn armed(daemon: &Daemon) -> bool {
    reads(daemon, "copybench_watch_warming_detectors", 0.0, 400)
}

/// Waits up to `seconds` until `series` reads `value`.
fn reads(daemon: &Daemon, series: &str, value: f64, seconds: u64) -> bool {
    wait_for(Duration::from_secs(seconds), || {
        daemon.sample(series) == Some(value)
    })
}

/// The alert gauges of `family` that are 1.
fn firing(daemon: &Daemon, family: &str) -> Vec<String> {
    daemon
        .metrics()
        .lines()
        .filter(|l| l.starts_with(family) && l.ends_with(" 1"))
        .map(str::to_owned)
        .collect()
}

/// The host, workload and scaling alerts that are 1: none of them should fire for
/// contention.
fn measured_alerts(daemon: &Daemon) -> Vec<String> {
    [
        "copybench_host_alert",
        "copybench_workload_alert",
        "copybench_scaling_alert",
    ]
    .iter()
    .flat_map(|f| firing(daemon, f))
    .collect()
}

fn contention_transients(daemon: &Daemon) -> f64 {
    daemon
        .sample(r#"copybench_alert_transients_total{signal="contention"}"#)
        .expect("transients")
}

#[test]
fn a_neighbour_that_leaves_is_a_transient_and_one_that_stays_raises_the_contention_alert() {
    let _turn = util::heavy_turn();
    let daemon = start_daemon(CONFIG, &[]);
    let alertmanager = Alertmanager::start();
    let prometheus = util::start_prometheus_alerting(&daemon.address, &alertmanager.address);
    assert!(armed(&daemon), "the detectors never armed");
    a_neighbour_that_leaves(&daemon);

    // A calm stretch as long as the contention window first: the alert begins with the
    // window's first contended sweep, and its causes compare the 10 sweeps either side of it.
    assert!(
        calm_for(&daemon, 12.0),
        "no calm stretch after the neighbour left"
    );
    // A neighbour that stays: most sweeps of the window contended.
    let neighbour = Neighbour::start();
    assert!(
        reads(&daemon, "copybench_contention_alert", 1.0, 120),
        "no contention alert while the neighbour stayed"
    );
    // Pending in Prometheus, its description (the shipped rule's template) saying why.
    assert!(
        wait_for(Duration::from_secs(60), || {
            prometheus.alert("CopybenchHostContended").is_some_and(|a| {
                a["state"] == "pending"
                    && why(&a).is_some_and(|w| w.contains("cpu_pressure_share "))
            })
        }),
        "CopybenchHostContended did not go pending saying why: {:?}",
        prometheus.alert("CopybenchHostContended")
    );
    assert_eq!(
        measured_alerts(&daemon),
        Vec::<String>::new(),
        "the neighbour raised a measured signal's alert"
    );
    // It says why: other tasks waited for the CPUs.
    let contention = alert(&daemon, |a| {
        a["signal"] == "contention" && a["ended_at"].is_null()
    });
    assert!(
        named(&contention)
            .iter()
            .any(|c| c.starts_with("cpu_pressure_share ")),
        "{contention}"
    );
    for alert in [
        "CopybenchHostSlower",
        "CopybenchWorkloadRegression",
        "CopybenchScalingWorse",
    ] {
        assert_eq!(prometheus.alert_state(alert), None, "{alert}");
    }
    // Delivered: the shipped rule fires after its `for` of 2 minutes, and a real Alertmanager
    // sends the notification, cause and all, to the webhook.
    assert!(
        wait_for(Duration::from_secs(200), || alertmanager
            .notified("CopybenchHostContended", |a| why(a)
                .is_some_and(|w| w.contains("cpu_pressure_share ")))),
        "no notification of CopybenchHostContended with its cause; received {:?}",
        alertmanager.webhook.received()
    );
    drop(neighbour);
}

#[test]
fn a_cpu_quota_marks_the_runs_throttled_and_raises_no_workload_or_scaling_alert() {
    let _turn = util::heavy_turn();
    let group = QuotaGroup::new(0.3);
    let daemon = start_daemon(CONFIG, &[]);
    assert!(armed(&daemon), "the detectors never armed");
    group.enter(daemon.child.id());
    let throttled = r#"copybench_run_throttled{backend="process",sync="none",workers="2"}"#;
    assert!(
        reads(&daemon, throttled, 1.0, 60),
        "runs under the quota were not marked throttled"
    );
    assert!(
        reads(&daemon, "copybench_sweep_contended", 1.0, 60),
        "a throttled sweep was not contended"
    );
    let from = sweeps(&daemon);
    assert!(
        wait_sweeps(&daemon, from + 5.0),
        "the daemon stopped sweeping"
    );
    assert_eq!(
        measured_alerts(&daemon),
        Vec::<String>::new(),
        "the quota raised a measured signal's alert"
    );
    drop(daemon);
    drop(group);
}

#[test]
fn a_cpuset_shrunk_to_one_cpu_raises_the_scaling_alert_confirmed_by_a_sweep_of_its_own_and_the_replay_agrees()
 {
    let _turn = util::heavy_turn();
    let cpus = std::fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.cpus").expect("cpuset");
    let group = Cgroup::new("cpuset");
    group.write("cpuset.mems", "0");
    group.write("cpuset.cpus", cpus.trim());
    let state = tempfile::tempdir().expect("state dir");
    // A sweep every 3 s to build the history; the watch takes a new level as normal after
    // 288 sweeps, which must outlast the rule's `for` of 2 minutes.
    let config = TestConfig::from(CONFIG)
        .set("state.dir", state.path().to_str().expect("utf-8"))
        .set("schedule.interval", "3s")
        .set("analysis.confirm_interval", "100ms");
    let mut daemon = start_daemon(&config.text(), &[]);
    group.enter(daemon.child.id());
    let alertmanager = Alertmanager::start();
    let prometheus = util::start_prometheus_alerting(&daemon.address, &alertmanager.address);
    assert!(armed(&daemon), "the detectors never armed");
    assert_eq!(
        firing(&daemon, "copybench_scaling_alert"),
        Vec::<String>::new()
    );
    // Then one every 8 s, reloaded: a confirmation 100 ms after a sweep runs only if it ends
    // before the next scheduled sweep, and on one CPU a sweep, and a confirmation of all four
    // combinations, take 0.9-2 s here, up to 4 s on a busy machine.
    let config = config.set("schedule.interval", "8s").text();
    std::fs::write(daemon.dir.path().join("copybench.toml"), &config).expect("rewrite");
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    assert!(
        daemon.wait_log(Duration::from_secs(10), |l| l
            .contains("configuration reloaded")),
        "the 8 s interval was not reloaded"
    );

    let first = cpus.trim().split([',', '-']).next().expect("a CPU");
    group.write("cpuset.cpus", first);
    assert!(
        wait_for(Duration::from_secs(180), || !firing(
            &daemon,
            "copybench_scaling_alert"
        )
        .is_empty()),
        "no scaling alert on one CPU; metrics:\n{}",
        daemon.metrics()
    );
    assert_eq!(daemon.sample("copybench_cpuset_cpus"), Some(1.0));
    assert_eq!(
        daemon.sample("copybench_host_alert"),
        Some(0.0),
        "the host alert beside the scaling alert: {}",
        daemon.get("/api/v1/alerts").1
    );
    // The suspicion was confirmed by a sweep of its own, 100 ms after a sweep.
    assert!(
        daemon
            .sample("copybench_confirmation_sweeps_total")
            .is_some_and(|n| n >= 1.0),
        "no confirmation sweep; the sweeps: {:?}",
        daemon
            .logs()
            .iter()
            .filter(|l| l.contains("sweep done"))
            .rev()
            .take(8)
            .collect::<Vec<_>>()
    );
    assert!(
        daemon.wait_log(Duration::from_secs(10), |l| l.contains("confirming it now")),
        "no confirmation sweep was logged"
    );
    let (_, said) = daemon.get("/api/v1/alerts");
    let said: Vec<serde_json::Value> = serde_json::from_str(&said).expect("alerts");
    // It says why: the node's cpuset went from every CPU to one.
    let scaling = alert(&daemon, |a| a["signal"] == "scaling" && a["workers"] == 2);
    let cause = format!("cpuset {} -> {first}", cpus.trim());
    assert!(named(&scaling).contains(&cause), "{scaling}");
    // And the notification says it too: the shipped rule fires (after its `for` of 2
    // minutes, well before the watch takes the new level as normal after 288 sweeps, over half
    // an hour here) through a real Alertmanager to the webhook.
    assert!(
        wait_for(Duration::from_secs(240), || alertmanager
            .notified("CopybenchScalingWorse", |a| why(a)
                .is_some_and(|w| w.contains(&cause)))),
        "no notification of CopybenchScalingWorse with its cause; received {:?}; Prometheus has {:?}",
        alertmanager.webhook.received(),
        prometheus.alert("CopybenchScalingWorse")
    );
    // And the change-point detectors' slowdowns of 2 workers name it as well.
    let (_, changes) = daemon.get("/api/v1/changes?workers=2");
    let changes: Vec<serde_json::Value> = serde_json::from_str(&changes).expect("changes");
    assert!(
        changes
            .iter()
            .any(|c| c["ratio"].as_f64().is_some_and(|r| r > 1.0) && named(c).contains(&cause)),
        "{changes:?}"
    );
    daemon.terminate();
    let replayed = replay(&state.path().join("history.sqlite"), &config);
    assert!(
        agrees(&said, &replayed),
        "the daemon said {said:?}\nthe replay {replayed:?}"
    );
    drop(group);
}

/// A neighbour for a few sweeps that then leaves, from a calm start: a contention transient,
/// no alert.
fn a_neighbour_that_leaves(daemon: &Daemon) {
    // A calm window to start from: the tests beside this one contend for the CPUs too.
    assert!(
        wait_for(Duration::from_secs(120), || daemon
            .sample("copybench_contention_alert")
            == Some(0.0)
            && daemon.sample("copybench_sweep_contended") == Some(0.0)),
        "the host never calmed down; metrics:\n{}",
        daemon.metrics()
    );
    let before = contention_transients(daemon);

    // A neighbour for two sweeps (a stretch of one is not a change), then gone: a few
    // seconds, well within the window.
    let neighbour = Neighbour::start();
    assert!(
        reads(daemon, "copybench_sweep_contended", 1.0, 60),
        "the neighbour's sweeps were not contended"
    );
    let from = sweeps(daemon);
    assert!(
        wait_sweeps(daemon, from + 1.0),
        "the daemon stopped sweeping"
    );
    drop(neighbour);
    assert!(
        wait_for(Duration::from_secs(60), || contention_transients(daemon)
            > before),
        "the neighbour that left was not counted as a transient; alerts {}; metrics:\n{}",
        daemon.get("/api/v1/alerts").1,
        daemon.metrics()
    );
    assert_eq!(daemon.sample("copybench_contention_alert"), Some(0.0));
    assert_eq!(measured_alerts(daemon), Vec::<String>::new());
}

/// Whether `n` more sweeps and the contention window pass within two minutes and the latest
/// sweep was not contended.
fn calm_for(daemon: &Daemon, n: f64) -> bool {
    let (from, started) = (sweeps(daemon), std::time::Instant::now());
    wait_for(Duration::from_secs(120), || {
        sweeps(daemon) >= from + n
            && started.elapsed() >= CONTENTION_WINDOW
            && daemon.sample("copybench_sweep_contended") == Some(0.0)
    })
}

/// `changes --replay --json` of the history at `db` with the daemon's `config`: its alerts.
fn replay(db: &std::path::Path, config: &str) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_file = dir.path().join("config.toml");
    std::fs::write(&config_file, config).expect("config");
    let output = util::command()
        .arg("--config.file")
        .arg(&config_file)
        .args(["changes", "--replay", "--json", "--db"])
        .arg(db)
        .output()
        .expect("replay");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The newest alert of the daemon's `/api/v1/alerts` that `matches`.
fn alert(daemon: &Daemon, matches: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let (_, alerts) = daemon.get("/api/v1/alerts");
    let alerts: Vec<serde_json::Value> = serde_json::from_str(&alerts).expect("alerts");
    alerts
        .iter()
        .rfind(|a| matches(a))
        .cloned()
        .unwrap_or_else(|| panic!("no such alert: {alerts:?}"))
}

/// The causes an alert of `/api/v1/alerts` names, each as "name before -> after".
fn named(alert: &serde_json::Value) -> Vec<String> {
    alert["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let value =
                |v: &serde_json::Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            format!(
                "{} {} -> {}",
                value(&c["name"]),
                value(&c["before"]),
                value(&c["after"])
            )
        })
        .collect()
}

/// Whether `replayed` raised every alert of `said`, in order, at the same sweep with the same
/// ratio, and ended those `said` had ended when it did. (Sweeps the daemon finished after it
/// said them may have ended more, or raised more.)
fn agrees(said: &[serde_json::Value], replayed: &[serde_json::Value]) -> bool {
    let subject = [
        "signal",
        "backend",
        "sync",
        "workers",
        "started_at",
        "ratio",
    ];
    replayed.len() >= said.len()
        && said.iter().zip(replayed).all(|(s, r)| {
            subject.iter().all(|k| s[k] == r[k])
                && (s["ended_at"].is_null() || s["ended_at"] == r["ended_at"])
        })
}
