//! Helpers shared by the end-to-end tests: start the binary, wait on conditions with a
//! deadline, inspect child processes.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A small, fast workload that sweeps every second, one run of each combination per sweep.
pub const TINY: &str = r#"
[schedule]
interval = "1s"
jitter = "0s"
[workload]
backends = ["process", "thread"]
sync = ["none", "lock"]
workers = [1, 2]
lines = 300
repeats = 1
warmup = false
"#;

/// A daemon that only runs what it is asked to (no scheduled sweep for an hour).
pub const IDLE: &str = r#"
[schedule]
interval = "1h"
jitter = "0s"
run_at_start = false
[workload]
backends = ["thread"]
sync = ["none"]
workers = [1]
lines = 300
repeats = 1
warmup = false
[probe]
max_lines = 200000
min_interval = "0s"
[web]
enable_reload = true
"#;

/// A test configuration: a TOML text changed key by key. Each change names a `section.key`
/// and the result must load as the daemon loads it, so a renamed key or a changed fixture
/// fails the test at once instead of letting it test something else.
#[derive(Clone, Debug)]
pub struct TestConfig(toml::Table);

impl TestConfig {
    /// The configuration `text` says.
    pub fn from(text: &str) -> TestConfig {
        TestConfig(text.parse().expect("a test configuration is TOML"))
    }

    /// Sets `key` (`section.key`) to `value`.
    pub fn set(mut self, key: &str, value: impl Into<toml::Value>) -> TestConfig {
        let (section, name) = key.split_once('.').expect("section.key");
        let table = self
            .0
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(table) = table else {
            panic!("{section} is not a section");
        };
        table.insert(name.to_owned(), value.into());
        self
    }

    /// Leaves `key` (`section.key`) out; it must have been set.
    pub fn unset(mut self, key: &str) -> TestConfig {
        let (section, name) = key.split_once('.').expect("section.key");
        let removed = self
            .0
            .get_mut(section)
            .and_then(toml::Value::as_table_mut)
            .and_then(|table| table.remove(name));
        assert!(removed.is_some(), "{key} was not set");
        self
    }

    /// The TOML text, checked to load as the daemon loads it.
    pub fn text(&self) -> String {
        let text = self.0.to_string();
        if let Err(e) = copybench_exporter::config::Config::from_toml_str(&text) {
            panic!("the test configuration does not load: {e}\n{text}");
        }
        text
    }
}

/// `text` with `from` replaced by `to`; `from` must occur.
pub fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} is not in the text");
    text.replace(from, to)
}

/// Tests whose load is a real slowdown for each other (busy loops, CPU quotas, fleets of
/// daemons sweeping back to back) take turns.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits for the turn of a CPU-heavy or timing-sensitive test; the turn ends when the guard
/// is dropped.
pub fn heavy_turn() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
}

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_copybench_exporter");

/// A command for the binary with a clean configuration environment.
pub fn command() -> Command {
    let mut command = Command::new(BIN);
    clean_environment(&mut command);
    command
}

/// Keeps this process's `COPYBENCH__*` variables from `command`.
pub fn clean_environment(command: &mut Command) {
    for (key, _) in std::env::vars() {
        if key.starts_with("COPYBENCH__") {
            command.env_remove(key);
        }
    }
}

/// Runs `copybench_exporter ARGS ...FILE` (an offline command on one file) and returns its
/// output, which must be a success.
pub fn succeeds(args: &[&str], file: &Path) -> Output {
    let output = command().args(args).arg(file).output().expect("start");
    assert!(output.status.success(), "{args:?}: {output:?}");
    output
}

/// Runs `copybench_exporter run --json ARGS` in `workdir` and returns its output, its run
/// records and its point summaries.
pub fn run_json(
    workdir: &Path,
    args: &[&str],
) -> (Output, Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let output = command()
        .args(["run", "--json", "--workdir"])
        .arg(workdir)
        .args(args)
        .output()
        .expect("start copybench_exporter");
    let (runs, points) = json_lines(&output.stdout);
    (output, runs, points)
}

/// The run records (no `kind`) and the point summaries (`"kind": "point"`) of `run --json`
/// output; the scaling fits (`"kind": "fit"`) are left out.
pub fn json_lines(stdout: &[u8]) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).expect("a JSON object per line")
        })
        .filter(|value| value["kind"] != "fit")
        .partition(|value| value.get("kind").is_none())
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
pub fn wait_for(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Pids of the live children of `parent`.
pub fn children_of(parent: u32) -> Vec<i32> {
    let Ok(processes) = procfs::process::all_processes() else {
        return Vec::new();
    };
    processes
        .filter_map(Result::ok)
        .filter_map(|p| p.stat().ok())
        .filter(|s| s.ppid == parent as i32 && s.state != 'Z')
        .map(|s| s.pid)
        .collect()
}

/// Whether a process with `pid` still exists (zombies included).
pub fn exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Entries left in `dir`.
pub fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A running exporter daemon, killed when dropped.
pub struct Daemon {
    pub child: std::process::Child,
    pub address: String,
    pub dir: tempfile::TempDir,
    logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// Writes `config` into a fresh directory whose `scratch` subdirectory is the workdir, starts
/// the daemon on 127.0.0.1:0 with `extra_env`, and waits until it listens.
pub fn start_daemon(config: &str, extra_env: &[(&str, &str)]) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    start_daemon_in(dir, config, extra_env, &[])
}

/// Like [`start_daemon`], in `dir` (kept from an earlier daemon) and with extra flags.
pub fn start_daemon_in(
    dir: tempfile::TempDir,
    config: &str,
    extra_env: &[(&str, &str)],
    flags: &[&str],
) -> Daemon {
    start_daemon_wrapped(&[], Path::new(BIN), dir, config, extra_env, flags)
}

/// Like [`start_daemon_in`], with the binary at `bin`, started through `wrapper` (a command
/// and its arguments, such as `prlimit --nofile=256:1024`) when it is not empty.
pub fn start_daemon_wrapped(
    wrapper: &[&str],
    bin: &Path,
    dir: tempfile::TempDir,
    config: &str,
    extra_env: &[(&str, &str)],
    flags: &[&str],
) -> Daemon {
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let config_path = dir.path().join("copybench.toml");
    std::fs::write(&config_path, config).expect("write config");
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(bin);
            command
        }
        None => Command::new(bin),
    };
    clean_environment(&mut command);
    command
        .arg("--config.file")
        .arg(&config_path)
        .args(["--log.format", "json"])
        .env("COPYBENCH__WORKLOAD__WORKDIR", &scratch)
        .env_remove("STATE_DIRECTORY")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    if !flags.iter().any(|f| f.starts_with("--web.listen-address")) {
        command.args(["--web.listen-address", "127.0.0.1:0"]);
    }
    command.args(flags);
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("start daemon");
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stderr = child.stderr.take().expect("stderr");
    let sink = std::sync::Arc::clone(&logs);
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock().expect("logs").push(line);
        }
    });
    let mut daemon = Daemon {
        child,
        address: String::new(),
        dir,
        logs,
    };
    let listening = wait_for(Duration::from_secs(20), || {
        daemon.address = daemon
            .logs()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|l| l["fields"]["address"].as_str().map(str::to_owned))
            .unwrap_or_default();
        !daemon.address.is_empty()
    });
    assert!(
        listening,
        "daemon did not start listening; logs: {:?}",
        daemon.logs()
    );
    daemon
}

impl Daemon {
    /// Everything the daemon logged so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("logs").clone()
    }

    /// Whether a log line matching `matches` appears within `timeout`.
    pub fn wait_log(&self, timeout: Duration, matches: impl Fn(&str) -> bool) -> bool {
        wait_for(timeout, || self.logs().iter().any(|l| matches(l)))
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://ADDRESS/PATH`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// GETs `path` and returns the status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http("GET", &self.url(path), &[])
    }

    /// The text of `/metrics`.
    pub fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The value of the first sample of `/metrics` whose line starts with `series`.
    pub fn sample(&self, series: &str) -> Option<f64> {
        sample(&self.metrics(), series)
    }

    /// Waits (up to 20 s) until the sample of `series` equals `value`.
    pub fn wait_sample(&self, series: &str, value: f64) -> bool {
        wait_for(Duration::from_secs(20), || {
            self.sample(series) == Some(value)
        })
    }

    /// Waits (up to 30 s) until a whole sweep has completed.
    pub fn wait_for_sweep(&self) -> bool {
        wait_for(Duration::from_secs(30), || {
            self.sample("copybench_sweeps_total")
                .is_some_and(|n| n >= 1.0)
        })
    }

    /// Sends `signal` to the daemon.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal)
            .expect("signal daemon");
    }

    /// Sends SIGTERM, requires a clean exit (status 0) and returns how long it took.
    pub fn terminate(&mut self) -> Duration {
        let signalled = std::time::Instant::now();
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let code = self.wait_exit(Duration::from_secs(20));
        assert_eq!(code, Some(0), "logs: {:?}", self.logs());
        signalled.elapsed()
    }

    /// Waits for the daemon to exit and returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let mut code = None;
        let exited = wait_for(timeout, || match self.child.try_wait() {
            Ok(Some(status)) => {
                code = status.code();
                true
            }
            _ => false,
        });
        assert!(exited, "daemon did not exit; logs: {:?}", self.logs());
        code
    }

    /// The scratch directory runs use.
    pub fn scratch(&self) -> std::path::PathBuf {
        self.dir.path().join("scratch")
    }
}

impl Drop for Daemon {
    /// Stops the daemon as a service manager would (SIGTERM, so it reaps its workers), and
    /// kills it only if it has not exited within ten seconds.
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let exited = wait_for(Duration::from_secs(10), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if !exited {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// What the description of an alert (as Prometheus and Alertmanager show it) says changed on
/// the node, after "On the node around its start: ".
pub fn why(alert: &serde_json::Value) -> Option<&str> {
    alert["annotations"]["description"]
        .as_str()?
        .split_once("On the node around its start: ")
        .map(|(_, why)| why)
}

/// The value of the first line of an exposition that starts with `series`.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// One HTTP request; returns the status and body, whatever the status.
pub fn http(method: &str, url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let (status, _, body) = http_with_headers(method, url, headers);
    (status, body)
}

/// One HTTP request (GET, HEAD, POST, PUT or DELETE); returns the status, the response's
/// headers and its body, whatever the status.
pub fn http_with_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, ureq::http::HeaderMap, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let request = match method {
        "POST" => agent.post(url),
        "PUT" => agent.put(url),
        "HEAD" => agent.head(url).force_send_body(),
        "DELETE" => agent.delete(url).force_send_body(),
        _ => agent.get(url).force_send_body(),
    };
    let mut request = request;
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request
        .send_empty()
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (status, headers, body)
}

/// A real Prometheus server (Debian's `prometheus`) on 127.0.0.1, killed when dropped.
pub struct Prometheus {
    child: std::process::Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

/// Starts Prometheus scraping `target` every second as job `copybench`.
pub fn start_prometheus(target: &str) -> Prometheus {
    start_prometheus_with_rules(target, false)
}

/// Starts Prometheus scraping `target` every second, with the shipped rules evaluated every
/// second if `rules`.
pub fn start_prometheus_with_rules(target: &str, rules: bool) -> Prometheus {
    start_prometheus_with(&[target], rules, "")
}

/// Like [`start_prometheus_with_rules`], scraping every one of `targets` in one job, with
/// `scrape` (YAML lines indented for the scrape job, such as `scheme`, `tls_config` and
/// `basic_auth`) added to the job.
pub fn start_prometheus_with(targets: &[&str], rules: bool, scrape: &str) -> Prometheus {
    start_prometheus_config(targets, rules, scrape, None)
}

/// Starts Prometheus scraping `target` every second with the shipped rules evaluated every
/// second, sending its alerts to the Alertmanager at `alertmanager` (`host:port`).
pub fn start_prometheus_alerting(target: &str, alertmanager: &str) -> Prometheus {
    start_prometheus_config(&[target], true, "", Some(alertmanager))
}

fn start_prometheus_config(
    targets: &[&str],
    rules: bool,
    scrape: &str,
    alertmanager: Option<&str>,
) -> Prometheus {
    let targets = targets
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let rule_files = if rules {
        let shipped = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/prometheus/copybench.rules.yml"
        );
        std::fs::copy(shipped, dir.path().join("copybench.rules.yml")).expect("copy the rules");
        "  evaluation_interval: 1s\nrule_files: [copybench.rules.yml]\n"
    } else {
        ""
    };
    let alerting = alertmanager.map_or_else(String::new, |address| {
        format!(
            "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{address}']\n"
        )
    });
    let config = format!(
        "global:\n  scrape_interval: 1s\n{rule_files}{alerting}scrape_configs:\n  - job_name: copybench\n{scrape}    static_configs:\n      - targets: [{targets}]\n"
    );
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).expect("write prometheus.yml");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(["--web.enable-lifecycle", "--log.level=warn"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prometheus must be installed (Debian package prometheus)");
    let prometheus = Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let ready = wait_for(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http("GET", &format!("{}/-/ready", prometheus.url), &[]).0 == 200
    });
    assert!(ready, "prometheus did not become ready");
    prometheus
}

impl Prometheus {
    /// Runs an instant query; returns the HTTP status and the parsed answer.
    pub fn query(&self, promql: &str) -> (u16, serde_json::Value) {
        let url = format!(
            "{}/api/v1/query?query={}",
            self.url,
            form_urlencoded::byte_serialize(promql.as_bytes()).collect::<String>()
        );
        let (status, body) = http("GET", &url, &[]);
        (
            status,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    /// The state of alert `name`, if it is pending or firing.
    pub fn alert_state(&self, name: &str) -> Option<String> {
        self.alert(name)
            .and_then(|a| a["state"].as_str().map(str::to_owned))
    }

    /// Alert `name` as Prometheus shows it (labels, annotations, state), if it is pending or
    /// firing.
    pub fn alert(&self, name: &str) -> Option<serde_json::Value> {
        let (_, body) = http("GET", &format!("{}/api/v1/alerts", self.url), &[]);
        let answer: serde_json::Value = serde_json::from_str(&body).ok()?;
        answer["data"]["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == name)
            .cloned()
    }

    /// The result vector of a successful instant query (empty on any error).
    pub fn vector(&self, promql: &str) -> Vec<serde_json::Value> {
        let (_, answer) = self.query(promql);
        answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Busy-loop processes, killed when dropped.
pub struct Neighbour(Vec<std::process::Child>);

impl Neighbour {
    /// Two busy loops per CPU of this machine.
    pub fn start() -> Neighbour {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Neighbour(
            (0..2 * cpus)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .expect("start a busy loop")
                })
                .collect(),
        )
    }
}

impl Drop for Neighbour {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
