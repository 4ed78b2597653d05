//! The run history on disk: one SQLite database per daemon (`history.sqlite` in the state
//! directory, or the `run` command's `--record` file), or in memory without one.
//!
//! Every run is one row: its spec, sweep, start and end time, outcome and every measured field,
//! the per-CPU records as a small JSON object. The database runs in WAL mode with
//! `synchronous = NORMAL`: a committed run survives the process being killed at any moment
//! (only a power loss can take back the last commits). The schema is versioned with
//! `PRAGMA user_version` and migrated forward on open; a newer schema than this program knows
//! is refused rather than guessed at. A file that is not a database, or fails SQLite's own
//! check, is moved aside and a new one started, as is an unreadable legacy `runs.json` (the
//! JSON state of earlier versions), which is otherwise imported once and then moved aside.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params_from_iter};

mod columns;
mod migrations;

use columns::saturating_i64;
use migrations::MIGRATIONS;

use super::RunFilter;
use crate::record::{RunRecord, unix_now};
use crate::workload::Spec;

/// File name of the database inside the state directory.
pub const FILE: &str = "history.sqlite";

/// File name of the state directory's lock, which holds the pid of the daemon using it.
pub const LOCK_FILE: &str = "lock";

/// File name of the JSON state of earlier versions inside the state directory.
pub const LEGACY_FILE: &str = "runs.json";

/// Why the history could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation.
    #[error("run history {where_}: {error}")]
    Sqlite {
        /// The database file, or "in memory".
        where_: String,
        /// SQLite's error.
        error: rusqlite::Error,
    },
    /// The state directory or a file in it could not be made or moved.
    #[error("run history {path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// The database was written by a newer version of this program.
    #[error(
        "run history {path} has schema version {found}, newer than the {known} this program knows; \
         run a newer copybench_exporter or move the file aside"
    )]
    TooNew {
        /// The database file.
        path: String,
        /// Its schema version.
        found: usize,
        /// The newest version this program knows.
        known: usize,
    },
    /// The runs table does not have the columns this program reads.
    #[error("run history {where_}: {what}")]
    Schema {
        /// The database file, or "in memory".
        where_: String,
        /// How it differs.
        what: String,
    },
    /// Another process holds the state directory.
    #[error(
        "state directory {dir} is in use by another copybench_exporter (pid {pid}); give each \
         daemon a [state] dir of its own"
    )]
    InUse {
        /// The directory.
        dir: PathBuf,
        /// The holder's pid, as it wrote it in the lock file.
        pid: String,
    },
    /// A database opened for reading has another schema version than this program writes.
    #[error(
        "run history {path} has schema version {found}, not the {known} this program reads; \
         open it once with this version's daemon (or run --record) to migrate it"
    )]
    Version {
        /// The database file.
        path: String,
        /// Its schema version.
        found: i64,
        /// The version this program writes.
        known: usize,
    },
    /// A stored row holds a value this program cannot read back.
    #[error("run history {where_}: row {id}: {what}")]
    BadRow {
        /// The database file, or "in memory".
        where_: String,
        /// The row id.
        id: i64,
        /// What is wrong with it.
        what: String,
    },
}

/// The run history database.
pub struct Store {
    conn: Connection,
    /// The file, for messages; "in memory" without one.
    name: String,
    /// The state directory's lock, held while the store is open, so that a second daemon on
    /// the same directory is refused instead of mixing its runs into this one's.
    _owner: Option<Flock<File>>,
}

impl StoreError {
    /// Whether the error may pass (a full disk, a file that cannot be written now, a busy
    /// database), so that the write is worth trying again later.
    pub fn is_transient(&self) -> bool {
        use rusqlite::ErrorCode::*;
        match self {
            StoreError::Sqlite { error, .. } => matches!(
                error.sqlite_error_code(),
                Some(
                    DiskFull
                        | ReadOnly
                        | SystemIoFailure
                        | DatabaseBusy
                        | DatabaseLocked
                        | CannotOpen
                        | OutOfMemory
                )
            ),
            StoreError::Io { .. } => true,
            _ => false,
        }
    }
}

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

    /// Opens the history database at `path` for reading only. Its schema must be the one
    /// this program writes (a daemon of this version migrates it on start).
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
        if version != MIGRATIONS.len() as i64 {
            return Err(StoreError::Version {
                path: store.name.clone(),
                found: version,
                known: MIGRATIONS.len(),
            });
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

    fn error(&self, error: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            where_: self.name.clone(),
            error,
        }
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

    /// Starts a sweep at `started_at` and returns its id.
    pub fn begin_sweep(&mut self, started_at: f64) -> Result<i64, StoreError> {
        self.conn
            .execute("INSERT INTO sweeps (started_at) VALUES (?1)", [started_at])
            .map_err(|e| self.error(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Marks sweep `id` finished at `finished_at`, its workers having used `cpu_seconds`.
    pub fn finish_sweep(
        &mut self,
        id: i64,
        finished_at: f64,
        cpu_seconds: f64,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE sweeps SET finished_at = ?2, cpu_seconds = ?3 WHERE id = ?1",
                rusqlite::params![id, finished_at, cpu_seconds],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// Keeps the calibration time of sweep `id`.
    pub fn calibrate_sweep(&mut self, id: i64, seconds: f64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE sweeps SET calibration_seconds = ?2 WHERE id = ?1",
                rusqlite::params![id, seconds],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// The calibration time of the newest sweep that has one.
    pub fn latest_calibration(&self) -> Result<Option<f64>, StoreError> {
        self.conn
            .query_row(
                "SELECT calibration_seconds FROM sweeps WHERE calibration_seconds IS NOT NULL \
                 ORDER BY id DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// The id of the `n`th newest finished sweep (1 = the newest) with runs of `spec`, or the
    /// oldest one when there are fewer.
    pub fn nth_latest_sweep(&self, spec: &Spec, n: usize) -> Result<Option<i64>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT min(sweep_id) FROM (SELECT DISTINCT sweep_id FROM runs \
                 WHERE backend = ?1 AND sync = ?2 AND workers = ?3 AND lines = ?4 \
                 AND reread = ?5 AND sweep_id IS NOT NULL \
                 AND sweep_id NOT IN (SELECT id FROM sweeps WHERE finished_at IS NULL) \
                 ORDER BY sweep_id DESC LIMIT ?6)",
            )
            .and_then(|mut statement| {
                statement.query_row(
                    rusqlite::params![
                        spec.backend.as_str(),
                        spec.sync.as_str(),
                        spec.workers,
                        saturating_i64(spec.lines),
                        spec.reread,
                        i64::try_from(n).unwrap_or(i64::MAX)
                    ],
                    |row| row.get(0),
                )
            })
            .map_err(|e| self.error(e))
    }

    /// Every combination with runs in the history; a combination that cannot be read is an
    /// error naming its first row.
    pub fn specs(&self) -> Result<Vec<Spec>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT backend, sync, workers, lines, reread, min(id) FROM runs \
                 GROUP BY backend, sync, workers, lines, reread \
                 ORDER BY backend, sync, workers, lines, reread",
            )
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, bool>(4)?,
                    row.get::<_, i64>(5)?,
                ))
            })
            .map_err(|e| self.error(e))?;
        let mut specs = Vec::new();
        for row in rows {
            let (backend, sync, workers, lines, reread, id) = row.map_err(|e| self.error(e))?;
            let bad = |what: String| StoreError::BadRow {
                where_: self.name.clone(),
                id,
                what,
            };
            specs.push(Spec {
                backend: backend.parse().map_err(bad)?,
                sync: sync.parse().map_err(bad)?,
                workers: u32::try_from(workers)
                    .map_err(|e| bad(format!("workers {workers}: {e}")))?,
                lines: u64::try_from(lines).map_err(|e| bad(format!("lines {lines}: {e}")))?,
                reread,
            });
        }
        Ok(specs)
    }

    /// The newest finished sweep that ran `spec`.
    pub fn latest_sweep_of(&self, spec: &Spec) -> Result<Option<i64>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT r.sweep_id FROM runs r JOIN sweeps s ON s.id = r.sweep_id \
                 WHERE s.finished_at IS NOT NULL AND r.backend = ?1 AND r.sync = ?2 \
                 AND r.workers = ?3 AND r.lines = ?4 AND r.reread = ?5 \
                 ORDER BY r.sweep_id DESC LIMIT 1",
            )
            .and_then(|mut statement| {
                statement
                    .query_row(
                        rusqlite::params![
                            spec.backend.as_str(),
                            spec.sync.as_str(),
                            spec.workers,
                            saturating_i64(spec.lines),
                            spec.reread
                        ],
                        |row| row.get(0),
                    )
                    .optional()
            })
            .map_err(|e| self.error(e))
    }

    /// Adds one run, committed before this returns.
    pub fn insert(&mut self, record: &RunRecord) -> Result<(), StoreError> {
        insert(&self.conn, record).map_err(|e| self.error(e))
    }

    /// Deletes runs and sweeps that ended before `before` (Unix seconds); returns how many
    /// runs went.
    pub fn prune(&mut self, before: f64) -> Result<usize, StoreError> {
        let deleted = (|| {
            let tx = self.conn.transaction()?;
            let runs = tx.execute("DELETE FROM runs WHERE finished_at < ?1", [before])?;
            tx.execute(
                "DELETE FROM sweeps WHERE coalesce(finished_at, started_at) < ?1",
                [before],
            )?;
            tx.commit()?;
            Ok(runs)
        })();
        deleted.map_err(|e| self.error(e))
    }

    /// Runs that match `filter`, newest first.
    pub fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let mut sql = format!("SELECT id, {} FROM runs WHERE 1", columns::names());
        let mut values: Vec<Value> = Vec::new();
        let mut and = |clause: &str, value: Value| {
            values.push(value);
            let _ = write!(sql, " AND {clause} ?{}", values.len());
        };
        if let Some(backend) = filter.backend {
            and("backend =", Value::Text(backend.to_string()));
        }
        if let Some(sync) = filter.sync {
            and("sync =", Value::Text(sync.to_string()));
        }
        if let Some(workers) = filter.workers {
            and("workers =", Value::Integer(workers.into()));
        }
        if let Some(lines) = filter.lines {
            and("lines =", Value::Integer(saturating_i64(lines)));
        }
        if let Some(reread) = filter.reread {
            and("reread =", Value::Integer(reread.into()));
        }
        if let Some(since) = filter.since {
            and("finished_at >=", Value::Real(since));
        }
        if let Some(sweep) = filter.sweep_id {
            and("sweep_id =", Value::Integer(sweep));
        }
        if let Some(sweep) = filter.from_sweep {
            and("sweep_id >=", Value::Integer(sweep));
        }
        if let Some(probe) = filter.probe {
            and("probe =", Value::Integer(probe.into()));
        }
        if filter.finished_sweeps {
            // The unfinished sweeps are few (the one running, any cut short): exclude those.
            sql.push_str(" AND sweep_id NOT IN (SELECT id FROM sweeps WHERE finished_at IS NULL)");
        }
        if filter.success_only {
            sql.push_str(" AND success = 1");
        }

        // A limit beyond what SQLite counts (i64) means none: LIMIT -1.
        let limit = i64::try_from(filter.limit).unwrap_or(-1);
        let _ = write!(sql, " ORDER BY id DESC LIMIT {limit}");
        let mut statement = self.conn.prepare_cached(&sql).map_err(|e| self.error(e))?;
        let rows = statement
            .query_map(params_from_iter(values), read_row)
            .map_err(|e| self.error(e))?;
        let mut runs = Vec::new();
        for row in rows {
            let (id, run) = row.map_err(|e| self.error(e))?;
            runs.push(run.map_err(|what| StoreError::BadRow {
                where_: self.name.clone(),
                id,
                what,
            })?);
        }
        Ok(runs)
    }
}

fn insert(conn: &Connection, record: &RunRecord) -> rusqlite::Result<()> {
    let sql = format!(
        "INSERT INTO runs ({}) VALUES ({})",
        columns::names(),
        vec!["?"; columns::COLUMNS.len()].join(", ")
    );
    conn.prepare_cached(&sql)?
        .execute(params_from_iter(columns::values(record)))
        .map(drop)
}

/// Reads a row of `id` and the [`columns::COLUMNS`] back into a record.
fn read_row(row: &Row<'_>) -> rusqlite::Result<(i64, Result<RunRecord, String>)> {
    let values = (1..=columns::COLUMNS.len())
        .map(|i| row.get::<_, Value>(i))
        .collect::<rusqlite::Result<Vec<Value>>>()?;
    Ok((row.get(0)?, columns::record(values)))
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
    use crate::workload::{Backend, SyncMode};

    fn all() -> RunFilter {
        RunFilter {
            limit: 1000,
            ..RunFilter::default()
        }
    }

    #[test]
    fn runs_come_back_as_they_went_in_newest_first_across_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state").join(FILE);
        let mut failed = RunRecord::failed(
            &measured(2, 0.0).spec,
            90.0,
            FailureReason::Timeout,
            "slow".into(),
        );
        failed.finished_at = 100.0;
        let mut with_sweep = measured(1, 50.0);
        {
            let mut store = Store::open(Some(&path)).expect("open");
            with_sweep.sweep_id = Some(store.begin_sweep(49.0).expect("sweep"));
            store.insert(&with_sweep).expect("insert");
            store.insert(&failed).expect("insert");
        }
        let store = Store::open(Some(&path)).expect("reopen");
        assert_eq!(store.runs(&all()).expect("runs"), vec![failed, with_sweep]);
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
    }

    #[test]
    fn filters_select_by_spec_time_sweep_and_success() {
        let mut store = Store::open(None).expect("memory");
        let sweep = store.begin_sweep(0.0).expect("sweep");
        for (i, workers) in [1, 2, 1, 2, 1].into_iter().enumerate() {
            let mut run = measured(workers, i as f64);
            run.success = i != 4;
            run.sweep_id = (i < 2).then_some(sweep);
            store.insert(&run).expect("insert");
        }
        let mut process = measured(1, 10.0);
        process.spec.backend = Backend::Process;
        store.insert(&process).expect("insert");
        let finished = |filter: RunFilter| -> Vec<f64> {
            let runs = store.runs(&filter).expect("runs");
            runs.iter().map(|r| r.finished_at).collect()
        };
        let thread = RunFilter {
            backend: Some(Backend::Thread),
            ..all()
        };
        assert_eq!(finished(thread.clone()), [4.0, 3.0, 2.0, 1.0, 0.0]);
        let one = RunFilter {
            workers: Some(1),
            ..thread.clone()
        };
        assert_eq!(finished(one.clone()), [4.0, 2.0, 0.0]);
        assert_eq!(
            finished(RunFilter {
                success_only: true,
                ..one.clone()
            }),
            [2.0, 0.0]
        );
        assert_eq!(
            finished(RunFilter {
                since: Some(2.0),
                ..one.clone()
            }),
            [4.0, 2.0]
        );
        assert_eq!(finished(RunFilter { limit: 2, ..one }), [4.0, 2.0]);
        assert_eq!(
            finished(RunFilter {
                sweep_id: Some(sweep),
                ..all()
            }),
            [1.0, 0.0]
        );
        assert_eq!(
            finished(RunFilter {
                sync: Some(SyncMode::None),
                ..all()
            }),
            [] as [f64; 0]
        );
        assert_eq!(
            finished(RunFilter {
                lines: Some(11),
                ..all()
            }),
            [] as [f64; 0]
        );
    }

    #[test]
    fn prune_deletes_runs_and_sweeps_older_than_the_cutoff() {
        let mut store = Store::open(None).expect("memory");
        let old = store.begin_sweep(10.0).expect("sweep");
        store.finish_sweep(old, 20.0, 1.5).expect("finish");
        for finished in [15.0, 25.0, 1000.0] {
            let mut run = measured(1, finished);
            run.sweep_id = Some(old);
            store.insert(&run).expect("insert");
        }
        assert_eq!(store.prune(100.0).expect("prune"), 2);
        let runs = store.runs(&all()).expect("runs");
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].finished_at, 1000.0);
        assert_eq!(
            runs[0].sweep_id, None,
            "its sweep went with the retention period"
        );
        let sweeps: i64 = store
            .conn
            .query_row("SELECT count(*) FROM sweeps", [], |r| r.get(0))
            .expect("count");
        assert_eq!(sweeps, 0);
    }

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
