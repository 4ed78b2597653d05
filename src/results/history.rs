//! Reading the history as it stands: the store's rows and, while writes wait in memory, those
//! too ([`super::unsaved`]), so that a full disk freezes nothing that is read. Every query of
//! the results model goes through [`History`].

use std::sync::MutexGuard;

use super::point::Point;
use super::unsaved::Unsaved;
use super::{MAX_LIMIT, Results, RunFilter, SeriesPoint, Store, StoreError};
use crate::analysis::stats;
use crate::host::facts::Facts;
use crate::record::RunRecord;
use crate::workload::Spec;

/// The history, held for reading.
pub(super) struct History<'a> {
    store: MutexGuard<'a, Store>,
    unsaved: MutexGuard<'a, Unsaved>,
}

impl History<'_> {
    /// Runs that match `filter`, newest first: those waiting, then the store's.
    pub fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let mut runs = self.unsaved.matching(filter);
        if runs.len() < filter.limit {
            // A sweep begun while writes waited has another id in the store once written.
            let saved = |id: Option<i64>| id.map(|id| self.unsaved.saved_id(id));
            let rest = RunFilter {
                limit: filter.limit - runs.len(),
                sweep_id: saved(filter.sweep_id),
                from_sweep: saved(filter.from_sweep),
                ..filter.clone()
            };
            let saved = self.store.runs(&rest)?;
            // Most reads find nothing waiting: hand the store's runs on without a copy.
            if runs.is_empty() {
                return Ok(saved);
            }
            runs.extend(saved);
        }
        Ok(runs)
    }

    /// The node's facts at the newest sweep that kept any: a sweep waiting first.
    pub fn latest_facts(&self) -> Result<Option<Facts>, StoreError> {
        match self.unsaved.latest_facts() {
            Some(facts) => Ok(Some(facts)),
            None => self.store.latest_facts(),
        }
    }

    /// The newest finished sweep that ran `spec`.
    pub fn latest_sweep_of(&self, spec: &Spec) -> Result<Option<i64>, StoreError> {
        let waiting = self.unsaved.matching(&RunFilter {
            finished_sweeps: true,
            ..RunFilter::series(spec, 1)
        });
        match waiting.first().and_then(|r| r.sweep_id) {
            Some(id) => Ok(Some(id)),
            None => self.store.latest_sweep_of(spec),
        }
    }

    /// The runs of `spec` in its last `sweeps` finished sweeps (sweeps waiting in memory are
    /// newer than the store's, so they come in on top), newest first.
    pub fn recent_runs(&self, spec: &Spec, sweeps: usize) -> Result<Vec<RunRecord>, StoreError> {
        let from_sweep = self.store.nth_latest_sweep(spec, sweeps)?;
        self.runs(&RunFilter {
            from_sweep,
            finished_sweeps: true,
            ..RunFilter::series(spec, usize::MAX)
        })
    }

    /// The summary of `spec`'s runs in sweep `id`, against the same sweep's 1-worker runs.
    pub fn point(&self, spec: Spec, id: i64, max_cv: f64) -> Result<Point, StoreError> {
        let in_sweep = |spec: &Spec| {
            self.runs(&RunFilter {
                sweep_id: Some(id),
                ..RunFilter::series(spec, MAX_LIMIT)
            })
        };
        let runs = in_sweep(&spec)?;
        let one_worker = in_sweep(&Spec { workers: 1, ..spec })?;
        Ok(Point::of(spec, &runs, &one_worker, max_cv))
    }

    /// Every combination the store holds runs of.
    pub fn specs(&self) -> Result<Vec<Spec>, StoreError> {
        self.store.specs()
    }
}

impl Results {
    /// The history, for reading.
    pub(super) fn history(&self) -> History<'_> {
        let store = self.store();
        History {
            store,
            unsaved: self.unsaved(),
        }
    }

    /// Runs that match `filter`, newest first.
    pub fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        self.history().runs(filter)
    }

    /// The runs of sweep `id`, in the order they ran.
    pub fn sweep_runs(&self, id: i64) -> Result<Vec<RunRecord>, StoreError> {
        let mut runs = self.runs(&RunFilter {
            sweep_id: Some(id),
            limit: usize::MAX,
            ..RunFilter::default()
        })?;
        runs.reverse();
        Ok(runs)
    }

    /// Every combination the history holds runs of.
    pub fn specs(&self) -> Result<Vec<Spec>, StoreError> {
        self.history().specs()
    }

    /// The per-sweep medians of `spec` (its counted runs only: successful, undisturbed, not
    /// warm-ups), oldest first, the last `limit` sweeps that have any.
    pub fn series(&self, spec: &Spec, limit: usize) -> Result<Vec<SeriesPoint>, StoreError> {
        let mut runs = self.history().recent_runs(spec, limit)?;
        // Runs of different writers (a daemon and `run --record`) interleave in id order.
        runs.sort_by_key(|r| std::cmp::Reverse(r.sweep_id));
        let mut points: Vec<SeriesPoint> = runs
            .chunk_by(|a, b| a.sweep_id == b.sweep_id)
            .filter_map(|sweep| {
                let sweep_id = sweep[0].sweep_id?;
                let counted: Vec<f64> = sweep
                    .iter()
                    .filter(|r| r.counts())
                    .filter_map(RunRecord::duration_seconds)
                    .collect();
                Some(SeriesPoint {
                    sweep_id,
                    time: sweep
                        .iter()
                        .map(|r| r.started_at)
                        .fold(f64::INFINITY, f64::min),
                    median_seconds: stats::median(&counted)?,
                })
            })
            .take(limit)
            .collect();
        points.reverse();
        Ok(points)
    }

    /// Summaries of `specs` in sweep `id` (the `run` command's sweep), in the order given.
    pub fn sweep_points(
        &self,
        id: i64,
        specs: &[Spec],
        max_cv: f64,
    ) -> Result<Vec<Point>, StoreError> {
        let history = self.history();
        specs
            .iter()
            .map(|spec| history.point(*spec, id, max_cv))
            .collect()
    }
}
