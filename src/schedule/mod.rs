//! Which runs a sweep makes, one at a time, and when: a [`Setup`] says what one configuration
//! asks to run on this host now; [`plan`] orders a sweep's runs in shuffled rounds; the
//! [`Sweeper`] runs them, taking the [`RunSlot`] for each so that no two runs (scheduled or
//! probe) ever overlap; [`next_interval`] says when the next sweep starts.

mod plan;
mod slot;
mod sweeper;
mod timing;

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::host::Capacity;
use crate::workload::{RunOptions, Spec};
pub use plan::{Planned, combinations, plan};
pub use slot::{Held, RunSlot};
pub use sweeper::{Sweeper, Swept};
pub use timing::{jitter, next_interval};

/// What one configuration asks to run on this host now: built once per load or reload (and
/// again when the CPUs the exporter may use change, which `workers = "auto"` follows), then
/// handed to whatever needs it.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The configuration.
    pub config: Arc<Config>,
    /// The CPUs the exporter could use when it was built.
    pub capacity: Capacity,
    /// The configured combinations on this host.
    pub specs: Vec<Spec>,
    /// How scheduled runs execute: the workdir, the worker program, the run timeout, and
    /// the token that kills a run in progress.
    pub options: RunOptions,
    /// Whether its sweeps confirm a suspected change ([`Setup::confirming`]).
    pub confirmation: bool,
}

impl Setup {
    /// The setup of `config` on a host with `capacity`, whose runs start `worker_exe` and
    /// stop when `kill` is cancelled.
    pub fn new(
        config: Arc<Config>,
        capacity: Capacity,
        worker_exe: PathBuf,
        kill: CancellationToken,
    ) -> Setup {
        let specs = combinations(&config.workload, capacity.usable());
        let options = RunOptions {
            workdir: config.workload.workdir(),
            worker_exe,
            timeout: config.schedule.run_timeout,
            cancel: kill,
            keep_output: None,
        };
        Setup {
            config,
            capacity,
            specs,
            options,
            confirmation: false,
        }
    }

    /// A confirmation of a suspected change: a sweep, without a warm-up, of the
    /// combinations `keep` picks.
    pub fn confirming(&self, keep: impl Fn(&Spec) -> bool) -> Setup {
        let mut config = Config::clone(&self.config);
        config.workload.warmup = false;
        Setup {
            config: Arc::new(config),
            specs: self.specs.iter().copied().filter(|s| keep(s)).collect(),
            confirmation: true,
            ..self.clone()
        }
    }

    /// This setup on a host with `capacity` now.
    pub fn with_capacity(&self, capacity: Capacity) -> Setup {
        Setup::new(
            Arc::clone(&self.config),
            capacity,
            self.options.worker_exe.clone(),
            self.options.cancel.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confirmation_runs_the_kept_combinations_without_a_warm_up() {
        let setup = Setup::new(
            Arc::new(Config::default()),
            Capacity::current(),
            PathBuf::from("worker"),
            CancellationToken::new(),
        );
        assert!(setup.config.workload.warmup && setup.config.workload.repeats == 5);
        let confirming = setup.confirming(|spec| spec.workers == 1);
        assert!(confirming.confirmation && !confirming.config.workload.warmup);
        assert_eq!(confirming.config.workload.repeats, 5);
        assert!(!confirming.specs.is_empty());
        assert!(confirming.specs.iter().all(|s| s.workers == 1));
        assert!(confirming.specs.len() < setup.specs.len());
    }
}
