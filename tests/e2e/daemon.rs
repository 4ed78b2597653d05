//! The exporter daemon: configuration, reloads, probes, timeouts, state and shutdown.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::util::{
    self, IDLE, TINY, TestConfig, children_of, entries, exists, sample, start_daemon,
    start_daemon_in, wait_for,
};

/// A probe that runs until the scrape timeout it is given stops it.
const SLOW_PROBE: &str = "/probe?backend=thread&workers=1&lines=200000";

pub const SERIES: &str = r#"{backend="thread",sync="none",workers="1"}"#;

#[test]
fn metrics_cover_every_combination_and_pass_promtool() {
    let daemon = start_daemon(TINY, &[]);
    assert!(daemon.wait_for_sweep(), "no sweep completed");
    let (status, page) = daemon.get("/");
    assert_eq!(status, 200);
    assert!(
        page.contains("<svg") && page.contains("Throughput by pool size"),
        "no scaling chart on the landing page"
    );
    let text = daemon.metrics();
    for backend in ["process", "thread"] {
        for sync in ["none", "lock"] {
            for workers in ["1", "2"] {
                let series = format!(
                    r#"copybench_last_run_duration_seconds{{backend="{backend}",sync="{sync}",workers="{workers}"}}"#
                );
                let value = sample(&text, &series).unwrap_or_else(|| panic!("{series} missing"));
                assert!(value > 0.0, "{series} = {value}");
            }
        }
    }
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool must be installed (Debian package prometheus)");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = promtool.wait_with_output().expect("promtool");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}"
    );
}

#[test]
fn combinations_are_exported_before_their_first_run() {
    let daemon = start_daemon(IDLE, &[]);
    let text = daemon.metrics();
    let duration = sample(
        &text,
        &format!("copybench_last_run_duration_seconds{SERIES}"),
    )
    .expect("declared");
    assert!(duration.is_nan());
    assert_eq!(
        sample(&text, &format!("copybench_runs_total{SERIES}")),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "copybench_config_last_reload_successful"),
        Some(1.0)
    );
    assert!(text.contains("copybench_build_info{"));
    let (status, page) = daemon.get("/");
    assert_eq!(status, 200);
    assert!(
        page.contains("href=\"metrics\"") && page.contains("not run yet"),
        "{page}"
    );
    assert_eq!(daemon.get("/-/healthy").0, 200);
    assert_eq!(daemon.get("/-/ready").0, 200);
    assert_eq!(daemon.get("/nope").0, 404);
}

#[test]
fn file_then_environment_then_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = TestConfig::from(IDLE)
        .set("schedule.run_at_start", true)
        .set("workload.lines", 100)
        .set("web.listen_address", "127.0.0.1:1")
        .set("metrics.detail", "full")
        .text();
    let env = [
        ("COPYBENCH__WORKLOAD__LINES", "200"),
        ("COPYBENCH__WEB__LISTEN_ADDRESS", "127.0.0.1:2"),
    ];
    let daemon = start_daemon_in(dir, &config, &env, &["--web.listen-address=127.0.0.1:0"]);
    assert!(
        !daemon.address.ends_with(":1") && !daemon.address.ends_with(":2"),
        "flag lost: {}",
        daemon.address
    );
    let runs = format!("copybench_runs_total{SERIES}");
    assert!(daemon.wait_sample(&runs, 1.0), "no run");
    assert_eq!(
        daemon.sample(&format!("copybench_last_run_lines{SERIES}")),
        Some(200.0),
        "environment lost to the file"
    );
    let text = daemon.metrics();
    assert!(
        !text.contains(r#"workers="2""#),
        "the file's workers = [1] lost to the defaults"
    );
}

#[test]
fn every_kind_of_bad_config_names_its_keys_and_exits_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("[workload]\nworkers = [0]\n", vec!["workload.workers"]),
        (
            "[workload]\nbackends = [\"fork\"]\n",
            vec!["workload.backends"],
        ),
        ("[schedule]\ninterval = \"0s\"\n", vec!["schedule.interval"]),
        (
            "[web]\nlisten_address = \"127.0.0.1:70000\"\n",
            vec!["web.listen_address"],
        ),
        ("[workload]\nlines = \"many\"\n", vec!["workload.lines"]),
        (
            "[workload]\nlines = 1000000000000\n[probe]\nmax_lines = 2000000\n",
            vec![
                "workload.lines: must be between 1 and 1000000",
                "probe.max_lines: must be between 1 and 1000000",
            ],
        ),
        (
            "[probe]\nmax_workers = 99999999999\n[web]\nmax_connections = 0\n",
            vec!["probe.max_workers", "web.max_connections"],
        ),
        (
            "[workload]\ncolour = 1\n",
            vec!["workload.colour: unknown key"],
        ),
        (
            "[schedule]\ninterval = \"soon\"\n[probe]\nmax_lines = 0\n[log]\nlevel = \"loud\"\n",
            vec!["schedule.interval", "probe.max_lines", "log.level"],
        ),
        ("[web\n", vec!["cannot load configuration"]),
    ];
    for (text, keys) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).expect("write");
        for args in [
            vec!["check-config".to_owned(), path.display().to_string()],
            vec!["--config.file".to_owned(), path.display().to_string()],
        ] {
            let out = util::command().args(&args).output().expect("run");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{args:?} with {text:?}: {stderr}"
            );
            for key in &keys {
                assert!(
                    stderr.contains(key),
                    "{key} not named for {text:?}:\n{stderr}"
                );
            }
        }
    }
    let out = util::command()
        .arg("print-default-config")
        .output()
        .expect("print");
    let default = dir.path().join("default.toml");
    std::fs::write(&default, &out.stdout).expect("write default");
    let check = util::command()
        .arg("check-config")
        .arg(&default)
        .output()
        .expect("check");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn check_config_reads_the_file_once_and_checks_the_workdir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "").expect("write");
    let missing = dir.path().join("gone");
    let bad_workdir = dir.path().join("workdir.toml");
    std::fs::write(
        &bad_workdir,
        format!(
            "[workload]\nworkdir = {:?}\n",
            missing.display().to_string()
        ),
    )
    .expect("write");
    let typo = dir.path().join("typo.toml");
    let run = |args: &[&std::path::Path]| {
        let out = util::command().args(args).output().expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let check = std::path::Path::new("check-config");
    let flag = std::path::Path::new("--config.file");
    let (code, stderr) = run(&[check, &good, flag, &typo]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("two files given"), "{stderr}");
    assert_eq!(
        run(&[check, flag, &good]).0,
        Some(0),
        "the flag names the file"
    );
    let (code, stderr) = run(&[check, &bad_workdir]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("workload.workdir") && stderr.contains("gone"),
        "{stderr}"
    );
    let print = std::path::Path::new("print-default-config");
    let (code, stderr) = run(&[print, flag, &good]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("takes no --config.file"), "{stderr}");
}

#[test]
fn reload_applies_a_good_file_and_keeps_running_on_a_bad_one() {
    let daemon = start_daemon(IDLE, &[]);
    let path = daemon.dir.path().join("copybench.toml");
    let more = TestConfig::from(IDLE).set("workload.workers", vec![1, 3]);
    std::fs::write(&path, more.text()).expect("rewrite");
    daemon.signal(Signal::SIGHUP);
    let three = r#"copybench_runs_total{backend="thread",sync="none",workers="3"}"#;
    assert!(
        wait_for(Duration::from_secs(10), || daemon.sample(three).is_some()),
        "SIGHUP reload not applied"
    );

    std::fs::write(&path, "[workload]\nworkers = [0]\n").expect("break");
    let (status, body) = util::http("POST", &daemon.url("/-/reload"), &[]);
    assert_eq!(status, 500);
    assert!(body.contains("workload.workers"), "{body}");
    assert_eq!(
        daemon.sample("copybench_config_last_reload_successful"),
        Some(0.0)
    );
    assert!(
        daemon.sample(three).is_some(),
        "running config replaced by a bad one"
    );

    std::fs::write(&path, IDLE).expect("fix");
    assert_eq!(util::http("POST", &daemon.url("/-/reload"), &[]).0, 200);
    assert_eq!(
        daemon.sample("copybench_config_last_reload_successful"),
        Some(1.0)
    );

    // Keys read only at start-up are named, in the answer and the log.
    let later = format!("{IDLE}[metrics]\nper_cpu = false\n[log]\nlevel = \"debug\"\n");
    std::fs::write(&path, later).expect("rewrite");
    let (status, body) = util::http("POST", &daemon.url("/-/reload"), &[]);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("[metrics], [log] changed and apply after a restart"),
        "{body}"
    );
    assert!(
        daemon.wait_log(Duration::from_secs(5), |l| l.contains("WARN")
            && l.contains("apply after a restart")),
        "{:?}",
        daemon.logs()
    );
}

#[test]
fn an_empty_configuration_file_is_warned_about() {
    // The environment keeps the defaults' sweep from starting.
    let daemon = start_daemon(
        "# nothing here\n\n",
        &[("COPYBENCH__SCHEDULE__RUN_AT_START", "false")],
    );
    assert!(
        daemon.wait_log(Duration::from_secs(5), |l| l.contains("WARN")
            && l.contains("sets nothing")),
        "{:?}",
        daemon.logs()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").expect("write");
    let out = util::command()
        .arg("check-config")
        .arg(&empty)
        .output()
        .expect("check-config");
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sets nothing"),
        "{out:?}"
    );
}

#[test]
fn probes_answer_good_bad_and_busy() {
    let daemon = start_daemon(IDLE, &[]);
    let (status, body) = daemon.get("/probe?backend=process&sync=lock&workers=2&lines=500");
    assert_eq!(status, 200, "{body}");
    assert_eq!(sample(&body, "copybench_probe_success"), Some(1.0));
    assert_eq!(
        sample(
            &body,
            r#"copybench_disorder_lines{backend="process",sync="lock",workers="2"}"#
        ),
        Some(0.0)
    );
    assert!(
        !body.contains("copybench_runs_total"),
        "probe carries daemon-wide metrics"
    );

    for query in ["backend=fork", "workers=9", "lines=0", "colour=red"] {
        let (status, body) = daemon.get(&format!("/probe?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body.trim().lines().count(), 1, "{query}: {body}");
    }

    let slow = daemon.url(SLOW_PROBE);
    let first = std::thread::spawn(move || {
        util::http(
            "GET",
            &slow,
            &[("X-Prometheus-Scrape-Timeout-Seconds", "3")],
        )
    });
    assert!(
        daemon.wait_sample("copybench_run_in_progress", 1.0),
        "first probe never started"
    );
    let (status, headers, body) =
        util::http_with_headers("GET", &daemon.url("/probe?lines=10"), &[]);
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        headers
            .get("retry-after")
            .map(|v| v.to_str().unwrap_or_default()),
        Some("1"),
        "a busy probe says when to retry"
    );
    assert_eq!(first.join().expect("first probe").0, 200);
}

#[test]
fn probes_are_rate_limited_and_counted_by_result() {
    let config = TestConfig::from(IDLE)
        .set("probe.min_interval", "30s")
        .text();
    let daemon = start_daemon(&config, &[]);
    assert_eq!(daemon.get("/probe?lines=100").0, 200);
    let (status, headers, body) =
        util::http_with_headers("GET", &daemon.url("/probe?lines=100"), &[]);
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("min_interval"), "{body}");
    let retry: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(daemon.get("/probe?workers=0").0, 400);
    for (result, count) in [
        ("success", 1.0),
        ("failure", 0.0),
        ("rate_limited", 1.0),
        ("bad_request", 1.0),
        ("busy", 0.0),
        ("disabled", 0.0),
    ] {
        assert_eq!(
            daemon.sample(&format!("copybench_probes_total{{result=\"{result}\"}}")),
            Some(count),
            "{result}"
        );
    }
}

#[test]
fn reload_over_http_is_off_by_default_and_never_from_another_site() {
    let off = TestConfig::from(IDLE).unset("web.enable_reload").text();
    let daemon = start_daemon(&off, &[]);
    let (status, body) = util::http("POST", &daemon.url("/-/reload"), &[]);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("enable_reload"), "{body}");
    drop(daemon);

    let daemon = start_daemon(IDLE, &[]);
    let url = daemon.url("/-/reload");
    let own = format!("http://{}", daemon.address);
    for headers in [
        vec![("Origin", "http://evil.example")],
        vec![("Sec-Fetch-Site", "cross-site")],
    ] {
        let (status, body) = util::http("POST", &url, &headers);
        assert_eq!(status, 403, "{headers:?}: {body}");
    }
    assert_eq!(util::http("POST", &url, &[("Origin", &own)]).0, 200);
    assert_eq!(
        util::http("POST", &url, &[]).0,
        200,
        "curl and SIGHUP-style tools"
    );
}

#[test]
fn probes_explain_themselves_and_are_kept_in_the_history_apart() {
    let daemon = start_daemon(IDLE, &[]);
    let (status, text) = daemon.get("/probe?workers=2&lines=300&debug=true");
    assert_eq!(status, 200, "{text}");
    for needle in [
        "Logs for the probe:\n",
        "Beginning probe backend=thread sync=none workers=2 lines=300",
        "Run completed in ",
        "Probe succeeded",
        "Metrics that would have been returned:\n",
        "copybench_probe_success 1",
        "Run record:\n",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    // A timeout: the scraper allows 0.6 s, the run needs far longer.
    let (status, text) = util::http(
        "GET",
        &daemon.url(&format!("{SLOW_PROBE}&debug=true")),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "0.6")],
    );
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Probe failed (timeout)"), "{text}");
    assert!(
        daemon.wait_log(Duration::from_secs(5), |l| l.contains("WARN")
            && l.contains("probe failed")
            && l.contains("timeout")),
        "failed probe not logged at warn: {:?}",
        daemon.logs()
    );
    let (_, runs) = daemon.get("/api/v1/runs?probe=true");
    let runs: serde_json::Value = serde_json::from_str(&runs).expect("runs JSON");
    let runs = runs.as_array().expect("array");
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| r["probe"] == true), "{runs:?}");
    assert_eq!(runs[0]["failure"]["reason"], "timeout");
    let (_, scheduled) = daemon.get("/api/v1/runs?probe=false");
    assert_eq!(scheduled.trim(), "[]", "no sweep has run");
    assert_eq!(
        daemon.sample(&format!("copybench_runs_total{SERIES}")),
        Some(0.0),
        "probes are not counted as scheduled runs"
    );
    assert!(
        daemon
            .metrics()
            .contains(&format!("copybench_last_run_success{SERIES} NaN")),
        "a probe is not the combination's latest run"
    );
}

#[test]
fn head_works_wherever_get_does_and_405s_say_what_is_allowed() {
    let daemon = start_daemon(IDLE, &[]);
    for path in ["/metrics", "/", "/-/healthy", "/api/v1/runs"] {
        let (status, headers, body) = util::http_with_headers("HEAD", &daemon.url(path), &[]);
        assert_eq!(status, 200, "HEAD {path}");
        assert!(body.is_empty(), "HEAD {path} sent a body");
        assert!(headers.contains_key("content-type"), "HEAD {path}");
    }
    for (method, path, allow) in [
        ("PUT", "/metrics", "GET, HEAD"),
        ("DELETE", "/probe", "GET, HEAD"),
        ("GET", "/-/reload", "POST"),
    ] {
        let (status, headers, _) = util::http_with_headers(method, &daemon.url(path), &[]);
        assert_eq!(status, 405, "{method} {path}");
        assert_eq!(
            headers.get("allow").map(|v| v.to_str().unwrap_or_default()),
            Some(allow),
            "{method} {path}"
        );
    }
}

#[test]
fn a_probe_that_outlives_the_scrape_timeout_fails_with_success_zero() {
    let daemon = start_daemon(IDLE, &[]);
    let url = daemon.url("/probe?backend=process&workers=2&lines=200000");
    let (status, body) = util::http(
        "GET",
        &url,
        &[("X-Prometheus-Scrape-Timeout-Seconds", "0.7")],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sample(&body, "copybench_probe_success"),
        Some(0.0),
        "{body}"
    );
    assert!(
        sample(&body, "copybench_probe_duration_seconds").is_some_and(|s| s < 5.0),
        "{body}"
    );
    assert!(entries(&daemon.scratch()).is_empty());
}

#[test]
fn a_run_over_its_timeout_is_recorded_as_a_timeout() {
    let config = TestConfig::from(IDLE)
        .set("schedule.run_at_start", true)
        .set("schedule.run_timeout", "300ms")
        .set("workload.lines", 100_000)
        .text();
    let daemon = start_daemon(&config, &[]);
    let failures = format!("copybench_run_failures_total{SERIES}");
    assert!(daemon.wait_sample(&failures, 1.0), "no failure recorded");
    assert_eq!(
        daemon.sample(r#"copybench_run_failure_reasons_total{reason="timeout"}"#),
        Some(1.0),
        "no timeout recorded"
    );
    assert_eq!(
        daemon.sample(&format!("copybench_last_run_success{SERIES}")),
        Some(0.0)
    );
    let (_, runs) = daemon.get("/api/v1/runs");
    let runs: serde_json::Value = serde_json::from_str(&runs).expect("runs JSON");
    assert_eq!(runs[0]["failure"]["reason"], "timeout", "{runs}");
    assert!(entries(&daemon.scratch()).is_empty(), "scratch left behind");
}

#[test]
fn sigterm_during_a_run_stops_workers_after_the_grace_period() {
    let config = r#"
[schedule]
interval = "1h"
shutdown_grace = "500ms"
[workload]
backends = ["process"]
sync = ["none"]
workers = [2]
lines = 100000
"#;
    let mut daemon = start_daemon(config, &[]);
    let mut workers = Vec::new();
    assert!(
        wait_for(Duration::from_secs(20), || {
            workers = children_of(daemon.child.id());
            workers.len() == 2
        }),
        "workers never started"
    );
    let took = daemon.terminate();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(10),
        "exit {took:?} after SIGTERM; the run should get its 500ms grace and no more"
    );
    for pid in workers {
        assert!(!exists(pid), "worker {pid} outlived the daemon");
    }
    assert!(
        entries(&daemon.scratch()).is_empty(),
        "scratch left behind: {:?}",
        entries(&daemon.scratch())
    );
}

/// A daemon with `shutdown_grace` and a slow probe running; the probe's answer when joined.
fn slow_probe_in_flight(grace: &str) -> (util::Daemon, std::thread::JoinHandle<(u16, String)>) {
    let config = TestConfig::from(IDLE)
        .set("schedule.shutdown_grace", grace)
        .text();
    let daemon = start_daemon(&config, &[]);
    let slow = daemon.url(SLOW_PROBE);
    let probe = std::thread::spawn(move || util::http("GET", &slow, &[]));
    assert!(
        daemon.wait_sample("copybench_run_in_progress", 1.0),
        "probe never started"
    );
    (daemon, probe)
}

#[test]
fn shutdown_stops_a_probe_in_flight_after_the_grace_period() {
    let (mut daemon, probe) = slow_probe_in_flight("500ms");
    let took = daemon.terminate();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(10),
        "exit {took:?} after SIGTERM; the probe should get its 500ms grace and no more"
    );
    let (status, body) = probe.join().expect("probe thread");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sample(&body, "copybench_probe_success"),
        Some(0.0),
        "{body}"
    );
    assert!(entries(&daemon.scratch()).is_empty(), "scratch left behind");
}

#[test]
fn a_second_stop_signal_ends_the_grace_period_at_once() {
    let (mut daemon, probe) = slow_probe_in_flight("60s");
    daemon.signal(Signal::SIGTERM);
    assert!(
        daemon.wait_log(Duration::from_secs(10), |l| l.contains("shutting down")),
        "no shutdown: {:?}",
        daemon.logs()
    );
    let again = std::time::Instant::now();
    daemon.signal(Signal::SIGINT);
    assert_eq!(daemon.wait_exit(Duration::from_secs(20)), Some(0));
    assert!(
        again.elapsed() < Duration::from_secs(10),
        "exit {:?} after the second signal, within a 60 s grace period",
        again.elapsed()
    );
    let (status, body) = probe.join().expect("probe thread");
    assert_eq!(status, 200, "{body}");
    assert_eq!(sample(&body, "copybench_probe_success"), Some(0.0));
    assert!(entries(&daemon.scratch()).is_empty(), "scratch left behind");
}

#[test]
fn text_logs_to_a_pipe_carry_no_colours() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("copybench.toml");
    std::fs::write(&config, IDLE).expect("write config");
    let mut child = util::command()
        .arg("--config.file")
        .arg(&config)
        .args([
            "--log.format",
            "text",
            "--web.listen-address",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start daemon");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, inbox) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let listening = std::iter::from_fn(|| inbox.recv_timeout(Duration::from_secs(20)).ok())
        .find(|line| line.contains("listening"));
    let _ = child.kill();
    let _ = child.wait();
    let line = listening.expect("no listening line");
    assert!(line.contains("INFO"), "{line}");
    assert!(!line.contains('\u{1b}'), "colour codes in {line:?}");
}

#[test]
fn a_probe_whose_scraper_hangs_up_is_cancelled() {
    let daemon = start_daemon(IDLE, &[]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(500)))
        .build()
        .into();
    assert!(
        agent.get(&daemon.url(SLOW_PROBE)).call().is_err(),
        "the slow probe answered in time"
    );
    assert!(
        daemon.wait_sample("copybench_run_in_progress", 0.0),
        "the abandoned run went on"
    );
    let (status, body) = daemon.get("/probe?lines=100");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sample(&body, "copybench_probe_success"),
        Some(1.0),
        "{body}"
    );
    assert!(
        wait_for(Duration::from_secs(5), || entries(&daemon.scratch())
            .is_empty()),
        "scratch left behind"
    );
}

#[test]
fn scratch_left_by_a_killed_daemon_is_removed_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stale = dir
        .path()
        .join("scratch")
        .join(format!("copybench-{}-left", u32::MAX));
    std::fs::create_dir_all(&stale).expect("stale scratch");
    let daemon = start_daemon_in(dir, IDLE, &[], &[]);
    assert!(!stale.exists(), "stale scratch kept");
    assert!(
        daemon
            .logs()
            .iter()
            .any(|l| l.contains("left by a killed process"))
    );
}
