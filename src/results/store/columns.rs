//! The columns of a run's row, from one table: each column's name, SQL type, and how a record's
//! value is written and read back. A new column is one entry here plus a migration that adds
//! it (a unit test holds the two in step).

use rusqlite::Row;
use rusqlite::types::{Value, ValueRef};

use crate::host::Disturbance;
use crate::record::{Failure, Measurement, RunRecord};
use crate::workload::{Backend, Spec, SyncMode};

/// How a column's value comes from a record and goes back into one.
enum Access {
    /// A value of the record itself.
    Run {
        write: fn(&RunRecord) -> Value,
        read: fn(&mut RunRecord, Cell<'_>) -> Result<(), String>,
    },
    /// A value of the record's measurement: NULL for a run that measured nothing, and not
    /// read back for one.
    Measured {
        write: fn(&Measurement) -> Value,
        read: fn(&mut Measurement, Cell<'_>) -> Result<(), String>,
    },
}

/// One column of `runs` after `id`.
pub(super) struct Column {
    /// Its name.
    pub name: &'static str,
    /// Its SQL type, as its migration declares it.
    pub sql_type: &'static str,
    access: Access,
}

const fn run(
    name: &'static str,
    sql_type: &'static str,
    write: fn(&RunRecord) -> Value,
    read: fn(&mut RunRecord, Cell<'_>) -> Result<(), String>,
) -> Column {
    Column {
        name,
        sql_type,
        access: Access::Run { write, read },
    }
}

const fn measured(
    name: &'static str,
    sql_type: &'static str,
    write: fn(&Measurement) -> Value,
    read: fn(&mut Measurement, Cell<'_>) -> Result<(), String>,
) -> Column {
    Column {
        name,
        sql_type,
        access: Access::Measured { write, read },
    }
}

/// Every column after `id`, in the order they are written and read. `duration_seconds` comes
/// before the other measured columns: a value there is what makes a record measured.
pub(super) const COLUMNS: &[Column] = &[
    run(
        "sweep_id",
        "INTEGER",
        |r| opt_int(r.sweep_id),
        |r, c| {
            r.sweep_id = c.opt_i64()?;
            Ok(())
        },
    ),
    run(
        "backend",
        "TEXT",
        |r| text(r.spec.backend.as_str()),
        |r, c| {
            r.spec.backend = c.text()?.parse().map_err(|e: String| c.fail(e))?;
            Ok(())
        },
    ),
    run(
        "sync",
        "TEXT",
        |r| text(r.spec.sync.as_str()),
        |r, c| {
            r.spec.sync = c.text()?.parse().map_err(|e: String| c.fail(e))?;
            Ok(())
        },
    ),
    run(
        "workers",
        "INTEGER",
        |r| int(r.spec.workers),
        |r, c| {
            r.spec.workers = u32::try_from(c.int()?).map_err(|e| c.fail(e))?;
            Ok(())
        },
    ),
    run(
        "lines",
        "INTEGER",
        |r| int(r.spec.lines),
        |r, c| {
            r.spec.lines = c.int()?;
            Ok(())
        },
    ),
    run(
        "reread",
        "INTEGER",
        |r| flag(r.spec.reread),
        |r, c| {
            r.spec.reread = c.flag()?;
            Ok(())
        },
    ),
    run(
        "started_at",
        "REAL",
        |r| Value::Real(r.started_at),
        |r, c| {
            r.started_at = c.real()?;
            Ok(())
        },
    ),
    run(
        "finished_at",
        "REAL",
        |r| Value::Real(r.finished_at),
        |r, c| {
            r.finished_at = c.real()?;
            Ok(())
        },
    ),
    run(
        "success",
        "INTEGER",
        |r| flag(r.success),
        |r, c| {
            r.success = c.flag()?;
            Ok(())
        },
    ),
    run(
        "failure_reason",
        "TEXT",
        |r| {
            r.failure
                .as_ref()
                .map_or(Value::Null, |f| text(f.reason.as_str()))
        },
        |r, c| {
            r.failure = match c.opt_text()? {
                Some(reason) => Some(Failure {
                    reason: reason.parse().map_err(|e: String| c.fail(e))?,
                    message: String::new(),
                }),
                None => None,
            };
            Ok(())
        },
    ),
    run(
        "failure_message",
        "TEXT",
        |r| r.failure.as_ref().map_or(Value::Null, |f| text(&f.message)),
        |r, c| {
            if let Some(failure) = &mut r.failure {
                failure.message = c.opt_text()?.unwrap_or_default().to_owned();
            }
            Ok(())
        },
    ),
    run(
        "duration_seconds",
        "REAL",
        |r| opt_real(r.duration_seconds()),
        |r, c| {
            r.measurement = c.opt_real()?.map(|duration_seconds| Measurement {
                duration_seconds,
                ..Measurement::default()
            });
            Ok(())
        },
    ),
    measured(
        "lines_per_second",
        "REAL",
        |m| Value::Real(m.lines_per_second),
        |m, c| {
            m.lines_per_second = c.real()?;
            Ok(())
        },
    ),
    measured(
        "disorder",
        "INTEGER",
        |m| int(m.output.disorder),
        |m, c| {
            m.output.disorder = c.int()?;
            Ok(())
        },
    ),
    measured(
        "duplicates",
        "INTEGER",
        |m| int(m.output.duplicates),
        |m, c| {
            m.output.duplicates = c.int()?;
            Ok(())
        },
    ),
    measured(
        "missing",
        "INTEGER",
        |m| int(m.output.missing),
        |m, c| {
            m.output.missing = c.int()?;
            Ok(())
        },
    ),
    measured(
        "torn_records",
        "INTEGER",
        |m| int(m.output.torn_records),
        |m, c| {
            m.output.torn_records = c.int()?;
            Ok(())
        },
    ),
    measured(
        "pids",
        "INTEGER",
        |m| int(m.output.pids),
        |m, c| {
            m.output.pids = c.int()?;
            Ok(())
        },
    ),
    measured(
        "threads_min",
        "INTEGER",
        |m| int(m.output.threads_min),
        |m, c| {
            m.output.threads_min = c.int()?;
            Ok(())
        },
    ),
    measured(
        "threads_max",
        "INTEGER",
        |m| int(m.output.threads_max),
        |m, c| {
            m.output.threads_max = c.int()?;
            Ok(())
        },
    ),
    measured(
        "cpu_records",
        "TEXT",
        |m| serde_json::to_string(&m.output.cpu_records).map_or(Value::Null, Value::Text),
        |m, c| {
            m.output.cpu_records = serde_json::from_str(c.text()?).map_err(|e| c.fail(e))?;
            Ok(())
        },
    ),
    measured(
        "cpus_used",
        "INTEGER",
        |m| int(m.output.cpus_used),
        |m, c| {
            m.output.cpus_used = c.int()?;
            Ok(())
        },
    ),
    measured(
        "cpu_migrations",
        "INTEGER",
        |m| int(m.cpu_migrations),
        |m, c| {
            m.cpu_migrations = c.int()?;
            Ok(())
        },
    ),
    measured(
        "voluntary_ctx_switches",
        "INTEGER",
        |m| int(m.voluntary_ctx_switches),
        |m, c| {
            m.voluntary_ctx_switches = c.int()?;
            Ok(())
        },
    ),
    measured(
        "involuntary_ctx_switches",
        "INTEGER",
        |m| int(m.involuntary_ctx_switches),
        |m, c| {
            m.involuntary_ctx_switches = c.int()?;
            Ok(())
        },
    ),
    run(
        "warmup",
        "INTEGER",
        |r| flag(r.warmup),
        |r, c| {
            r.warmup = c.flag()?;
            Ok(())
        },
    ),
    measured(
        "cpu_seconds",
        "REAL",
        |m| Value::Real(m.cpu_seconds),
        |m, c| {
            m.cpu_seconds = c.opt_real()?.unwrap_or(0.0);
            Ok(())
        },
    ),
    run(
        "total_periods",
        "INTEGER",
        |r| opt_int(r.host.total_periods),
        |r, c| {
            r.host.total_periods = c.opt_int()?;
            Ok(())
        },
    ),
    run(
        "throttled_periods",
        "INTEGER",
        |r| opt_int(r.host.throttled_periods),
        |r, c| {
            r.host.throttled_periods = c.opt_int()?;
            Ok(())
        },
    ),
    run(
        "throttled_seconds",
        "REAL",
        |r| opt_real(r.host.throttled_seconds),
        |r, c| {
            r.host.throttled_seconds = c.opt_real()?;
            Ok(())
        },
    ),
    run(
        "steal_seconds",
        "REAL",
        |r| opt_real(r.host.steal_seconds),
        |r, c| {
            r.host.steal_seconds = c.opt_real()?;
            Ok(())
        },
    ),
    run(
        "cpu_pressure_seconds",
        "REAL",
        |r| opt_real(r.host.cpu_pressure_seconds),
        |r, c| {
            r.host.cpu_pressure_seconds = c.opt_real()?;
            Ok(())
        },
    ),
    run(
        "throttled",
        "INTEGER",
        |r| flag(r.throttled),
        |r, c| {
            r.throttled = c.flag()?;
            Ok(())
        },
    ),
    run(
        "disturbed",
        "INTEGER",
        |r| flag(r.disturbed),
        |r, c| {
            r.disturbed = c.flag()?;
            Ok(())
        },
    ),
    run(
        "probe",
        "INTEGER",
        |r| flag(r.probe),
        |r, c| {
            r.probe = c.flag()?;
            Ok(())
        },
    ),
    run(
        "round",
        "INTEGER",
        |r| opt_int(r.round),
        |r, c| {
            r.round = c.opt_int()?.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
            Ok(())
        },
    ),
];

/// Whether the `runs` table of `conn` has exactly the columns of the table, in order, with
/// their types; the error says how it differs.
pub(super) fn check(conn: &rusqlite::Connection) -> Result<(), String> {
    let mut statement = conn
        .prepare("SELECT name, type FROM pragma_table_info('runs') WHERE name != 'id' ORDER BY cid")
        .map_err(|e| e.to_string())?;
    let found: Vec<(String, String)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(|e| e.to_string())?;
    let expected = COLUMNS.iter().map(|c| (c.name, c.sql_type));
    if found
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .eq(expected)
    {
        return Ok(());
    }
    let found: Vec<String> = found.iter().map(|(n, t)| format!("{n} {t}")).collect();
    Err(format!(
        "the runs table has the columns {}, not the ones this program reads",
        found.join(", ")
    ))
}

/// The column names, comma-separated, in table order.
pub(super) fn names() -> String {
    COLUMNS
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A record as the values of [`COLUMNS`].
pub(super) fn values(record: &RunRecord) -> Vec<Value> {
    COLUMNS
        .iter()
        .map(|column| match &column.access {
            Access::Run { write, .. } => write(record),
            Access::Measured { write, .. } => {
                record.measurement.as_ref().map_or(Value::Null, write)
            }
        })
        .collect()
}

/// The record of `row`, whose values from `first` on are the [`COLUMNS`] in table order; the
/// error names the column. Values are read in place, not copied.
pub(super) fn record(row: &Row<'_>, first: usize) -> Result<RunRecord, String> {
    let mut record = blank();
    for (i, column) in COLUMNS.iter().enumerate() {
        let cell = Cell {
            column: column.name,
            value: row.get_ref(first + i).map_err(|e| e.to_string())?,
        };
        match (&column.access, &mut record.measurement) {
            (Access::Run { read, .. }, _) => read(&mut record, cell)?,
            (Access::Measured { read, .. }, Some(m)) => read(m, cell)?,
            (Access::Measured { .. }, None) => {}
        }
    }
    Ok(record)
}

/// A record whose every value the columns set.
fn blank() -> RunRecord {
    RunRecord {
        spec: Spec {
            backend: Backend::Thread,
            sync: SyncMode::None,
            workers: 0,
            lines: 0,
            reread: false,
        },
        sweep_id: None,
        warmup: false,
        round: None,
        probe: false,
        started_at: 0.0,
        finished_at: 0.0,
        success: false,
        failure: None,
        measurement: None,
        host: Disturbance::default(),
        throttled: false,
        disturbed: false,
    }
}

/// One value read from a row, with its column's name for errors.
pub(super) struct Cell<'a> {
    column: &'static str,
    value: ValueRef<'a>,
}

impl<'a> Cell<'a> {
    fn fail(&self, why: impl std::fmt::Display) -> String {
        format!("column {}: {why}", self.column)
    }

    fn opt_i64(&self) -> Result<Option<i64>, String> {
        match self.value {
            ValueRef::Integer(n) => Ok(Some(n)),
            ValueRef::Null => Ok(None),
            other => Err(self.fail(format!("expected an integer, found {other:?}"))),
        }
    }

    fn opt_int(&self) -> Result<Option<u64>, String> {
        self.opt_i64()?
            .map(|n| u64::try_from(n).map_err(|e| self.fail(e)))
            .transpose()
    }

    fn int(&self) -> Result<u64, String> {
        self.opt_int()?.ok_or_else(|| self.fail("is empty"))
    }

    fn flag(&self) -> Result<bool, String> {
        Ok(self.int()? != 0)
    }

    fn opt_real(&self) -> Result<Option<f64>, String> {
        match self.value {
            ValueRef::Real(x) => Ok(Some(x)),
            ValueRef::Integer(n) => Ok(Some(n as f64)),
            ValueRef::Null => Ok(None),
            other => Err(self.fail(format!("expected a number, found {other:?}"))),
        }
    }

    fn real(&self) -> Result<f64, String> {
        self.opt_real()?.ok_or_else(|| self.fail("is empty"))
    }

    fn opt_text(&self) -> Result<Option<&'a str>, String> {
        match self.value {
            ValueRef::Text(bytes) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|e| self.fail(e)),
            ValueRef::Null => Ok(None),
            other => Err(self.fail(format!("expected text, found {other:?}"))),
        }
    }

    fn text(&self) -> Result<&'a str, String> {
        self.opt_text()?.ok_or_else(|| self.fail("is empty"))
    }
}

fn int(n: impl Into<u64>) -> Value {
    Value::Integer(saturating_i64(n.into()))
}

fn opt_int<N: Into<i128>>(n: Option<N>) -> Value {
    n.map_or(Value::Null, |n| {
        Value::Integer(i64::try_from(n.into()).unwrap_or(i64::MAX))
    })
}

fn opt_real(x: Option<f64>) -> Value {
    x.map_or(Value::Null, Value::Real)
}

fn flag(b: bool) -> Value {
    Value::Integer(b.into())
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// `n` as SQLite's integer, saturating.
pub(super) fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::store::Store;

    #[test]
    fn the_table_matches_the_schema_the_migrations_make() {
        let store = Store::open(None).expect("in memory");
        assert_eq!(check(&store.conn), Ok(()));
        store
            .conn
            .execute_batch("ALTER TABLE runs ADD COLUMN extra REAL")
            .expect("alter");
        let error = check(&store.conn).expect_err("an extra column");
        assert!(error.contains("round INTEGER, extra REAL"), "{error}");
    }

    #[test]
    fn a_bad_value_names_its_column() {
        let mut store = Store::open(None).expect("in memory");
        store
            .insert(&crate::record::fixtures::measured(2, 5.0))
            .expect("insert");
        store
            .conn
            .execute("UPDATE runs SET sync = 'sometimes'", [])
            .expect("spoil it");
        let error = store
            .runs(&crate::results::store::tests::all())
            .expect_err("a bad sync")
            .to_string();
        assert!(
            error.contains("row 1: column sync: unknown sync mode"),
            "{error}"
        );
    }
}
