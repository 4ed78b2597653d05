//! Writing to the history: sweeps and their ends, runs, and the retention. A
//! write the history refuses (a full disk, a read-only file) is counted and waits in memory
//! with every later one ([`super::unsaved`]), to be written when the history takes writes
//! again; runs are counted and published either way.

use std::time::{SystemTime, UNIX_EPOCH};

use super::unsaved::Unsaved;
use super::{Results, Store, StoreError};
use crate::host::facts::Facts;
use crate::record::{RunRecord, unix_now};

/// A sweep in progress, from [`Results::begin_sweep`].
#[derive(Clone, Copy, Debug)]
pub struct SweepHandle {
    /// Its id in the history (or among the sweeps waiting to be written).
    pub id: Option<i64>,
    started: f64,
}

impl Results {
    /// Applies one write: to the store when nothing waits (or what waits could be written
    /// first), else, or when the store refuses it, behind what waits.
    fn write<T>(
        &self,
        to_store: impl FnOnce(&mut Store, &Unsaved) -> Result<T, StoreError>,
        to_wait: impl FnOnce(&mut Unsaved) -> T,
    ) -> T {
        let mut store = self.store();
        let mut unsaved = self.unsaved();
        let mut waiting = !unsaved.is_empty();
        if waiting {
            match unsaved.flush(&mut store) {
                Ok(()) => {
                    tracing::info!(
                        "the run history takes writes again; every waiting write is in it"
                    );
                    waiting = false;
                }
                Err(_) => self.counters().save_failed(),
            }
        }
        if !waiting {
            match to_store(&mut store, &unsaved) {
                Ok(done) => return done,
                Err(e) => {
                    self.counters().save_failed();
                    tracing::warn!(
                        "cannot write to the run history ({e}); runs wait in memory (up to {}) until it takes writes again",
                        super::unsaved::MAX_UNSAVED
                    );
                }
            }
        }
        to_wait(&mut unsaved)
    }

    /// Deletes runs past the retention period, when no write waits.
    pub(super) fn prune(&self) -> Result<(), StoreError> {
        let cutoff = SystemTime::now()
            .checked_sub(self.retention)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0.0, |d| d.as_secs_f64());
        if !self.unsaved().is_empty() {
            return Ok(());
        }
        let deleted = self.store().prune(cutoff);
        if deleted.is_err() {
            self.counters().save_failed();
        }
        let deleted = deleted?;
        if deleted > 0 {
            tracing::info!(deleted, "deleted runs older than the retention period");
        }
        Ok(())
    }

    /// Starts a sweep on a node that is `facts`.
    pub fn begin_sweep(&self, facts: &Facts) -> SweepHandle {
        let started = unix_now();
        let id = self.write(
            |store, _| store.begin_sweep(started, facts),
            |unsaved| unsaved.begin_sweep(started, facts),
        );
        SweepHandle {
            id: Some(id),
            started,
        }
    }

    /// Ends a sweep that ran to completion, whose workers used `cpu_seconds`, and applies the
    /// retention period.
    pub fn finish_sweep(&self, sweep: SweepHandle, cpu_seconds: f64) {
        self.counters()
            .sweep(unix_now() - sweep.started, cpu_seconds);
        self.finish(sweep, cpu_seconds);
    }

    /// Ends a confirmation sweep ([`crate::schedule::Setup::confirming`]): counted apart, its
    /// CPU time with the workload's.
    pub fn finish_confirmation(&self, sweep: SweepHandle, cpu_seconds: f64) {
        self.counters().confirmation(cpu_seconds);
        self.finish(sweep, cpu_seconds);
    }

    /// Ends a sweep in the history, watches it, and applies the retention period.
    fn finish(&self, sweep: SweepHandle, cpu_seconds: f64) {
        let finished = unix_now();
        if let Some(id) = sweep.id {
            self.write(
                |store, unsaved| store.finish_sweep(unsaved.saved_id(id), finished, cpu_seconds),
                |unsaved| unsaved.finish(id, finished, cpu_seconds),
            );
            self.alerts().finish(id);
        }
        if let Err(e) = self.prune() {
            tracing::warn!("cannot apply the retention period: {e}");
        }
    }

    /// Counts a finished run (a probe's is not counted) and adds it to the history, or to the
    /// writes waiting for it.
    pub fn record(&self, record: &RunRecord) {
        if !record.probe {
            self.counters().run(record);
        }
        if record.sweep_id.is_some() {
            self.alerts().record(record);
        }
        self.write(
            |store, unsaved| match record.sweep_id {
                // A run of a sweep begun while writes waited: under the id it was written with.
                Some(id) if unsaved.saved_id(id) != id => store.insert(&RunRecord {
                    sweep_id: Some(unsaved.saved_id(id)),
                    ..record.clone()
                }),
                _ => store.insert(record),
            },
            |unsaved| unsaved.record(record),
        );
    }
}
