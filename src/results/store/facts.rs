//! The node's facts kept with each sweep ([`Facts`]): their columns of `sweeps`, written when
//! the sweep begins and read back for the latest sweep, and the sweeps around a change as the
//! attribution reads them (facts, and the context of their runs).

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, params_from_iter};

use super::{Store, StoreError};
use crate::analysis::attribution::{self, Kind};
use crate::host::facts::Facts;

/// The facts' columns of `sweeps`, in the order of [`values`] and [`read`].
const COLUMNS: [&str; 10] = [
    "kernel",
    "boot_id",
    "cpu_model",
    "microcode",
    "online_cpus",
    "cpuset",
    "cpu_quota_cores",
    "governor",
    "cpu_frequency_hertz",
    "memory_pressure",
];

/// `facts` as the values of [`COLUMNS`].
fn values(facts: &Facts) -> [Value; 10] {
    let text = |s: &Option<String>| s.clone().map_or(Value::Null, Value::Text);
    let real = |x: Option<f64>| x.map_or(Value::Null, Value::Real);
    [
        text(&facts.kernel),
        text(&facts.boot_id),
        text(&facts.cpu_model),
        text(&facts.microcode),
        text(&facts.online_cpus),
        text(&facts.cpuset),
        real(facts.cpu_quota_cores),
        text(&facts.governor),
        real(facts.cpu_frequency_hertz),
        real(facts.memory_pressure),
    ]
}

/// The facts of `row`, whose values from `first` on are the [`COLUMNS`] in order.
fn read_from(row: &Row<'_>, first: usize) -> rusqlite::Result<Facts> {
    Ok(Facts {
        kernel: row.get(first)?,
        boot_id: row.get(first + 1)?,
        cpu_model: row.get(first + 2)?,
        microcode: row.get(first + 3)?,
        online_cpus: row.get(first + 4)?,
        cpuset: row.get(first + 5)?,
        cpu_quota_cores: row.get(first + 6)?,
        governor: row.get(first + 7)?,
        cpu_frequency_hertz: row.get(first + 8)?,
        memory_pressure: row.get(first + 9)?,
    })
}

/// The context of a sweep's counted runs (successful, not probes or warm-ups), as sums and
/// the reference's fastest time, after the sweep's id, end and facts.
const CONTEXT: &str = "sum(r.duration_seconds), sum(r.throttled_seconds), sum(r.steal_seconds), \
     sum(r.cpu_pressure_seconds), sum(r.involuntary_ctx_switches), sum(r.cpu_migrations), \
     min(CASE WHEN r.backend = 'thread' AND r.sync = 'none' AND r.workers = 1 \
     AND r.disturbed = 0 THEN r.duration_seconds END)";

/// A row of the facts and [`CONTEXT`] (after the sweep's id and end) as the attribution
/// reads it.
fn attribution_sweep(row: &Row<'_>) -> rusqlite::Result<attribution::Sweep> {
    let facts = read_from(row, 2)?;
    let first = 2 + COLUMNS.len();
    let sum = |i: usize| row.get::<_, Option<f64>>(first + i);
    let seconds = sum(0)?.filter(|s| *s > 0.0);
    let per_second = |i: usize| -> rusqlite::Result<Option<f64>> {
        Ok(sum(i)?.zip(seconds).map(|(x, s)| x / s))
    };
    // A sweep of a history from before the facts were kept knows no quota either.
    let quota = (facts != Facts::default()).then(|| {
        facts
            .cpu_quota_cores
            .map_or_else(|| "none".to_owned(), |q| format!("{q:.2}"))
    });
    Ok(attribution::Sweep {
        time: row.get(1)?,
        facts: vec![
            ("kernel", facts.kernel),
            ("boot_id", facts.boot_id),
            ("cpu_model", facts.cpu_model),
            ("microcode", facts.microcode),
            ("online_cpus", facts.online_cpus),
            ("cpuset", facts.cpuset),
            ("cpu_quota_cores", quota),
            ("governor", facts.governor),
        ],
        context: vec![
            ("throttled_share", Kind::Share, per_second(1)?),
            ("steal_share", Kind::Share, per_second(2)?),
            ("cpu_pressure_share", Kind::Share, per_second(3)?),
            ("memory_pressure", Kind::Share, facts.memory_pressure),
            (
                "involuntary_switches_per_second",
                Kind::Rate,
                per_second(4)?,
            ),
            ("migrations_per_second", Kind::Rate, per_second(5)?),
            ("host_reference_seconds", Kind::Time, sum(6)?),
            (
                "cpu_frequency_hertz",
                Kind::Speed,
                facts.cpu_frequency_hertz,
            ),
        ],
    })
}

impl Store {
    /// Starts a sweep at `started_at` on a node that is `facts`; its id.
    pub fn begin_sweep(&mut self, started_at: f64, facts: &Facts) -> Result<i64, StoreError> {
        let sql = format!(
            "INSERT INTO sweeps (started_at, {}) VALUES (?{})",
            COLUMNS.join(", "),
            ", ?".repeat(COLUMNS.len())
        );
        let values = std::iter::once(Value::Real(started_at)).chain(values(facts));
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut statement| statement.execute(params_from_iter(values)))
            .map_err(|e| self.error(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The facts of the newest sweep that kept any (histories from before the facts were
    /// kept have none).
    pub fn latest_facts(&self) -> Result<Option<Facts>, StoreError> {
        let sql = format!(
            "SELECT {} FROM sweeps WHERE coalesce({}) IS NOT NULL ORDER BY id DESC LIMIT 1",
            COLUMNS.join(", "),
            COLUMNS.join(", ")
        );
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut statement| statement.query_row([], |row| read_from(row, 0)).optional())
            .map_err(|e| self.error(e))
    }

    /// Up to `window` sweeps that ended before `onset` and up to `window` from it on, in
    /// order, each with its facts and the context of its counted runs: what
    /// [`attribution::attribute`] reads. A sweep cut short counts at its start.
    pub fn sweeps_around(
        &self,
        onset: f64,
        window: usize,
    ) -> Result<Vec<attribution::Sweep>, StoreError> {
        let sql = format!(
            "SELECT s.id, coalesce(s.finished_at, s.started_at), {}, {CONTEXT} \
             FROM sweeps s LEFT JOIN runs r ON r.sweep_id = s.id AND r.success = 1 \
             AND r.probe = 0 AND r.warmup = 0 \
             WHERE s.id IN (SELECT id FROM sweeps WHERE coalesce(finished_at, started_at) < ?1 \
             ORDER BY id DESC LIMIT ?2) \
             OR s.id IN (SELECT id FROM sweeps WHERE coalesce(finished_at, started_at) >= ?1 \
             ORDER BY id LIMIT ?2) \
             GROUP BY s.id ORDER BY s.id",
            COLUMNS.map(|c| format!("s.{c}")).join(", ")
        );
        let window = i64::try_from(window).unwrap_or(i64::MAX);
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut statement| {
                statement
                    .query_map(rusqlite::params![onset, window], attribution_sweep)?
                    .collect()
            })
            .map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_keeps_its_facts_and_the_latest_are_read_back() {
        let mut store = Store::open(None).expect("in memory");
        assert_eq!(store.latest_facts().expect("read"), None);
        let facts = Facts {
            kernel: Some("6.1.0-21-amd64".into()),
            boot_id: Some("5f0c7a3e-0d7c-4b55-9d7e-2a1f0e8b9c11".into()),
            cpuset: Some("0-3".into()),
            cpu_quota_cores: Some(1.5),
            memory_pressure: Some(0.0),
            ..Facts::default()
        };
        store.begin_sweep(1.0, &facts).expect("first");
        // A sweep of a history written before the facts were kept, or a host that shows none.
        store.begin_sweep(2.0, &Facts::default()).expect("second");
        assert_eq!(store.latest_facts().expect("read"), Some(facts.clone()));
        let moved = Facts {
            cpuset: Some("0".into()),
            ..facts
        };
        store.begin_sweep(3.0, &moved).expect("third");
        assert_eq!(store.latest_facts().expect("read"), Some(moved));
    }
}
