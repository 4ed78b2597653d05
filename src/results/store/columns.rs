//! The columns of a run's row, from one table: each column's name, SQL type, and how a record's
//! value is written and read back. A new column is one entry here plus a migration that adds
//! it (a unit test holds the two in step).

use rusqlite::Row;
use rusqlite::types::{Value, ValueRef};

use crate::host::Disturbance;
use crate::record::{Failure, Measurement, RunRecord};
use crate::workload::{Backend, Spec, SyncMode};

use super::values::{get, put};

/// How a column's value comes from a record and goes back into one.
enum Access {
    /// A value of the record itself.
    Run {
        write: fn(&RunRecord) -> Value,
        read: fn(&mut RunRecord, ValueRef<'_>) -> Result<(), String>,
    },
    /// A value of the record's measurement: NULL for a run that measured nothing, and not
    /// read back for one.
    Measured {
        write: fn(&Measurement) -> Value,
        read: fn(&mut Measurement, ValueRef<'_>) -> Result<(), String>,
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
    read: fn(&mut RunRecord, ValueRef<'_>) -> Result<(), String>,
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
    read: fn(&mut Measurement, ValueRef<'_>) -> Result<(), String>,
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
        |r| put::opt_int(r.sweep_id),
        |r, c| {
            r.sweep_id = get::opt_i64(c)?;
            Ok(())
        },
    ),
    run(
        "backend",
        "TEXT",
        |r| put::text(r.spec.backend.as_str()),
        |r, c| {
            r.spec.backend = get::text(c)?.parse()?;
            Ok(())
        },
    ),
    run(
        "sync",
        "TEXT",
        |r| put::text(r.spec.sync.as_str()),
        |r, c| {
            r.spec.sync = get::text(c)?.parse()?;
            Ok(())
        },
    ),
    run(
        "workers",
        "INTEGER",
        |r| put::int(r.spec.workers),
        |r, c| {
            r.spec.workers = u32::try_from(get::int(c)?).map_err(|e| e.to_string())?;
            Ok(())
        },
    ),
    run(
        "lines",
        "INTEGER",
        |r| put::int(r.spec.lines),
        |r, c| {
            r.spec.lines = get::int(c)?;
            Ok(())
        },
    ),
    run(
        "reread",
        "INTEGER",
        |r| put::flag(r.spec.reread),
        |r, c| {
            r.spec.reread = get::flag(c)?;
            Ok(())
        },
    ),
    run(
        "started_at",
        "REAL",
        |r| Value::Real(r.started_at),
        |r, c| {
            r.started_at = get::real(c)?;
            Ok(())
        },
    ),
    run(
        "finished_at",
        "REAL",
        |r| Value::Real(r.finished_at),
        |r, c| {
            r.finished_at = get::real(c)?;
            Ok(())
        },
    ),
    run(
        "success",
        "INTEGER",
        |r| put::flag(r.success),
        |r, c| {
            r.success = get::flag(c)?;
            Ok(())
        },
    ),
    run(
        "failure_reason",
        "TEXT",
        |r| {
            r.failure
                .as_ref()
                .map_or(Value::Null, |f| put::text(f.reason.as_str()))
        },
        |r, c| {
            r.failure = match get::opt_text(c)? {
                Some(reason) => Some(Failure {
                    reason: reason.parse()?,
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
        |r| {
            r.failure
                .as_ref()
                .map_or(Value::Null, |f| put::text(&f.message))
        },
        |r, c| {
            if let Some(failure) = &mut r.failure {
                failure.message = get::opt_text(c)?.unwrap_or_default().to_owned();
            }
            Ok(())
        },
    ),
    run(
        "duration_seconds",
        "REAL",
        |r| put::opt_real(r.duration_seconds()),
        |r, c| {
            r.measurement = get::opt_real(c)?.map(|duration_seconds| Measurement {
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
            m.lines_per_second = get::real(c)?;
            Ok(())
        },
    ),
    measured(
        "disorder",
        "INTEGER",
        |m| put::int(m.output.disorder),
        |m, c| {
            m.output.disorder = get::int(c)?;
            Ok(())
        },
    ),
    measured(
        "duplicates",
        "INTEGER",
        |m| put::int(m.output.duplicates),
        |m, c| {
            m.output.duplicates = get::int(c)?;
            Ok(())
        },
    ),
    measured(
        "missing",
        "INTEGER",
        |m| put::int(m.output.missing),
        |m, c| {
            m.output.missing = get::int(c)?;
            Ok(())
        },
    ),
    measured(
        "torn_records",
        "INTEGER",
        |m| put::int(m.output.torn_records),
        |m, c| {
            m.output.torn_records = get::int(c)?;
            Ok(())
        },
    ),
    measured(
        "pids",
        "INTEGER",
        |m| put::int(m.output.pids),
        |m, c| {
            m.output.pids = get::int(c)?;
            Ok(())
        },
    ),
    measured(
        "threads_min",
        "INTEGER",
        |m| put::int(m.output.threads_min),
        |m, c| {
            m.output.threads_min = get::int(c)?;
            Ok(())
        },
    ),
    measured(
        "threads_max",
        "INTEGER",
        |m| put::int(m.output.threads_max),
        |m, c| {
            m.output.threads_max = get::int(c)?;
            Ok(())
        },
    ),
    measured(
        "cpu_records",
        "TEXT",
        |m| serde_json::to_string(&m.output.cpu_records).map_or(Value::Null, Value::Text),
        |m, c| {
            m.output.cpu_records =
                serde_json::from_str(get::text(c)?).map_err(|e| e.to_string())?;
            Ok(())
        },
    ),
    measured(
        "cpus_used",
        "INTEGER",
        |m| put::int(m.output.cpus_used),
        |m, c| {
            m.output.cpus_used = get::int(c)?;
            Ok(())
        },
    ),
    measured(
        "cpu_migrations",
        "INTEGER",
        |m| put::int(m.cpu_migrations),
        |m, c| {
            m.cpu_migrations = get::int(c)?;
            Ok(())
        },
    ),
    measured(
        "voluntary_ctx_switches",
        "INTEGER",
        |m| put::int(m.voluntary_ctx_switches),
        |m, c| {
            m.voluntary_ctx_switches = get::int(c)?;
            Ok(())
        },
    ),
    measured(
        "involuntary_ctx_switches",
        "INTEGER",
        |m| put::int(m.involuntary_ctx_switches),
        |m, c| {
            m.involuntary_ctx_switches = get::int(c)?;
            Ok(())
        },
    ),
    run(
        "warmup",
        "INTEGER",
        |r| put::flag(r.warmup),
        |r, c| {
            r.warmup = get::flag(c)?;
            Ok(())
        },
    ),
    measured(
        "cpu_seconds",
        "REAL",
        |m| Value::Real(m.cpu_seconds),
        |m, c| {
            m.cpu_seconds = get::opt_real(c)?.unwrap_or(0.0);
            Ok(())
        },
    ),
    run(
        "total_periods",
        "INTEGER",
        |r| put::opt_int(r.host.total_periods),
        |r, c| {
            r.host.total_periods = get::opt_int(c)?;
            Ok(())
        },
    ),
    run(
        "throttled_periods",
        "INTEGER",
        |r| put::opt_int(r.host.throttled_periods),
        |r, c| {
            r.host.throttled_periods = get::opt_int(c)?;
            Ok(())
        },
    ),
    run(
        "throttled_seconds",
        "REAL",
        |r| put::opt_real(r.host.throttled_seconds),
        |r, c| {
            r.host.throttled_seconds = get::opt_real(c)?;
            Ok(())
        },
    ),
    run(
        "steal_seconds",
        "REAL",
        |r| put::opt_real(r.host.steal_seconds),
        |r, c| {
            r.host.steal_seconds = get::opt_real(c)?;
            Ok(())
        },
    ),
    run(
        "cpu_pressure_seconds",
        "REAL",
        |r| put::opt_real(r.host.cpu_pressure_seconds),
        |r, c| {
            r.host.cpu_pressure_seconds = get::opt_real(c)?;
            Ok(())
        },
    ),
    run(
        "throttled",
        "INTEGER",
        |r| put::flag(r.throttled),
        |r, c| {
            r.throttled = get::flag(c)?;
            Ok(())
        },
    ),
    run(
        "disturbed",
        "INTEGER",
        |r| put::flag(r.disturbed),
        |r, c| {
            r.disturbed = get::flag(c)?;
            Ok(())
        },
    ),
    run(
        "probe",
        "INTEGER",
        |r| put::flag(r.probe),
        |r, c| {
            r.probe = get::flag(c)?;
            Ok(())
        },
    ),
    run(
        "round",
        "INTEGER",
        |r| put::opt_int(r.round),
        |r, c| {
            r.round = get::opt_int(c)?.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
            Ok(())
        },
    ),
    measured(
        "cpus_allowed",
        "INTEGER",
        |m| put::opt_int(m.cpus_allowed),
        |m, c| {
            m.cpus_allowed = get::opt_int(c)?.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
            Ok(())
        },
    ),
    measured(
        "wait_seconds",
        "REAL",
        |m| put::opt_real(m.wait_seconds),
        |m, c| {
            m.wait_seconds = get::opt_real(c)?;
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
        let value = row.get_ref(first + i).map_err(|e| e.to_string())?;
        let read = match (&column.access, &mut record.measurement) {
            (Access::Run { read, .. }, _) => read(&mut record, value),
            (Access::Measured { read, .. }, Some(m)) => read(m, value),
            (Access::Measured { .. }, None) => Ok(()),
        };
        read.map_err(|e| format!("column {}: {e}", column.name))?;
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
        assert!(error.contains("wait_seconds REAL, extra REAL"), "{error}");
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
