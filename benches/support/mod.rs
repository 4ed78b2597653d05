//! What the benchmarks that run the daemon share: starting it, and reading its descriptors
//! and resident memory.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

/// A running daemon, killed when dropped (a failed benchmark leaves none behind).
pub struct Daemon {
    child: Child,
    /// The address it listens on.
    pub address: String,
}

impl Daemon {
    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the daemon with `config` (written to `dir/NAME.toml`, its log to `dir/NAME.log`)
/// on a free loopback port, its runs in `dir`: this build's daemon, or the one
/// `COPYBENCH_BENCH_BINARY` names.
pub fn start(dir: &std::path::Path, name: &str, config: &str) -> Daemon {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).expect("config");
    let binary = std::env::var_os("COPYBENCH_BENCH_BINARY")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_copybench_exporter").into());
    let mut child = Command::new(binary)
        .arg("--config.file")
        .arg(&path)
        .args([
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.format",
            "json",
        ])
        .env("COPYBENCH__WORKLOAD__WORKDIR", dir)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start daemon");
    let mut log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut lines = stderr.lines().map_while(Result::ok);
    let address = lines
        .find_map(|l| {
            let _ = writeln!(log, "{l}");
            serde_json::from_str::<serde_json::Value>(&l).ok()?["fields"]["address"]
                .as_str()
                .map(str::to_owned)
        })
        .expect("listening address");
    std::thread::spawn(move || lines.for_each(|l| drop(writeln!(log, "{l}"))));
    Daemon { child, address }
}

/// The value of the unlabelled sample `name` in a text exposition (comments are not samples:
/// a HELP text may begin with a value).
pub fn sample(exposition: &str, name: &str) -> Option<f64> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .find_map(|v| v.trim().parse().ok())
}

/// Open descriptors of process `pid`.
#[allow(dead_code, reason = "not every benchmark reads them")]
pub fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// Resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = procfs::process::Process::new(pid as i32)
        .and_then(|p| p.status())
        .expect("status");
    status.vmrss.expect("VmRSS")
}
