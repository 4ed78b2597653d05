//! A child group of a cgroup v1 controller (`cpu`, `pids`, `cpuset`), the test's own: made
//! fresh, its processes moved back to the controller's root and the group removed when dropped.
//! Needs root and the controller mounted under `/sys/fs/cgroup`; fails (never skips) without.

use std::path::PathBuf;
use std::time::Duration;

use crate::util::wait_for;

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
