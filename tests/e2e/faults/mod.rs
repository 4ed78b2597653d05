//! The fault suite: each class of fault a run or the daemon can meet, made for real. After
//! each, the run is recorded as failed with the right reason, the daemon keeps serving, and no
//! worker process, file descriptor or scratch directory is left. The tmpfs faults mount file
//! systems and need root. Clients that misbehave ([`clients`]), settings files that are not
//! files ([`settings`]) and the system's limits ([`limits`]) have files of their own; each of
//! those checks that health and scrapes are answered within a bound throughout ([`Watch`]).

mod clients;
mod limits;
mod settings;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::util::IDLE;
use crate::util::{self, Daemon, TestConfig, children_of, entries, sample, start_daemon, wait_for};

/// A probe that runs for minutes unless something stops it.
const LONG_PROCESS_PROBE: &str = "/probe?backend=process&workers=3&lines=200000";

/// How long a health check or a scrape may take while a fault is under way.
const ANSWER_BOUND: Duration = Duration::from_secs(5);

/// Asks `/-/healthy` and scrapes `/metrics` every 100 ms on a thread of its own, each on a
/// fresh connection, until it is checked.
struct Watch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    asked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    thread: std::thread::JoinHandle<Vec<String>>,
}

impl Watch {
    /// Starts watching `daemon`, sending `headers` (credentials) with each request.
    fn start(daemon: &Daemon, headers: &[(&str, &str)]) -> Watch {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = std::sync::Arc::clone(&stop);
        let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = std::sync::Arc::clone(&asked);
        let base = daemon.url("");
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        let thread = std::thread::spawn(move || {
            let mut failures = Vec::new();
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                for path in ["/-/healthy", "/metrics"] {
                    count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let started = std::time::Instant::now();
                    match bounded_get(&format!("{base}{path}"), &headers) {
                        Ok(200) if started.elapsed() <= ANSWER_BOUND => {}
                        Ok(status) => {
                            failures.push(format!("{path}: {status} in {:?}", started.elapsed()))
                        }
                        Err(e) => {
                            failures.push(format!("{path}: {e} after {:?}", started.elapsed()))
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            failures
        });
        Watch {
            stop,
            asked,
            thread,
        }
    }

    /// Lets a few more requests be made, stops, and checks that every request was answered
    /// 200 within [`ANSWER_BOUND`].
    fn check(self) {
        let asked = || self.asked.load(std::sync::atomic::Ordering::Relaxed);
        let enough = asked() + 4;
        assert!(
            wait_for(3 * ANSWER_BOUND, || asked() >= enough),
            "the watch stopped asking"
        );
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let failures = self.thread.join().expect("watch");
        let asked = asked();
        assert!(
            failures.is_empty(),
            "{} of {asked} not answered in time: {failures:?}",
            failures.len()
        );
    }
}

/// GET `url` on a connection of its own, giving up after [`ANSWER_BOUND`]; its status.
fn bounded_get(url: &str, headers: &[(String, String)]) -> Result<u16, ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(ANSWER_BOUND))
        .max_idle_connections(0)
        .build()
        .into();
    let mut request = agent.get(url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let mut response = request.call()?;
    let _ = response.body_mut().read_to_vec();
    Ok(response.status().as_u16())
}

/// The resident memory of process `pid`, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The threads of process `pid`.
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, Iterator::count)
}

/// CPU time (user and system) process `pid` used so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks
        / nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .map_or(100.0, |t| t as f64)
}

/// A tmpfs mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs with mount `options` (e.g. `size=256k`, `ro`).
    fn mount(options: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "copybench-test"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "cannot mount a tmpfs: this test needs root"
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Open file descriptors of process `pid`.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// Starts the idle daemon with its runs in `workdir` (its own scratch directory if `None`),
/// and returns it with its open descriptors at rest.
fn daemon_in(workdir: Option<&Path>) -> (Daemon, usize) {
    let workdir = workdir.map(|p| p.display().to_string());
    let env: Vec<(&str, &str)> = workdir
        .iter()
        .map(|w| ("COPYBENCH__WORKLOAD__WORKDIR", w.as_str()))
        .collect();
    let daemon = start_daemon(IDLE, &env);
    let at_rest = at_rest(&daemon);
    (daemon, at_rest)
}

/// The daemon's open descriptors at rest, after one answered request (so that the runtime's
/// lazily opened ones are counted).
fn at_rest(daemon: &Daemon) -> usize {
    assert_eq!(daemon.get("/-/healthy").0, 200);
    // The fewest over half a second: the health check's own connection may still be open
    // for a moment.
    (0..10)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(50));
            fds(daemon.pid())
        })
        .min()
        .unwrap_or_default()
}

/// The reason the newest probe run failed with.
fn last_probe_failure(daemon: &Daemon) -> String {
    let (_, runs) = daemon.get("/api/v1/runs?probe=true&limit=1");
    let runs: serde_json::Value = serde_json::from_str(&runs).expect("runs JSON");
    runs[0]["failure"]["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("no failed probe run: {runs}"))
        .to_owned()
}

/// The daemon still serves, and has no worker, no extra descriptor and no scratch directory
/// in `workdir` left.
fn survived(daemon: &Daemon, at_rest: usize, workdir: &Path) {
    assert_eq!(daemon.get("/-/healthy").0, 200, "not serving");
    assert!(
        wait_for(Duration::from_secs(10), || children_of(daemon.pid())
            .is_empty()),
        "workers left: {:?}",
        children_of(daemon.pid())
    );
    assert!(
        wait_for(Duration::from_secs(10), || fds(daemon.pid()) <= at_rest),
        "descriptors left: {} open, {at_rest} at rest",
        fds(daemon.pid())
    );
    assert!(
        entries(workdir).is_empty(),
        "scratch left: {:?}",
        entries(workdir)
    );
}

/// Starts `path` as a probe on another thread; returns its (status, body) when joined.
fn probe_in_background(
    daemon: &Daemon,
    path: &str,
    scrape_timeout: Option<&'static str>,
) -> std::thread::JoinHandle<(u16, String)> {
    let url = daemon.url(path);
    std::thread::spawn(move || {
        let headers: Vec<(&str, &str)> = scrape_timeout
            .map(|t| ("X-Prometheus-Scrape-Timeout-Seconds", t))
            .into_iter()
            .collect();
        util::http("GET", &url, &headers)
    })
}

/// The worker processes of the daemon's run, once `n` of them are up.
fn workers(daemon: &Daemon, n: usize) -> Vec<i32> {
    let mut found = Vec::new();
    let up = wait_for(Duration::from_secs(20), || {
        found = children_of(daemon.pid());
        found.len() == n
    });
    assert!(up, "{n} workers did not start: {found:?}");
    found
}

/// A probe's answer says it failed.
fn failed(answer: (u16, String)) {
    let (status, body) = answer;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sample(&body, "copybench_probe_success"),
        Some(0.0),
        "{body}"
    );
}

#[test]
fn a_killed_worker_fails_the_run_as_worker_exit() {
    let (daemon, at_rest) = daemon_in(None);
    let probe = probe_in_background(&daemon, LONG_PROCESS_PROBE, None);
    let victims = workers(&daemon, 3);
    kill(Pid::from_raw(victims[1]), Signal::SIGKILL).expect("kill a worker");
    failed(probe.join().expect("probe"));
    assert_eq!(last_probe_failure(&daemon), "worker_exit");
    survived(&daemon, at_rest, &daemon.scratch());
}

#[test]
fn a_stopped_worker_fails_the_run_as_timeout() {
    let (daemon, at_rest) = daemon_in(None);
    let probe = probe_in_background(&daemon, LONG_PROCESS_PROBE, Some("3"));
    let victims = workers(&daemon, 3);
    kill(Pid::from_raw(victims[0]), Signal::SIGSTOP).expect("stop a worker");
    failed(probe.join().expect("probe"));
    assert_eq!(last_probe_failure(&daemon), "timeout");
    survived(&daemon, at_rest, &daemon.scratch());
}

#[test]
fn a_run_over_its_timeout_fails_as_timeout() {
    let (daemon, at_rest) = daemon_in(None);
    failed(
        probe_in_background(&daemon, LONG_PROCESS_PROBE, Some("1.5"))
            .join()
            .expect("probe"),
    );
    assert_eq!(last_probe_failure(&daemon), "timeout");
    survived(&daemon, at_rest, &daemon.scratch());
}

#[test]
fn a_full_disk_fails_the_run_as_io_before_it_writes() {
    let disk = Tmpfs::mount("size=256k");
    let (daemon, at_rest) = daemon_in(Some(disk.path()));
    // About 190 kB of input and 1.4 MB of output: more than the disk holds.
    for backend in ["thread", "process"] {
        let path = format!("/probe?backend={backend}&workers=2&lines=20000");
        failed(
            probe_in_background(&daemon, &path, None)
                .join()
                .expect("probe"),
        );
        assert_eq!(last_probe_failure(&daemon), "io", "{backend}");
    }
    let (_, debug) = daemon.get("/probe?lines=20000&debug=true");
    assert!(
        debug.contains("bytes free; the run writes up to"),
        "{debug}"
    );
    // A run that fits still succeeds.
    let (_, body) = daemon.get("/probe?lines=500");
    assert_eq!(
        sample(&body, "copybench_probe_success"),
        Some(1.0),
        "{body}"
    );
    survived(&daemon, at_rest, disk.path());
}

#[test]
fn a_read_only_workdir_fails_runs_as_io_and_readiness() {
    let disk = Tmpfs::mount("ro,size=1m");
    let (daemon, at_rest) = daemon_in(Some(disk.path()));
    failed(daemon.get("/probe?lines=100"));
    assert_eq!(last_probe_failure(&daemon), "io");
    let (status, body) = daemon.get("/-/ready");
    assert_eq!(status, 503, "{body}");
    survived(&daemon, at_rest, disk.path());
}

#[test]
fn a_garbled_or_deleted_config_keeps_the_running_one() {
    let (daemon, at_rest) = daemon_in(None);
    let path = daemon.dir.path().join("copybench.toml");
    for (what, fault) in [
        ("garbled", Some("[schedule\ninterval = ")),
        ("deleted", None),
    ] {
        match fault {
            Some(text) => std::fs::write(&path, text).expect("garble"),
            None => std::fs::remove_file(&path).expect("delete"),
        }
        daemon.signal(Signal::SIGHUP);
        assert!(
            daemon.wait_sample("copybench_config_last_reload_successful", 0.0),
            "{what}: reload not refused"
        );
        let (_, body) = daemon.get("/probe?lines=200");
        assert_eq!(
            sample(&body, "copybench_probe_success"),
            Some(1.0),
            "{what}: {body}"
        );
        // The test's hour-long interval, not the built-in five minutes.
        assert_eq!(
            sample(&daemon.metrics(), "copybench_schedule_interval_seconds"),
            Some(3600.0),
            "{what}: the running configuration was lost"
        );
        std::fs::write(&path, IDLE).expect("restore");
        daemon.signal(Signal::SIGHUP);
        assert!(daemon.wait_sample("copybench_config_last_reload_successful", 1.0));
    }
    survived(&daemon, at_rest, &daemon.scratch());
}

#[test]
fn a_corrupt_history_is_set_aside_and_a_new_one_started() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state: PathBuf = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    std::fs::write(
        state.join("history.sqlite"),
        b"not a database, not even close",
    )
    .expect("corrupt");
    let state_dir = state.display().to_string();
    let daemon = util::start_daemon_in(
        dir,
        IDLE,
        &[("COPYBENCH__STATE__DIR", state_dir.as_str())],
        &[],
    );
    let at_rest = at_rest(&daemon);
    let (_, body) = daemon.get("/probe?lines=200");
    assert_eq!(
        sample(&body, "copybench_probe_success"),
        Some(1.0),
        "{body}"
    );
    let (_, runs) = daemon.get("/api/v1/runs?probe=true");
    assert!(
        runs.contains("\"probe\":true"),
        "the new history keeps runs: {runs}"
    );
    let aside: Vec<String> = entries(&state)
        .into_iter()
        .filter(|n| n.starts_with("history.sqlite.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{:?}", entries(&state));
    survived(&daemon, at_rest, &daemon.scratch());
}

#[test]
fn a_flood_of_idle_connections_leaves_room_for_runs() {
    // The first sweep starts 2 s after start-up, with the flood in place.
    let config = TestConfig::from(IDLE)
        .set("schedule.interval", "2s")
        .set("workload.workers", vec![1, 2, 4])
        .set("workload.repeats", 2)
        .set("web.max_connections", 32)
        .text();
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = util::start_daemon_wrapped(
        &["prlimit", "--nofile=128:512"],
        std::path::Path::new(util::BIN),
        dir,
        &config,
        &[],
        &[],
    );
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", daemon.pid())).expect("limits");
    let files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("open files line");
    assert_eq!(
        files.split_whitespace().filter(|w| *w == "512").count(),
        2,
        "soft limit not raised to the hard one: {files}"
    );
    // More idle connections than the soft limit the daemon started with (beyond 32 + the
    // listen backlog, a client's connect waits in the kernel).
    let flood: Vec<std::net::TcpStream> = (0..150)
        .map(|_| std::net::TcpStream::connect(&daemon.address).expect("connect"))
        .collect();
    assert!(
        daemon.wait_log(Duration::from_secs(90), |l| l.contains("sweep done")),
        "no sweep under the flood: {:?}",
        daemon.logs()
    );
    drop(flood);
    let (status, runs) = daemon.get("/api/v1/runs?probe=false");
    assert_eq!(status, 200, "{runs}");
    let runs: serde_json::Value = serde_json::from_str(&runs).expect("runs JSON");
    let runs = runs.as_array().expect("array");
    assert!(runs.len() >= 6, "{runs:?}");
    assert!(
        runs.iter().all(|r| r["success"] == true),
        "runs failed under the flood: {runs:?}"
    );
    assert!(entries(&daemon.scratch()).is_empty(), "scratch left behind");
}

#[test]
fn process_runs_survive_the_binary_being_deleted() {
    let bin_dir = tempfile::tempdir().expect("tempdir");
    let copy = bin_dir.path().join("copybench_exporter");
    std::fs::copy(util::BIN, &copy).expect("copy the binary");
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = util::start_daemon_wrapped(&[], &copy, dir, IDLE, &[], &[]);
    let at_rest = at_rest(&daemon);
    std::fs::remove_file(&copy).expect("delete the binary");
    let (status, body) = daemon.get("/probe?backend=process&workers=2&lines=300");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sample(&body, "copybench_probe_success"),
        Some(1.0),
        "{body}"
    );
    survived(&daemon, at_rest, &daemon.scratch());
}
