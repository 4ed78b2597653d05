//! One sweep, run to the end or until stopped: the plan's runs one at a time, each recorded
//! in the history as it ends. The daemon and the `run` command share
//! this code; they differ only in what they run ([`Setup`]), when they stop, and what they do
//! with each record.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{RunSlot, Setup, plan};
use crate::host::facts::Facts;
use crate::record::{self, RunRecord};
use crate::results::Results;

/// Runs sweeps into a history, one run at a time.
pub struct Sweeper {
    results: Arc<Results>,
    slot: Arc<RunSlot>,
}

/// How a sweep ended.
#[derive(Clone, Copy, Debug)]
pub struct Swept {
    /// Its id in the history (none if the history could not record it).
    pub id: Option<i64>,
    /// Whether every run was made.
    pub complete: bool,
    /// CPU time its workers used.
    pub cpu_seconds: f64,
}

impl Sweeper {
    /// A sweeper recording into `results`, taking `slot` for each run.
    pub fn new(results: Arc<Results>, slot: Arc<RunSlot>) -> Sweeper {
        Sweeper { results, slot }
    }

    /// The history it records into.
    pub fn results(&self) -> &Arc<Results> {
        &self.results
    }

    /// The run slot it takes.
    pub fn slot(&self) -> &Arc<RunSlot> {
        &self.slot
    }

    /// Runs one sweep of `setup`'s combinations in a fresh shuffled plan, handing each
    /// recorded run to `each`. No further run starts once `stop` is cancelled; a run in
    /// progress is stopped by `setup.options.cancel`.
    pub fn sweep(
        &self,
        setup: &Setup,
        stop: &CancellationToken,
        mut each: impl FnMut(&RunRecord),
    ) -> Swept {
        let w = &setup.config.workload;
        let order = plan(&setup.specs, w.repeats, w.warmup, &mut rand::rng());
        let handle = self.results.begin_sweep(&Facts::current());
        let mut swept = Swept {
            id: handle.id,
            complete: false,
            cpu_seconds: 0.0,
        };
        for planned in order {
            let held = self.slot.hold_blocking();
            if stop.is_cancelled() {
                return swept;
            }
            let mut record = record::measure(&planned.spec, &setup.options, &setup.config.analysis);
            drop(held);
            record.sweep_id = handle.id;
            record.warmup = planned.warmup;
            record.round = Some(planned.round);
            swept.cpu_seconds += record.measurement.as_ref().map_or(0.0, |m| m.cpu_seconds);
            self.results.record(&record);
            each(&record);
        }
        if setup.confirmation {
            self.results.finish_confirmation(handle, swept.cpu_seconds);
        } else {
            self.results.finish_sweep(handle, swept.cpu_seconds);
        }
        swept.complete = true;
        swept
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{Config, Workers};
    use crate::host::Capacity;
    use crate::workload::{Backend, SyncMode};

    #[test]
    fn a_sweep_records_every_run_under_one_id_and_stops_when_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let results = Arc::new(Results::open(None, Duration::from_secs(3600)).expect("results"));
        let mut config = Config::default();
        config.workload.backends = vec![Backend::Thread];
        config.workload.sync = vec![SyncMode::None];
        config.workload.workers = Workers::List(vec![1, 2]);
        config.workload.lines = 50;
        config.workload.repeats = 2;
        config.workload.workdir = dir.path().to_owned();
        let capacity = Capacity {
            quota_cores: None,
            cpuset_cpus: 2,
        };
        let setup = Setup::new(
            Arc::new(config),
            capacity,
            "/nonexistent".into(),
            CancellationToken::new(),
        );
        let sweeper = Sweeper::new(
            Arc::clone(&results),
            Arc::new(RunSlot::new().expect("slot")),
        );
        let stop = CancellationToken::new();
        let mut seen = 0;
        let swept = sweeper.sweep(&setup, &stop, |_| seen += 1);
        assert!(swept.complete && swept.cpu_seconds > 0.0);
        assert_eq!(seen, 5);
        let runs = results.sweep_runs(swept.id.expect("id")).expect("sweep");
        assert_eq!(runs.len(), 5);
        assert!(runs.iter().all(|r| r.success && r.sweep_id == swept.id));
        assert_eq!(runs.iter().filter(|r| r.warmup).count(), 1);

        stop.cancel();
        let swept = sweeper.sweep(&setup, &stop, |_| seen += 1);
        assert!(!swept.complete);
        assert_eq!(seen, 5, "no run starts after stop");
    }
}
