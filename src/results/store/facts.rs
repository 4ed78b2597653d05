//! The node's facts kept with each sweep ([`Facts`]): their columns of `sweeps`, written when
//! the sweep begins and read back for the latest sweep.

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, params_from_iter};

use super::{Store, StoreError};
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

/// The facts of `row`, whose values are the [`COLUMNS`] in order.
fn read(row: &Row<'_>) -> rusqlite::Result<Facts> {
    Ok(Facts {
        kernel: row.get(0)?,
        boot_id: row.get(1)?,
        cpu_model: row.get(2)?,
        microcode: row.get(3)?,
        online_cpus: row.get(4)?,
        cpuset: row.get(5)?,
        cpu_quota_cores: row.get(6)?,
        governor: row.get(7)?,
        cpu_frequency_hertz: row.get(8)?,
        memory_pressure: row.get(9)?,
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
            .and_then(|mut statement| statement.query_row([], read).optional())
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
