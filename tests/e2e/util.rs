//! Helpers shared by the end-to-end tests: start the binary, wait on conditions with a
//! deadline, inspect child processes.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_copybench_exporter");

/// A command for the binary with a clean configuration environment.
pub fn command() -> Command {
    let mut command = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("COPYBENCH__") {
            command.env_remove(key);
        }
    }
    command
}

/// Runs `copybench_exporter run --json ARGS` in `workdir` and returns its output and records.
pub fn run_json(workdir: &Path, args: &[&str]) -> (Output, Vec<serde_json::Value>) {
    let output = command()
        .args(["run", "--json", "--workdir"])
        .arg(workdir)
        .args(args)
        .output()
        .expect("start copybench_exporter");
    let records = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON record per line"))
        .collect();
    (output, records)
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
