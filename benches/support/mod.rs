//! What the benchmarks that run the daemon share: starting it, and reading its descriptors
//! and resident memory.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Starts the daemon with `config` (written to `dir/NAME.toml`) on a free loopback port,
/// its runs in `dir`; returns it and the address it listens on.
pub fn start(dir: &std::path::Path, name: &str, config: &str) -> (Child, String) {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_copybench_exporter"))
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
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut lines = stderr.lines().map_while(Result::ok);
    let address = lines
        .find_map(|l| {
            serde_json::from_str::<serde_json::Value>(&l).ok()?["fields"]["address"]
                .as_str()
                .map(str::to_owned)
        })
        .expect("listening address");
    std::thread::spawn(move || lines.for_each(drop));
    (child, address)
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
