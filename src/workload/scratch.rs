//! The scratch directory of one run: made fresh in the configured workdir, holding the
//! generated input, the shared output and the lock file, and removed when dropped, whether the
//! run succeeded, failed or was cancelled.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::WorkloadError;
use super::task::Files;

/// Name prefix of every scratch directory. The name goes on with the pid of the process
/// that made it, so that directories left by a process that was killed can be recognised and
/// removed ([`remove_stale`]).
pub(crate) const PREFIX: &str = "copybench-";

/// A run's scratch directory; deleted with everything in it on drop.
pub(crate) struct Scratch {
    dir: TempDir,
    pub(crate) files: Files,
}

impl Scratch {
    /// Makes the directory and writes an input of `lines` lines plus an empty output.
    pub(crate) fn create(workdir: &Path, lines: u64) -> Result<Self, WorkloadError> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-", std::process::id()))
            .tempdir_in(workdir)
            .map_err(|e| {
                WorkloadError::io(
                    format!("cannot create a scratch directory in {}", workdir.display()),
                    e,
                )
            })?;
        let files = Files {
            input: dir.path().join("input.txt"),
            output: dir.path().join("output.txt"),
            lock: dir.path().join("lock"),
        };
        write_input(&files.input, lines)
            .map_err(|e| WorkloadError::io(format!("write {}", files.input.display()), e))?;
        for path in [&files.output, &files.lock] {
            File::create(path)
                .map_err(|e| WorkloadError::io(format!("create {}", path.display()), e))?;
        }
        Ok(Scratch { dir, files })
    }

    /// The directory itself.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
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
/// them.
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
        if !Path::new(&format!("/proc/{pid}")).exists() && path.is_dir() {
            std::fs::remove_dir_all(&path)?;
            removed.push(path);
        }
    }
    Ok(removed)
}

fn write_input(path: &Path, lines: u64) -> std::io::Result<()> {
    let mut input = BufWriter::new(File::create(path)?);
    for i in 1..=lines {
        writeln!(input, "line{i}")?;
    }
    input.into_inner().map_err(|e| e.into_error())?.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_numbered_input_and_removes_everything_on_drop() {
        let workdir = tempfile::tempdir().expect("tempdir");
        let scratch = Scratch::create(workdir.path(), 3).expect("scratch");
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
        let live = Scratch::create(workdir.path(), 1).expect("scratch");
        let gone = workdir.path().join(format!("{PREFIX}{}-abc", u32::MAX));
        std::fs::create_dir(&gone).expect("stale dir");
        let unrelated = workdir.path().join("copybench.toml");
        std::fs::write(&unrelated, "").expect("unrelated file");
        let removed = remove_stale(workdir.path()).expect("remove");
        assert_eq!(removed, vec![gone.clone()]);
        assert!(!gone.exists() && live.path().exists() && unrelated.exists());
    }

    #[test]
    fn missing_workdir_is_a_clear_io_error() {
        let err = Scratch::create(Path::new("/nonexistent/copybench"), 1)
            .err()
            .expect("must fail");
        let message = err.to_string();
        assert!(message.contains("cannot create a scratch directory in /nonexistent/copybench"));
    }
}
