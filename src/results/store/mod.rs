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
use std::path::PathBuf;

use nix::fcntl::Flock;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params_from_iter};

mod columns;
mod facts;
mod migrations;
mod open;
mod values;

use values::saturating_i64;

use super::RunFilter;
use crate::record::RunRecord;
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
    /// A database opened for reading has no history schema at all.
    #[error("{path} is not a run history (it has no schema version)")]
    NotHistory {
        /// The database file.
        path: String,
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
    /// `error` as this store's.
    fn error(&self, error: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            where_: self.name.clone(),
            error,
        }
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
    Ok((row.get(0)?, columns::record(row, 1)))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::host::facts::Facts;
    use crate::record::FailureReason;
    use crate::record::fixtures::measured;
    use crate::workload::{Backend, SyncMode};

    /// Every run, up to 1,000.
    pub(crate) fn all() -> RunFilter {
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
            with_sweep.sweep_id = Some(store.begin_sweep(49.0, &Facts::default()).expect("sweep"));
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
        let sweep = store.begin_sweep(0.0, &Facts::default()).expect("sweep");
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
        let old = store.begin_sweep(10.0, &Facts::default()).expect("sweep");
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
}
