//! The scratch directory of one run: made fresh in the configured workdir, holding the
//! generated input, the shared output and the lock file, and removed when dropped, whether the
//! run succeeded, failed or was cancelled. A removal that fails (out of file descriptors, say)
//! is retried after the next run. Its maker holds a lock on its `owner.lock` for as long as it
//! exists, so a directory whose lock is free was left by a process that is gone, even when a
//! new process has the same pid (a container's PID 1 after a restart).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use nix::fcntl::{Flock, FlockArg};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use super::WorkloadError;
use super::task::Files;

/// Bytes a record of the output takes at most besides its line: `current pid:` (up to 7
/// digits), `total threads:` (up to 5), `CPU number:` (up to 4), each with its newline, and
/// the blank line after the line.
const RECORD_BYTES: u64 = 64;

/// Lines written between looks at the deadline and the cancel token.
const CHECK_EVERY: u64 = 4096;

/// When a run must stop: its deadline (none if the timeout is beyond the clock) and its
/// cancel token.
pub(crate) struct Limits<'a> {
    /// The run's deadline.
    pub(crate) deadline: Option<Instant>,
    /// The timeout the deadline came from, for the error.
    pub(crate) timeout: std::time::Duration,
    /// Cancelled from outside.
    pub(crate) cancel: &'a CancellationToken,
}

impl Limits<'_> {
    /// The error that stops the run now, if any.
    pub(crate) fn check(&self) -> Result<(), WorkloadError> {
        if self.cancel.is_cancelled() {
            Err(WorkloadError::Cancelled)
        } else if self.deadline.is_some_and(|d| Instant::now() >= d) {
            Err(WorkloadError::Timeout(self.timeout))
        } else {
            Ok(())
        }
    }
}

/// The bytes of an input of `lines` lines (`line1\n` .. `lineN\n`).
pub(crate) fn input_bytes(lines: u64) -> u64 {
    let mut total = 0;
    let mut start = 1;
    let mut digits = 1;
    while start <= lines {
        let end = (start * 10 - 1).min(lines);
        total += (end - start + 1) * (5 + digits);
        start *= 10;
        digits += 1;
    }
    total
}

/// The bytes a run of `lines` lines writes in its scratch directory at most: the input, the
/// output (a record and a line per task) and, for worker processes, the task file.
pub(crate) fn run_bytes(lines: u64, processes: bool) -> u64 {
    let input = input_bytes(lines);
    input + (input + lines * RECORD_BYTES) + if processes { lines * 8 } else { 0 }
}

/// Name prefix of every scratch directory. The name goes on with the pid of the process
/// that made it, for people to read.
pub(crate) const PREFIX: &str = "copybench-";

/// The file in each scratch directory its maker holds locked.
const OWNER_LOCK: &str = "owner.lock";

/// Scratch directories whose removal failed, to try again.
static LEFTOVERS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A run's scratch directory; deleted with everything in it on drop.
pub(crate) struct Scratch {
    dir: Option<TempDir>,
    /// Held for the directory's life: the sign that its maker is alive.
    _owner: Flock<File>,
    pub(crate) files: Files,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_owned();
            if let Err(e) = dir.close() {
                tracing::warn!(
                    "cannot remove {} yet: {e}; trying again later",
                    path.display()
                );
                LEFTOVERS
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(path);
            }
        }
    }
}

/// Tries again to remove the scratch directories whose removal failed.
pub(crate) fn remove_leftovers() {
    let mut leftovers = LEFTOVERS.lock().unwrap_or_else(|p| p.into_inner());
    leftovers.retain(|path| match std::fs::remove_dir_all(path) {
        Ok(()) => false,
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    });
}

impl Scratch {
    /// Makes the directory and writes an input of `lines` lines plus an empty output, within
    /// `limits`, after checking that the workdir has room for the `bytes` the run will write.
    pub(crate) fn create(
        workdir: &Path,
        lines: u64,
        bytes: u64,
        limits: &Limits<'_>,
    ) -> Result<Self, WorkloadError> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-", std::process::id()))
            .tempdir_in(workdir)
            .map_err(|e| {
                WorkloadError::io(
                    format!("cannot create a scratch directory in {}", workdir.display()),
                    e,
                )
            })?;
        // Locked under another name, then put in place: `remove_stale` never finds the lock
        // free while its maker lives (without one, the live pid keeps the directory).
        let owner = dir.path().join(OWNER_LOCK);
        let fresh = owner.with_extension("new");
        let owner = File::create(&fresh)
            .map_err(|e| WorkloadError::io(format!("create {}", fresh.display()), e))
            .and_then(|file| {
                Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
                    WorkloadError::io(format!("lock {}", fresh.display()), errno.into())
                })
            })
            .and_then(|lock| {
                std::fs::rename(&fresh, &owner)
                    .map(|()| lock)
                    .map_err(|e| WorkloadError::io(format!("rename {}", fresh.display()), e))
            })?;
        let free = nix::sys::statvfs::statvfs(dir.path()).map_err(|e| {
            WorkloadError::io(
                format!("read the free space of {}", workdir.display()),
                e.into(),
            )
        })?;
        let available = free.blocks_available() as u64 * free.fragment_size() as u64;
        if available < bytes {
            return Err(WorkloadError::io(
                format!(
                    "{} has {available} bytes free; the run writes up to {bytes}",
                    workdir.display()
                ),
                std::io::ErrorKind::StorageFull.into(),
            ));
        }
        let files = Files {
            input: dir.path().join("input.txt"),
            output: dir.path().join("output.txt"),
            lock: dir.path().join("lock"),
        };
        write_input(&files.input, lines, limits)?;
        for path in [&files.output, &files.lock] {
            File::create(path)
                .map_err(|e| WorkloadError::io(format!("create {}", path.display()), e))?;
        }
        Ok(Scratch {
            dir: Some(dir),
            _owner: owner,
            files,
        })
    }

    /// The directory itself.
    pub(crate) fn path(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new(""), TempDir::path)
    }

    /// Copies the input and output to a new directory under `dir` named after `spec`
    /// (`thread-none-2-1`, then `-2`, ... for later runs of the same combination).
    pub(crate) fn keep(&self, dir: &Path, spec: &super::Spec) -> Result<PathBuf, WorkloadError> {
        let io = |what: String| move |e| WorkloadError::io(what, e);
        std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
        let kept = (1..)
            .map(|k| {
                dir.join(format!(
                    "{}-{}-{}-{k}",
                    spec.backend, spec.sync, spec.workers
                ))
            })
            .find_map(|path| match std::fs::create_dir(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
                made => Some(made.map(|()| path)),
            })
            .unwrap_or_else(|| Err(std::io::ErrorKind::AlreadyExists.into()))
            .map_err(io(format!("create a directory in {}", dir.display())))?;
        for file in [&self.files.input, &self.files.output] {
            let name = file.file_name().unwrap_or_default();
            std::fs::copy(file, kept.join(name)).map_err(io(format!(
                "copy {} to {}",
                file.display(),
                kept.display()
            )))?;
        }
        Ok(kept)
    }
}

/// Removes scratch directories in `workdir` whose maker is no longer running, and returns
/// them: those whose owner lock is free, and those without one (made by earlier versions, or
/// cut short before the lock) whose pid is not running.
pub(crate) fn remove_stale(workdir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(workdir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !path.is_dir() {
            continue;
        }
        let stale = match File::open(path.join(OWNER_LOCK)) {
            // Free: its holder is gone. The lock taken here is dropped with the directory.
            Ok(lock) => Flock::lock(lock, FlockArg::LockExclusiveNonblock).is_ok(),
            Err(_) => !Path::new(&format!("/proc/{pid}")).exists(),
        };
        if stale {
            std::fs::remove_dir_all(&path)?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// Writes the input, stopping when `limits` say so.
fn write_input(path: &Path, lines: u64, limits: &Limits<'_>) -> Result<(), WorkloadError> {
    let io = |e| WorkloadError::io(format!("write {}", path.display()), e);
    let mut input = BufWriter::new(File::create(path).map_err(io)?);
    for i in 1..=lines {
        if i % CHECK_EVERY == 0 {
            limits.check()?;
        }
        writeln!(input, "line{i}").map_err(io)?;
    }
    input
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(|file| file.sync_data())
        .map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unlimited(cancel: &CancellationToken) -> Limits<'_> {
        Limits {
            deadline: None,
            timeout: std::time::Duration::MAX,
            cancel,
        }
    }

    #[test]
    fn the_input_size_is_exact_and_the_run_size_bounds_what_is_written() {
        for lines in [1, 9, 10, 99, 100, 12345] {
            let expected: u64 = (1..=lines).map(|i| format!("line{i}\n").len() as u64).sum();
            assert_eq!(input_bytes(lines), expected, "{lines}");
        }
        assert!(run_bytes(1000, true) > run_bytes(1000, false));
    }

    #[test]
    fn making_the_input_stops_at_the_deadline_or_when_cancelled() {
        let workdir = tempfile::tempdir().expect("tempdir");
        let cancel = CancellationToken::new();
        let past = Limits {
            deadline: Some(Instant::now()),
            timeout: std::time::Duration::from_millis(1),
            cancel: &cancel,
        };
        let started = Instant::now();
        let err = Scratch::create(workdir.path(), 100_000_000, 0, &past)
            .err()
            .expect("stopped");
        assert!(matches!(err, WorkloadError::Timeout(_)), "{err}");
        cancel.cancel();
        let err = Scratch::create(workdir.path(), 100_000_000, 0, &unlimited(&cancel))
            .err()
            .expect("stopped");
        assert!(matches!(err, WorkloadError::Cancelled), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(
            std::fs::read_dir(workdir.path())
                .expect("dir")
                .next()
                .is_none(),
            "left behind"
        );
    }

    #[test]
    fn a_run_that_does_not_fit_the_free_space_is_refused() {
        let workdir = tempfile::tempdir().expect("tempdir");
        let cancel = CancellationToken::new();
        let err = Scratch::create(workdir.path(), 1, u64::MAX, &unlimited(&cancel))
            .err()
            .expect("refused");
        assert!(err.to_string().contains("bytes free"), "{err}");
        assert!(
            std::fs::read_dir(workdir.path())
                .expect("dir")
                .next()
                .is_none()
        );
    }

    #[test]
    fn writes_numbered_input_and_removes_everything_on_drop() {
        let workdir = tempfile::tempdir().expect("tempdir");
        let cancel = CancellationToken::new();
        let scratch = Scratch::create(workdir.path(), 3, 0, &unlimited(&cancel)).expect("scratch");
        let input = std::fs::read_to_string(&scratch.files.input).expect("input");
        assert_eq!(input, "line1\nline2\nline3\n");
        assert_eq!(
            std::fs::metadata(&scratch.files.output)
                .expect("output")
                .len(),
            0
        );
        drop(scratch);
        assert_eq!(
            std::fs::read_dir(workdir.path()).expect("workdir").count(),
            0
        );
    }

    #[test]
    fn only_directories_of_processes_that_are_gone_are_stale() {
        let workdir = tempfile::tempdir().expect("tempdir");
        let cancel = CancellationToken::new();
        let live = Scratch::create(workdir.path(), 1, 0, &unlimited(&cancel)).expect("scratch");
        let gone = workdir.path().join(format!("{PREFIX}{}-abc", u32::MAX));
        std::fs::create_dir(&gone).expect("stale dir");
        let unrelated = workdir.path().join("copybench.toml");
        std::fs::write(&unrelated, "").expect("unrelated file");
        let removed = remove_stale(workdir.path()).expect("remove");
        assert_eq!(removed, vec![gone.clone()]);
        assert!(!gone.exists() && live.path().exists() && unrelated.exists());
    }

    #[test]
    fn a_directory_of_a_live_pid_whose_owner_lock_is_free_is_stale() {
        let workdir = tempfile::tempdir().expect("tempdir");
        // As a killed container's PID 1 leaves it: the pid is alive again, the lock is free.
        let old = workdir.path().join(format!("{PREFIX}1-abc"));
        std::fs::create_dir(&old).expect("dir");
        std::fs::write(old.join(OWNER_LOCK), "").expect("lock file");
        let without_lock = workdir.path().join(format!("{PREFIX}1-def"));
        std::fs::create_dir(&without_lock).expect("dir");
        let removed = remove_stale(workdir.path()).expect("remove");
        assert_eq!(
            removed,
            vec![old],
            "pid 1 runs, so the lockless one is kept"
        );
        assert!(without_lock.exists());
    }

    #[test]
    fn a_failed_removal_is_tried_again() {
        let workdir = tempfile::tempdir().expect("tempdir");
        let stuck = workdir
            .path()
            .join(format!("{PREFIX}{}-stuck", std::process::id()));
        std::fs::create_dir(&stuck).expect("dir");
        LEFTOVERS.lock().expect("leftovers").push(stuck.clone());
        remove_leftovers();
        assert!(!stuck.exists());
        assert!(!LEFTOVERS.lock().expect("leftovers").contains(&stuck));
    }

    #[test]
    fn missing_workdir_is_a_clear_io_error() {
        let cancel = CancellationToken::new();
        let err = Scratch::create(
            Path::new("/nonexistent/copybench"),
            1,
            0,
            &unlimited(&cancel),
        )
        .err()
        .expect("must fail");
        let message = err.to_string();
        assert!(message.contains("cannot create a scratch directory in /nonexistent/copybench"));
    }
}
