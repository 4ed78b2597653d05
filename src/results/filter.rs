//! Which runs a query of the history asks for: the one query type of `/api/v1/runs`,
//! `/api/v1/changes`, the series the detectors read and the `run` command's sweep.

use crate::record::RunRecord;
use crate::workload::{Backend, Spec, SyncMode};

/// Runs `/api/v1/runs` answers without a `limit`.
pub const DEFAULT_LIMIT: usize = 200;

/// The most runs one answer may hold.
pub const MAX_LIMIT: usize = 10_000;

/// Which runs to read, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct RunFilter {
    /// Only this backend.
    pub backend: Option<Backend>,
    /// Only this sync mode.
    pub sync: Option<SyncMode>,
    /// Only this pool size.
    pub workers: Option<u32>,
    /// Only this input size.
    pub lines: Option<u64>,
    /// Only runs with (or without) re-reads.
    pub reread: Option<bool>,
    /// Only runs that ended at or after this Unix time.
    pub since: Option<f64>,
    /// Only runs of this sweep.
    pub sweep_id: Option<i64>,
    /// Only runs of this sweep or later ones.
    pub from_sweep: Option<i64>,
    /// Only runs of sweeps that ran to the end.
    pub finished_sweeps: bool,
    /// Only successful runs.
    pub success_only: bool,
    /// Only `/probe` runs (true) or only scheduled ones (false).
    pub probe: Option<bool>,
    /// At most this many runs.
    pub limit: usize,
}

impl Default for RunFilter {
    fn default() -> Self {
        RunFilter {
            backend: None,
            sync: None,
            workers: None,
            lines: None,
            reread: None,
            since: None,
            sweep_id: None,
            from_sweep: None,
            finished_sweeps: false,
            success_only: false,
            probe: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

impl RunFilter {
    /// Whether `run` passes the filter, as the history's query would pass it;
    /// `finished(sweep)` says whether a sweep ran to the end.
    pub fn matches(&self, run: &RunRecord, finished: impl Fn(i64) -> bool) -> bool {
        let spec = &run.spec;
        self.backend.is_none_or(|b| b == spec.backend)
            && self.sync.is_none_or(|s| s == spec.sync)
            && self.workers.is_none_or(|w| w == spec.workers)
            && self.lines.is_none_or(|l| l == spec.lines)
            && self.reread.is_none_or(|r| r == spec.reread)
            && self.since.is_none_or(|t| run.finished_at >= t)
            && self.sweep_id.is_none_or(|id| run.sweep_id == Some(id))
            && self
                .from_sweep
                .is_none_or(|id| run.sweep_id.is_some_and(|s| s >= id))
            && (!self.finished_sweeps || run.sweep_id.is_some_and(&finished))
            && (!self.success_only || run.success)
            && self.probe.is_none_or(|p| p == run.probe)
    }

    /// The scheduled runs of exactly `spec` (probes left out).
    pub fn series(spec: &Spec, limit: usize) -> RunFilter {
        RunFilter {
            probe: Some(false),
            backend: Some(spec.backend),
            sync: Some(spec.sync),
            workers: Some(spec.workers),
            lines: Some(spec.lines),
            reread: Some(spec.reread),
            limit,
            ..RunFilter::default()
        }
    }
}
