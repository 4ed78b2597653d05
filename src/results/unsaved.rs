//! What the history could not take: when a write fails (a full disk, a read-only file), it and
//! every later write wait here, in order, and are written when the history takes writes again.
//! Meanwhile reads see them beside the history's rows, so that nothing published freezes
//! while the disk is full. Sweeps begun meanwhile get ids above every id the history gives,
//! and their real ids when written.

use std::collections::{HashMap, HashSet, VecDeque};

use super::RunFilter;
use super::store::{Store, StoreError};
use crate::host::facts::Facts;
use crate::record::RunRecord;

/// Ids of sweeps begun while writes waited start here, above any id SQLite gives.
const UNSAVED_IDS: i64 = 1 << 52;

/// The most writes that wait; beyond it the oldest run waiting is dropped (and counted), so
/// that a disk full for days cannot take the memory with it. A default sweep makes 91 runs.
pub const MAX_UNSAVED: usize = 20_000;

/// A write waiting for the history.
#[derive(Debug)]
enum Write {
    Sweep {
        id: i64,
        started_at: f64,
        facts: Box<Facts>,
    },
    Finish {
        sweep: i64,
        finished_at: f64,
        cpu_seconds: f64,
    },
    Run(Box<RunRecord>),
}

/// The writes waiting, in order.
#[derive(Debug, Default)]
pub(super) struct Unsaved {
    writes: VecDeque<Write>,
    /// The id the next sweep begun meanwhile gets, less [`UNSAVED_IDS`].
    next: i64,
    /// Ids of sweeps begun meanwhile, once written (kept: their later runs still come with
    /// the id they began with).
    written: HashMap<i64, i64>,
    /// Sweeps whose end waits here: their runs count as a finished sweep's.
    finished: HashSet<i64>,
    /// Runs dropped since start because too many waited.
    dropped: u64,
}

impl Unsaved {
    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Runs waiting.
    pub fn runs(&self) -> usize {
        self.writes
            .iter()
            .filter(|w| matches!(w, Write::Run(_)))
            .count()
    }

    /// A sweep begun at `started_at` on a node that is `facts` while writes wait; its id.
    pub fn begin_sweep(&mut self, started_at: f64, facts: &Facts) -> i64 {
        let id = UNSAVED_IDS + self.next;
        self.next += 1;
        self.push(Write::Sweep {
            id,
            started_at,
            facts: Box::new(facts.clone()),
        });
        id
    }

    /// The facts of the newest sweep waiting that has any.
    pub fn latest_facts(&self) -> Option<Facts> {
        self.writes.iter().rev().find_map(|w| match w {
            Write::Sweep { facts, .. } if **facts != Facts::default() => Some(Facts::clone(facts)),
            _ => None,
        })
    }

    /// Sweep `sweep`'s end.
    pub fn finish(&mut self, sweep: i64, finished_at: f64, cpu_seconds: f64) {
        self.finished.insert(sweep);
        self.push(Write::Finish {
            sweep,
            finished_at,
            cpu_seconds,
        });
    }

    /// A run.
    pub fn record(&mut self, record: &RunRecord) {
        self.push(Write::Run(Box::new(record.clone())));
    }

    fn push(&mut self, write: Write) {
        if self.writes.len() >= MAX_UNSAVED
            && let Some(oldest) = self.writes.iter().position(|w| matches!(w, Write::Run(_)))
        {
            self.writes.remove(oldest);
            self.dropped += 1;
            // 1, 10, 100, ... runs lost: a warning each time the loss grows tenfold.
            if self
                .dropped
                .to_string()
                .trim_start_matches('1')
                .bytes()
                .all(|b| b == b'0')
            {
                tracing::warn!(
                    dropped = self.dropped,
                    "the run history has refused writes for so long that waiting runs are dropped, oldest first"
                );
            }
        }
        self.writes.push_back(write);
    }

    /// The history's id of sweep `id`: its own, or the one it got when written.
    pub fn saved_id(&self, id: i64) -> i64 {
        self.written.get(&id).copied().unwrap_or(id)
    }

    /// Writes what waits to `store`, in order, until one fails for want of room or access
    /// (its error); one the history refuses for good (a constraint) is dropped and logged.
    pub fn flush(&mut self, store: &mut Store) -> Result<(), StoreError> {
        while !self.writes.is_empty() {
            match self.write_first(store) {
                Ok(()) => {}
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => tracing::error!(
                    "the run history refused a waiting write for good ({e}); dropped: {:?}",
                    self.writes.front()
                ),
            }
            if let Some(Write::Finish { sweep, .. }) = self.writes.pop_front() {
                self.finished.remove(&sweep);
            }
        }
        Ok(())
    }

    /// Writes the first write waiting.
    fn write_first(&mut self, store: &mut Store) -> Result<(), StoreError> {
        let saved = |id: i64| self.written.get(&id).copied().unwrap_or(id);
        if let Some(write) = self.writes.front() {
            match write {
                Write::Sweep {
                    id,
                    started_at,
                    facts,
                } => {
                    let saved_id = store.begin_sweep(*started_at, facts)?;
                    self.written.insert(*id, saved_id);
                }
                Write::Finish {
                    sweep,
                    finished_at,
                    cpu_seconds,
                } => store.finish_sweep(saved(*sweep), *finished_at, *cpu_seconds)?,
                Write::Run(record) => {
                    let mut record = RunRecord::clone(record);
                    record.sweep_id = record.sweep_id.map(saved);
                    store.insert(&record)?;
                }
            }
        }
        Ok(())
    }

    /// The runs waiting that match `filter`, newest first (all are newer than the history's).
    pub fn matching(&self, filter: &RunFilter) -> Vec<RunRecord> {
        self.writes
            .iter()
            .rev()
            .filter_map(|w| match w {
                Write::Run(record) => Some(&**record),
                _ => None,
            })
            .filter(|r| filter.matches(r, |sweep| self.finished.contains(&sweep)))
            .take(filter.limit)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::fixtures::{measured, spec};

    #[test]
    fn writes_wait_in_order_are_read_meanwhile_and_get_their_real_ids() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(Some(&dir.path().join("h.sqlite"))).expect("store");
        let mut unsaved = Unsaved::default();
        let facts = Facts {
            kernel: Some("6.1.0-21-amd64".into()),
            ..Facts::default()
        };
        let sweep = unsaved.begin_sweep(10.0, &facts);
        assert!(sweep >= UNSAVED_IDS);
        assert_eq!(unsaved.latest_facts().as_ref(), Some(&facts));
        let mut run = measured(1, 11.0);
        run.sweep_id = Some(sweep);
        unsaved.record(&run);
        let finished = RunFilter {
            finished_sweeps: true,
            ..RunFilter::series(&spec(1), 10)
        };
        assert!(
            unsaved.matching(&finished).is_empty(),
            "the sweep has not ended"
        );
        unsaved.finish(sweep, 12.0, 0.3);
        assert_eq!(unsaved.matching(&finished), [run.clone()]);
        assert_eq!(unsaved.runs(), 1);
        unsaved.flush(&mut store).expect("written");
        assert!(unsaved.is_empty());
        let saved = store.runs(&finished).expect("runs");
        assert_eq!(saved.len(), 1);
        let id = saved[0].sweep_id.expect("a sweep");
        assert!(id < UNSAVED_IDS, "the real id: {id}");
        assert_eq!(store.latest_facts().expect("facts"), Some(facts));
    }

    #[test]
    fn too_many_waiting_drop_the_oldest_runs_and_count_them() {
        let mut unsaved = Unsaved::default();
        for i in 0..MAX_UNSAVED + 5 {
            unsaved.record(&measured(1, i as f64));
        }
        assert_eq!(unsaved.runs(), MAX_UNSAVED);
        assert_eq!(unsaved.dropped, 5);
        let newest = unsaved.matching(&RunFilter {
            limit: 1,
            ..RunFilter::default()
        });
        assert_eq!(newest[0].finished_at, (MAX_UNSAVED + 4) as f64);
    }
}
