//! Recent runs, kept in memory for `/api/v1/runs` and the landing page, and in a state
//! directory across restarts. Writes are atomic (a temporary file renamed over the old one);
//! a corrupt file is set aside and reported, never fatal.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::run::RunRecord;

/// File name of the saved runs inside the state directory.
const FILE: &str = "runs.json";

/// Why state could not be saved.
#[derive(Debug, thiserror::Error)]
#[error("cannot save state to {path}: {source}")]
pub struct StateError {
    path: PathBuf,
    source: std::io::Error,
}

/// The recent runs as they were after one push, to be written to the state directory.
pub struct Snapshot {
    dir: PathBuf,
    path: PathBuf,
    json: serde_json::Result<Vec<u8>>,
}

impl Snapshot {
    /// Writes the runs atomically: a temporary file in the same directory, flushed to disk
    /// and renamed over the old one.
    pub fn save(self) -> Result<(), StateError> {
        let path = self.path;
        let fail = |source| StateError {
            path: path.clone(),
            source,
        };
        let json = self.json.map_err(|e| fail(e.into()))?;
        std::fs::create_dir_all(&self.dir).map_err(fail)?;
        let mut file = tempfile::NamedTempFile::new_in(&self.dir).map_err(fail)?;
        file.write_all(&json).map_err(fail)?;
        file.as_file().sync_all().map_err(fail)?;
        file.persist(&path).map_err(|e| fail(e.error))?;
        Ok(())
    }
}

/// The recent runs, newest last.
#[derive(Debug)]
pub struct Store {
    dir: Option<PathBuf>,
    keep: usize,
    runs: VecDeque<RunRecord>,
}

impl Store {
    /// Loads saved runs from `dir` (if any). The second value is a warning to log when the
    /// saved file was unreadable and has been set aside.
    pub fn open(dir: Option<PathBuf>, keep: usize) -> (Store, Option<String>) {
        let mut store = Store {
            dir,
            keep,
            runs: VecDeque::new(),
        };
        let Some(path) = store.path() else {
            return (store, None);
        };
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (store, None),
            Err(e) => return (store, Some(format!("cannot read {}: {e}", path.display()))),
        };
        match serde_json::from_slice::<Vec<RunRecord>>(&text) {
            Ok(runs) => {
                store.runs = runs.into();
                store.trim();
                (store, None)
            }
            Err(e) => {
                let aside =
                    path.with_extension(format!("corrupt-{}", crate::run::unix_now() as u64));
                let moved = std::fs::rename(&path, &aside).map_or_else(
                    |e| format!("could not move it aside: {e}"),
                    |()| format!("moved to {}", aside.display()),
                );
                (
                    store,
                    Some(format!(
                        "state file {} is corrupt ({e}); {moved}; starting empty",
                        path.display()
                    )),
                )
            }
        }
    }

    fn path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(FILE))
    }

    fn trim(&mut self) {
        while self.runs.len() > self.keep {
            self.runs.pop_front();
        }
    }

    /// Adds a run. Returns what to write to disk, if state is kept: the caller saves it off
    /// the async runtime, and saves one snapshot at a time, in order.
    pub fn push(&mut self, record: RunRecord) -> Option<Snapshot> {
        self.runs.push_back(record);
        self.trim();
        let (dir, path) = (self.dir.clone()?, self.path()?);
        Some(Snapshot {
            dir,
            path,
            json: serde_json::to_vec(&self.runs),
        })
    }

    /// Recent runs, newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &RunRecord> {
        self.runs.iter().rev()
    }

    /// The state directory in use, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(workers: u32) -> RunRecord {
        serde_json::from_value(serde_json::json!({
            "backend": "process", "sync": "none", "workers": workers, "lines": 5, "reread": true,
            "finished_at": 1.0, "success": false, "failure": {"reason": "timeout", "message": "slow"}
        }))
        .expect("record")
    }

    #[test]
    fn runs_survive_a_reopen_newest_first_and_trimmed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut store, warning) = Store::open(Some(dir.path().to_owned()), 2);
        assert!(warning.is_none());
        for w in 1..=3 {
            store.push(record(w)).expect("kept").save().expect("save");
        }
        let (store, warning) = Store::open(Some(dir.path().to_owned()), 2);
        assert!(warning.is_none());
        let workers: Vec<u32> = store.newest_first().map(|r| r.workers).collect();
        assert_eq!(workers, vec![3, 2]);
    }

    #[test]
    fn a_corrupt_file_is_set_aside_with_a_warning() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FILE), b"[{\"backend\": tru").expect("write");
        let (mut store, warning) = Store::open(Some(dir.path().to_owned()), 5);
        let warning = warning.expect("warning");
        assert!(
            warning.contains("corrupt") && warning.contains("moved to"),
            "{warning}"
        );
        assert_eq!(store.newest_first().count(), 0);
        store
            .push(record(1))
            .expect("kept")
            .save()
            .expect("save after corruption");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().any(|n| n.starts_with("runs.corrupt-")),
            "{names:?}"
        );
        assert!(names.contains(&FILE.to_owned()));
    }
}
