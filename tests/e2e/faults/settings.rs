//! Settings that are not what they should be: a configuration or web config that is a FIFO or
//! a device, one far too large, and environment variables that are not UTF-8 or not numbers.
//! Each is refused by name, the running configuration is kept, and signals still work.

use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::{Watch, rss_mib};
use crate::util::IDLE;
use crate::util::{self, sample, start_daemon};

/// Makes a FIFO at `path`.
fn fifo(path: &std::path::Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
}

/// Waits until the daemon's last reload failed and its log says `why`.
fn refused(daemon: &util::Daemon, why: &str) {
    assert!(
        daemon.wait_sample("copybench_config_last_reload_successful", 0.0),
        "the reload was not refused"
    );
    assert!(
        daemon.wait_log(Duration::from_secs(10), |l| l.contains("reload failed")
            && l.contains(why)),
        "the log does not say {why:?}: {:?}",
        daemon.logs()
    );
}

#[test]
fn a_config_that_became_a_fifo_is_refused_and_signals_still_work() {
    let daemon = start_daemon(IDLE, &[]);
    let watch = Watch::start(&daemon, &[]);
    let path = daemon.dir.path().join("copybench.toml");
    std::fs::remove_file(&path).expect("remove");
    fifo(&path);
    daemon.signal(Signal::SIGHUP);
    refused(&daemon, "not a regular file");
    // Reloading over HTTP answers at once, with the reason.
    let started = Instant::now();
    let (status, body) = util::http("POST", &daemon.url("/-/reload"), &[]);
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("not a regular file"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The running configuration: the test's hour-long interval.
    assert_eq!(
        sample(&daemon.metrics(), "copybench_schedule_interval_seconds"),
        Some(3600.0)
    );
    watch.check();
    let mut daemon = daemon;
    daemon.signal(Signal::SIGTERM);
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(10)),
        Some(0),
        "SIGTERM after a refused reload"
    );
}

#[test]
fn a_web_config_that_is_a_fifo_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let web = dir.path().join("web.yml");
    fifo(&web);
    let config = dir.path().join("copybench.toml");
    std::fs::write(&config, IDLE).expect("config");
    let started = Instant::now();
    let output = util::command()
        .arg("--config.file")
        .arg(&config)
        .arg(format!("--web.config.file={}", web.display()))
        .args(["--web.listen-address", "127.0.0.1:0"])
        .output()
        .expect("run");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("web.yml: not a regular file"), "{stderr}");
}

#[test]
fn a_config_linked_to_dev_zero_or_too_large_is_refused_and_memory_stays_bounded() {
    // The daemon's configuration file is a link (its start writes the configuration through
    // it), later turned to /dev/zero.
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("copybench.toml");
    std::os::unix::fs::symlink(dir.path().join("real.toml"), &link).expect("symlink");
    let daemon = util::start_daemon_in(dir, IDLE, &[], &[]);
    let before = rss_mib(daemon.pid());
    let watch = Watch::start(&daemon, &[]);
    std::fs::remove_file(&link).expect("unlink");
    std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink to /dev/zero");
    daemon.signal(Signal::SIGHUP);
    refused(&daemon, "not a regular file");
    std::fs::remove_file(&link).expect("unlink");
    let mut big = String::from(IDLE);
    while big.len() <= 2 << 20 {
        big.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&link, big).expect("a 2 MiB file");
    daemon.signal(Signal::SIGHUP);
    refused(&daemon, "larger than the 1048576 bytes");
    assert!(
        rss_mib(daemon.pid()) < before + 20.0,
        "{:.0} MiB, {before:.0} before",
        rss_mib(daemon.pid())
    );
    watch.check();
    let (_, body) = daemon.get("/probe?lines=200");
    assert_eq!(
        sample(&body, "copybench_probe_success"),
        Some(1.0),
        "{body}"
    );
}

/// `check-config` on the shipped-default `IDLE` configuration with `key=value` added to the
/// environment (the value's raw bytes); its exit status and standard error.
fn check_config_with(key: &[u8], value: &[u8]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a.toml");
    std::fs::write(&file, IDLE).expect("config");
    let output = util::command()
        .arg("check-config")
        .arg(&file)
        .env(
            std::ffi::OsStr::from_bytes(key),
            std::ffi::OsStr::from_bytes(value),
        )
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

#[test]
fn environment_variables_are_read_only_under_the_prefix_and_bad_ones_named() {
    // Any other variable may be anything, even not UTF-8.
    assert_eq!(check_config_with(b"JUNK", b"\xff").0, Some(0));
    for (key, value, said) in [
        (
            &b"COPYBENCH__WORKLOAD__LINES"[..],
            &b"\xff"[..],
            "COPYBENCH__WORKLOAD__LINES: the variable is not UTF-8",
        ),
        (
            b"COPYBENCH__ANALYSIS__MAX_CV",
            b"NaN",
            "COPYBENCH__ANALYSIS__MAX_CV: \"NaN\" is not a finite number",
        ),
        (
            b"COPYBENCH__SCHEDULE__MAX_DUTY_CYCLE",
            b"inf",
            "COPYBENCH__SCHEDULE__MAX_DUTY_CYCLE: \"inf\" is not a finite number",
        ),
        (
            b"COPYBENCH__",
            b"x",
            "COPYBENCH__: not a variable of the form COPYBENCH__SECTION__KEY",
        ),
    ] {
        let (status, stderr) = check_config_with(key, value);
        assert_eq!(status, Some(1), "{stderr}");
        assert!(stderr.contains(said), "{said:?} not in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
