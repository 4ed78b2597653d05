//! A sweep: every combination of the configured backends, sync modes and pool sizes, run one
//! after another (never two at once, so runs do not disturb each other's timings).

use crate::config::Workload;
use crate::run::{self, RunRecord};
use crate::workload::{RunOptions, Spec};

/// Every combination the workload settings ask for, in a stable order: backend, sync, workers.
pub fn combinations(workload: &Workload) -> Vec<Spec> {
    let mut specs = Vec::new();
    for &backend in &workload.backends {
        for &sync in &workload.sync {
            for &workers in &workload.workers {
                specs.push(Spec {
                    backend,
                    sync,
                    workers,
                    lines: workload.lines,
                    reread: workload.reread,
                });
            }
        }
    }
    specs.sort_by_key(|s| (s.backend, s.sync, s.workers));
    specs.dedup();
    specs
}

/// Runs `specs` in order, handing each record to `each` as it completes. Stops early, with the
/// remaining runs not started, once `options.cancel` is set.
pub fn run(specs: &[Spec], options: &RunOptions, mut each: impl FnMut(RunRecord)) {
    for spec in specs {
        if options.cancel.is_cancelled() {
            return;
        }
        each(run::execute(spec, options));
    }
}

/// Speedup of `record` against the first successful 1-worker run among `records` of the same
/// backend, sync mode and input.
pub fn speedup(record: &RunRecord, records: &[RunRecord]) -> Option<f64> {
    let own = record.measurement.as_ref()?.duration_seconds;
    let base = records.iter().find(|r| {
        let same = Spec {
            workers: 1,
            ..record.spec()
        };
        r.spec() == same && r.success
    })?;
    let base = base.measurement.as_ref()?.duration_seconds;
    (own > 0.0).then(|| base / own)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Backend, SyncMode};

    #[test]
    fn combinations_cover_every_setting_once_in_order() {
        let workload = Workload {
            backends: vec![Backend::Thread, Backend::Process],
            sync: vec![SyncMode::Lock, SyncMode::None],
            workers: vec![3, 1, 3],
            ..Workload::default()
        };
        let specs = combinations(&workload);
        assert_eq!(specs.len(), 8);
        assert_eq!(
            (specs[0].backend, specs[0].sync, specs[0].workers),
            (Backend::Process, SyncMode::None, 1)
        );
        assert_eq!(
            (specs[7].backend, specs[7].sync, specs[7].workers),
            (Backend::Thread, SyncMode::Lock, 3)
        );
    }
}
