//! A child group of a cgroup v1 controller (`cpu`, `pids`, `cpuset`), the test's own: made
//! fresh, its processes moved back to the controller's root and the group removed when dropped.
//! Needs root and the controller mounted under `/sys/fs/cgroup`; fails (never skips) without.
//! A [`QuotaGroup`] is such a group of the `cpu` controller with a CPU quota.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::util::{self, wait_for};

/// A child cgroup of one v1 controller.
pub struct Cgroup {
    root: PathBuf,
    dir: PathBuf,
}

impl Cgroup {
    /// Makes a fresh group under `/sys/fs/cgroup/CONTROLLER`.
    pub fn new(controller: &str) -> Cgroup {
        let root = PathBuf::from("/sys/fs/cgroup").join(controller);
        let dir = root.join(format!(
            "copybench-test-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "cannot make the cgroup {} ({e}); this test needs root and the cgroup v1 \
                 {controller} controller mounted at {}",
                dir.display(),
                root.display()
            )
        });
        Cgroup { root, dir }
    }

    /// The group's directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Writes `value` to the group's control file `file`.
    pub fn write(&self, file: &str, value: &str) {
        std::fs::write(self.dir.join(file), value)
            .unwrap_or_else(|e| panic!("write {value} to {}/{file}: {e}", self.dir.display()));
    }

    /// The group's control file `file`, trimmed ("" if it cannot be read).
    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// Moves the process `pid` (all its threads) into the group.
    pub fn enter(&self, pid: u32) {
        self.write("cgroup.procs", &pid.to_string());
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Whatever is left goes back to the root group, so the directory can go.
        if let Ok(procs) = std::fs::read_to_string(self.dir.join("cgroup.procs")) {
            for pid in procs.lines() {
                let _ = std::fs::write(self.root.join("cgroup.procs"), pid);
            }
        }
        let _ = wait_for(Duration::from_secs(5), || {
            std::fs::remove_dir(&self.dir).is_ok()
        });
    }
}

/// A child cgroup of the `cpu` hierarchy with a CPU quota, removed when dropped.
pub struct QuotaGroup {
    group: Cgroup,
}

impl QuotaGroup {
    /// Makes the group with a quota of `cores` CPUs in every 10 ms period, so that even a
    /// run of a few milliseconds (a release build's) is held back. Needs root and the v1
    /// `cpu` controller; fails (never skips) without them.
    pub fn new(cores: f64) -> QuotaGroup {
        const PERIOD_US: u64 = 10_000;
        let group = Cgroup::new("cpu");
        group.write("cpu.cfs_period_us", &PERIOD_US.to_string());
        group.write(
            "cpu.cfs_quota_us",
            &((cores * PERIOD_US as f64) as u64).to_string(),
        );
        QuotaGroup { group }
    }

    /// Moves the process `pid` (all its threads) into the group.
    pub fn enter(&self, pid: u32) {
        self.group.enter(pid);
    }

    /// `copybench_exporter ARGS` started inside the group from its first instruction.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg("echo $$ > \"$0/cgroup.procs\" && exec \"$@\"")
            .arg(self.group.dir())
            .arg(util::BIN)
            .args(args);
        util::clean_environment(&mut command);
        command
    }
}
