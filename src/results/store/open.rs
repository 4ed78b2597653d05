//! Opening the history: in memory or from a file made if missing, its schema migrated
//! forward and checked against the columns this program reads; a damaged file set aside; the
//! state directory taken for one daemon; the JSON state of earlier versions imported once.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use rusqlite::Connection;

use super::migrations::MIGRATIONS;
use super::{FILE, LEGACY_FILE, LOCK_FILE, Store, StoreError, columns, insert};
use crate::record::{RunRecord, unix_now};

impl Store {
    /// Takes the state directory `dir` (made if missing) for this process, then opens its
    /// history and imports the JSON state of earlier versions found there once.
    pub fn open_state_dir(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|error| StoreError::Io {
            path: dir.to_owned(),
            error,
        })?;
        let owner = lock_state_dir(dir)?;
        let mut store = Store::open(Some(&dir.join(FILE)))?;
        store._owner = Some(owner);
        store.import_legacy(&dir.join(LEGACY_FILE))?;
        Ok(store)
    }

    /// Opens (or creates) the history database at `path`, or an in-memory one without a
    /// path, and migrates its schema.
    pub fn open(path: Option<&Path>) -> Result<Store, StoreError> {
        let Some(path) = path else {
            let conn = Connection::open_in_memory().map_err(|error| StoreError::Sqlite {
                where_: "in memory".to_owned(),
                error,
            })?;
            return Store::prepare(conn, "in memory".to_owned());
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|error| StoreError::Io {
                path: dir.to_owned(),
                error,
            })?;
        }
        match Store::open_file(path) {
            Err(StoreError::Sqlite { error, .. }) if is_corruption(&error) => {
                let aside = set_aside(path)?;
                tracing::warn!(
                    "run history {} is damaged ({error}); moved to {} and starting a new one",
                    path.display(),
                    aside.display()
                );
                Store::open_file(path)
            }
            other => other,
        }
    }

    /// Opens the history database at `path` for reading only. A history of an earlier
    /// version is read from a copy in memory brought up to date; a later version's is
    /// refused.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let name = path.display().to_string();
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|error| StoreError::Sqlite {
                where_: name.clone(),
                error,
            })?;
        let store = Store {
            conn,
            name,
            _owner: None,
        };
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| store.error(e))?;
        if version > MIGRATIONS.len() as i64 {
            return Err(StoreError::TooNew {
                path: store.name.clone(),
                found: usize::try_from(version).unwrap_or(usize::MAX),
                known: MIGRATIONS.len(),
            });
        }
        if version == 0 {
            return Err(StoreError::NotHistory { path: store.name });
        }
        if version < MIGRATIONS.len() as i64 {
            // An earlier version's history: read from a copy in memory, brought up to date
            // there; the file is left as it is.
            let mut copy = Connection::open_in_memory().map_err(|e| store.error(e))?;
            rusqlite::backup::Backup::new(&store.conn, &mut copy)
                .and_then(|b| b.run_to_completion(1024, std::time::Duration::ZERO, None))
                .map_err(|e| store.error(e))?;
            return Store::prepare(copy, store.name);
        }
        store.check_columns()?;
        Ok(store)
    }

    fn open_file(path: &Path) -> Result<Store, StoreError> {
        let name = path.display().to_string();
        let conn = Connection::open(path).map_err(|error| StoreError::Sqlite {
            where_: name.clone(),
            error,
        })?;
        let store = Store::prepare(conn, name)?;
        let check: String = store
            .conn
            .query_row("PRAGMA quick_check", [], |row| row.get(0))
            .map_err(|e| store.error(e))?;
        if check != "ok" {
            return Err(store.error(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(check),
            )));
        }
        Ok(store)
    }

    /// Sets the connection up and brings the schema up to date.
    fn prepare(conn: Connection, name: String) -> Result<Store, StoreError> {
        let mut store = Store {
            conn,
            name,
            _owner: None,
        };
        let setup = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";
        store
            .conn
            .execute_batch(setup)
            .map_err(|e| store.error(e))?;
        store.migrate()?;
        store.check_columns()?;
        Ok(store)
    }

    /// Whether the runs table has the columns this program reads and writes.
    fn check_columns(&self) -> Result<(), StoreError> {
        columns::check(&self.conn).map_err(|what| StoreError::Schema {
            where_: self.name.clone(),
            what,
        })
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| self.error(e))?;
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        if version > MIGRATIONS.len() {
            return Err(StoreError::TooNew {
                path: self.name.clone(),
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let applied = (|| {
                let tx = self.conn.transaction()?;
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", index as i64 + 1)?;
                tx.commit()
            })();
            applied.map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    /// Imports the runs of a JSON state file of earlier versions (`runs.json`), if there is
    /// one, then moves it aside; an unreadable one is moved aside with a warning.
    pub fn import_legacy(&mut self, path: &Path) -> Result<(), StoreError> {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => {
                return Err(StoreError::Io {
                    path: path.to_owned(),
                    error,
                });
            }
        };
        let runs = match serde_json::from_slice::<Vec<RunRecord>>(&text) {
            Ok(runs) => runs,
            Err(e) => {
                let aside = set_aside(path)?;
                tracing::warn!(
                    "state file {} is corrupt ({e}); moved to {}; nothing imported",
                    path.display(),
                    aside.display()
                );
                return Ok(());
            }
        };
        let imported = (|| {
            let tx = self.conn.transaction()?;
            for mut run in runs {
                if run.started_at == 0.0 {
                    run.started_at = run.finished_at - run.duration_seconds().unwrap_or(0.0);
                }
                insert(&tx, &run)?;
            }
            tx.commit()
        })();
        imported.map_err(|e| self.error(e))?;
        let imported = path.with_extension("json.imported");
        std::fs::rename(path, &imported).map_err(|error| StoreError::Io {
            path: path.to_owned(),
            error,
        })?;
        tracing::info!(
            "imported the runs of {} into the run history; the file is now {}",
            path.display(),
            imported.display()
        );
        Ok(())
    }
}

/// The exclusive lock of the state directory `dir`, with this process's pid written in it.
fn lock_state_dir(dir: &Path) -> Result<Flock<File>, StoreError> {
    let path = dir.join(LOCK_FILE);
    let io = |error: std::io::Error| StoreError::Io {
        path: path.clone(),
        error,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            lock.set_len(0).map_err(io)?;
            writeln!(lock, "{}", std::process::id()).map_err(io)?;
            Ok(lock)
        }
        Err((_, Errno::EWOULDBLOCK)) => Err(StoreError::InUse {
            dir: dir.to_owned(),
            pid: std::fs::read_to_string(&path)
                .map(|pid| pid.trim().to_owned())
                .unwrap_or_else(|_| "unknown".to_owned()),
        }),
        Err((_, errno)) => Err(io(errno.into())),
    }
}

/// Whether `error` says the file is not a usable database.
fn is_corruption(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

/// Renames `path` (and a database's `-wal` and `-shm` files) to `PATH.corrupt-<unix time>`.
fn set_aside(path: &Path) -> Result<PathBuf, StoreError> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".corrupt-{}", unix_now() as u64));
    let aside = PathBuf::from(aside);
    for suffix in ["", "-wal", "-shm"] {
        let mut from = path.as_os_str().to_owned();
        from.push(suffix);
        let mut to = aside.as_os_str().to_owned();
        to.push(suffix);
        match std::fs::rename(&from, &to) {
            Err(e) if suffix.is_empty() || e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StoreError::Io {
                    path: PathBuf::from(from),
                    error: e,
                });
            }
            _ => {}
        }
    }
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::FailureReason;
    use crate::record::fixtures::measured;
    use crate::results::store::tests::all;

    #[test]
    fn a_legacy_json_state_file_is_imported_once_and_moved_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let legacy = dir.path().join(LEGACY_FILE);
        // The format of earlier versions: no started_at, no sweep_id.
        let mut old = serde_json::to_value(measured(2, 500.0)).expect("json");
        old.as_object_mut().expect("object").remove("started_at");
        let failed = serde_json::json!({
            "backend": "process", "sync": "none", "workers": 1, "lines": 5, "reread": true,
            "finished_at": 600.0, "success": false, "failure": {"reason": "timeout", "message": "slow"}
        });
        std::fs::write(&legacy, serde_json::to_vec(&[old, failed]).expect("json")).expect("write");
        let path = dir.path().join(FILE);
        let mut store = Store::open(Some(&path)).expect("open");
        store.import_legacy(&legacy).expect("import");
        let runs = store.runs(&all()).expect("runs");
        assert_eq!(runs.len(), 2);
        assert_eq!(
            runs[0].failure.as_ref().map(|f| f.reason),
            Some(FailureReason::Timeout)
        );
        assert_eq!((runs[1].started_at, runs[1].finished_at), (499.75, 500.0));
        assert_eq!(runs[1].measurement, measured(2, 500.0).measurement);
        assert!(!legacy.exists());
        assert!(dir.path().join("runs.json.imported").exists());

        store
            .import_legacy(&legacy)
            .expect("nothing left to import");
        assert_eq!(store.runs(&all()).expect("runs").len(), 2);
    }

    #[test]
    fn a_corrupt_legacy_file_is_set_aside_and_nothing_is_imported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let legacy = dir.path().join(LEGACY_FILE);
        std::fs::write(&legacy, b"[{\"backend\": tru").expect("write");
        let mut store = Store::open(None).expect("memory");
        store.import_legacy(&legacy).expect("set aside, not fatal");
        assert!(store.runs(&all()).expect("runs").is_empty());
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().any(|n| n.starts_with("runs.json.corrupt-")),
            "{names:?}"
        );
    }

    #[test]
    fn a_database_of_the_first_schema_is_migrated_with_its_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE);
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(MIGRATIONS[0]).expect("first schema");
            conn.pragma_update(None, "user_version", 1)
                .expect("version");
            conn.execute(
                "INSERT INTO runs (backend, sync, workers, lines, reread, started_at, \
                 finished_at, success, failure_reason, failure_message) \
                 VALUES ('process', 'lock', 2, 300, 1, 10.0, 11.0, 0, 'timeout', 'slow')",
                [],
            )
            .expect("a run of the first schema");
        }
        let store = Store::open(Some(&path)).expect("migrated");
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, MIGRATIONS.len() as i64);
        let runs = store.runs(&all()).expect("runs");
        assert_eq!(runs.len(), 1);
        let run = &runs[0];
        assert_eq!((run.spec.workers, run.finished_at), (2, 11.0));
        assert_eq!(
            run.failure.as_ref().map(|f| f.reason),
            Some(FailureReason::Timeout)
        );
        assert!(!run.warmup && !run.throttled && !run.disturbed);
        assert_eq!(run.host, crate::host::Disturbance::default());
    }

    #[test]
    fn a_damaged_database_is_set_aside_and_a_newer_schema_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE);
        std::fs::write(&path, vec![b'x'; 8192]).expect("garbage");
        let mut store = Store::open(Some(&path)).expect("a new database");
        store.insert(&measured(1, 1.0)).expect("usable");
        assert!(
            std::fs::read_dir(dir.path())
                .expect("dir")
                .filter_map(Result::ok)
                .any(|e| e
                    .file_name()
                    .to_string_lossy()
                    .starts_with("history.sqlite.corrupt-"))
        );
        store
            .conn
            .pragma_update(None, "user_version", 99)
            .expect("pretend a newer schema");
        drop(store);
        let err = Store::open(Some(&path)).err().expect("refused");
        assert!(
            matches!(
                err,
                StoreError::TooNew {
                    found: 99,
                    known,
                    ..
                } if known == MIGRATIONS.len()
            ),
            "{err}"
        );
        assert!(err.to_string().contains("move the file aside"), "{err}");
    }

    #[test]
    fn a_state_directory_is_taken_by_one_store_at_a_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let first = Store::open_state_dir(&state).expect("first");
        let pid = std::process::id().to_string();
        match Store::open_state_dir(&state) {
            Err(StoreError::InUse { pid: holder, .. }) => assert_eq!(holder, pid),
            other => panic!("a second store on the same directory: {:?}", other.err()),
        }
        drop(first);
        assert!(
            Store::open_state_dir(&state).is_ok(),
            "free again once the first is gone"
        );
    }
}
