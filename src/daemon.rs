//! The long-running exporter: owns the live configuration, the metrics and the recent runs;
//! runs sweeps on a jittered schedule and probes on demand, one run at a time; reloads on
//! SIGHUP or `POST /-/reload`; and shuts down in three steps (stop accepting, let a run in
//! progress finish within the grace period, then kill its workers).

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{OwnedMutexGuard, watch};

use crate::config::{Config, ConfigError, Overrides};
use crate::metrics::{self, Metrics};
use crate::run::{self, FailureReason, RunRecord};
use crate::state::Store;
use crate::sweep;
use crate::workload::{Cancel, CancelOnDrop, RunOptions, Spec};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The metric registry rejected a family (a programming error).
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Everything the schedule and the HTTP handlers share.
pub struct Daemon {
    config: watch::Sender<Arc<Config>>,
    config_path: Option<PathBuf>,
    overrides: Overrides,
    /// The published metrics.
    pub metrics: Metrics,
    store: Mutex<Store>,
    /// Held by whichever run (scheduled or probe) is executing, until its workers are gone.
    run_lock: Arc<tokio::sync::Mutex<()>>,
    /// Serialises reloads.
    reload_lock: tokio::sync::Mutex<()>,
    cancel: Cancel,
    worker_exe: PathBuf,
}

impl Daemon {
    /// Sets up metrics and loads saved runs for `config`.
    pub fn new(
        config: Config,
        config_path: Option<PathBuf>,
        overrides: Overrides,
        worker_exe: PathBuf,
    ) -> Result<Arc<Daemon>, DaemonError> {
        let metrics = Metrics::new(
            config.metrics.per_cpu,
            metrics::duration_buckets(config.workload.lines, config.workload.reread),
        )?;
        metrics.config_loaded(true);
        let state_env = std::env::var("STATE_DIRECTORY").ok();
        let (store, warning) = Store::open(
            config.state.resolved_dir(state_env.as_deref()),
            config.state.keep_runs,
        );
        if let Some(warning) = warning {
            tracing::warn!("{warning}");
        }
        match store.dir() {
            Some(dir) => tracing::info!(dir = %dir.display(), "keeping recent runs"),
            None => tracing::info!(
                "no state directory configured; recent runs are not kept across restarts"
            ),
        }
        let workdir = config.workload.workdir();
        match crate::workload::remove_stale_scratch(&workdir) {
            Ok(removed) => {
                for dir in removed {
                    tracing::warn!(dir = %dir.display(), "removed a scratch directory left by a killed process");
                }
            }
            Err(e) => {
                tracing::warn!(dir = %workdir.display(), "cannot look for stale scratch directories: {e}")
            }
        }
        let specs = sweep::combinations(&config.workload);
        metrics.declare(&specs);
        // The newest saved run of each configured combination.
        let mut restored = HashSet::new();
        for record in store.newest_first() {
            if specs.contains(&record.spec()) && restored.insert(record.spec()) {
                metrics.restore(record);
            }
        }
        let (config, _) = watch::channel(Arc::new(config));
        Ok(Arc::new(Daemon {
            config,
            config_path,
            overrides,
            metrics,
            store: Mutex::new(store),
            run_lock: Arc::new(tokio::sync::Mutex::new(())),
            reload_lock: tokio::sync::Mutex::new(()),
            cancel: Cancel::default(),
            worker_exe,
        }))
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.config.borrow().clone()
    }

    /// Re-reads the configuration file (off the async runtime); a valid one applies from the
    /// next sweep, an invalid one leaves the running configuration in place.
    pub async fn reload(&self) -> Result<(), ConfigError> {
        let _one_at_a_time = self.reload_lock.lock().await;
        let (path, overrides) = (self.config_path.clone(), self.overrides.clone());
        let loaded = tokio::task::spawn_blocking(move || Config::load(path.as_deref(), &overrides))
            .await
            .unwrap_or_else(|e| Err(ConfigError::Load(format!("reload task failed: {e}"))));
        match loaded {
            Ok(config) => {
                if config.web.listen_address != self.config().web.listen_address {
                    tracing::warn!("web.listen_address changed; it applies after a restart");
                }
                self.metrics.declare(&sweep::combinations(&config.workload));
                self.config.send_replace(Arc::new(config));
                self.metrics.config_loaded(true);
                tracing::info!("configuration reloaded");
                Ok(())
            }
            Err(e) => {
                self.metrics.config_loaded(false);
                tracing::error!("configuration reload failed, keeping the running one: {e}");
                Err(e)
            }
        }
    }

    /// Recent runs, newest first.
    pub fn recent_runs(&self) -> Vec<RunRecord> {
        let store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        store.newest_first().cloned().collect()
    }

    /// Runs `spec` on a blocking thread. The run lock guard moves into that thread, so the
    /// lock is released only when the run has ended, even if the caller stops waiting (a
    /// client that hangs up on a probe).
    async fn execute(
        &self,
        lock: OwnedMutexGuard<()>,
        spec: Spec,
        timeout: Duration,
        cancel: Cancel,
    ) -> RunRecord {
        let options = RunOptions {
            workdir: self.config().workload.workdir(),
            worker_exe: self.worker_exe.clone(),
            timeout,
            cancel,
        };
        let running = self.metrics.running();
        tokio::task::spawn_blocking(move || {
            let _held = (lock, running);
            run::execute(&spec, &options)
        })
        .await
        .unwrap_or_else(|e| {
            RunRecord::failed(&spec, FailureReason::Io, format!("run task failed: {e}"))
        })
    }

    /// Runs one probe unless another run is executing (`None`). If the caller stops waiting
    /// (the scraper hung up), the run is cancelled, as blackbox_exporter cancels a probe.
    pub async fn probe(&self, spec: Spec, timeout: Duration) -> Option<RunRecord> {
        let lock = Arc::clone(&self.run_lock).try_lock_owned().ok()?;
        let cancel = self.cancel.child();
        let _abandoned = CancelOnDrop(cancel.clone());
        Some(self.execute(lock, spec, timeout, cancel).await)
    }

    /// Runs every configured combination once, one run at a time, recording each run.
    async fn sweep(&self, stop: &watch::Receiver<bool>) {
        let config = self.config();
        let started = Instant::now();
        for spec in sweep::combinations(&config.workload) {
            if *stop.borrow() {
                return;
            }
            let lock = Arc::clone(&self.run_lock).lock_owned().await;
            let timeout = config.schedule.run_timeout;
            let record = self.execute(lock, spec, timeout, self.cancel.clone()).await;
            match &record.failure {
                None => tracing::debug!(%spec.backend, %spec.sync, spec.workers, "run succeeded"),
                Some(f) => tracing::warn!(
                    %spec.backend, %spec.sync, spec.workers, reason = f.reason.as_str(),
                    "run failed: {}", f.message
                ),
            }
            self.metrics.observe(&record);
            let snapshot = self
                .store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(record);
            if let Some(snapshot) = snapshot {
                match tokio::task::spawn_blocking(move || snapshot.save()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!("{e}"),
                    Err(e) => tracing::warn!("state save task failed: {e}"),
                }
            }
        }
        self.metrics.sweep_done(started.elapsed().as_secs_f64());
    }

    /// Runs sweeps on the schedule until `stop` turns true.
    pub async fn schedule(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut next = if self.config().schedule.run_at_start {
            tokio::time::Instant::now()
        } else {
            tokio::time::Instant::now() + jittered(&self.config())
        };
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let started = tokio::time::Instant::now();
            self.sweep(&stop).await;
            next = (started + jittered(&self.config())).max(tokio::time::Instant::now());
        }
    }
}

/// The interval plus a uniform random offset within +-jitter.
fn jittered(config: &Config) -> Duration {
    let s = &config.schedule;
    let jitter = s.jitter.as_secs_f64();
    let offset = if jitter > 0.0 {
        rand::random_range(-jitter..=jitter)
    } else {
        0.0
    };
    Duration::from_secs_f64((s.interval.as_secs_f64() + offset).max(0.001))
}

/// Serves `listener` and runs the schedule until `shutdown` resolves, then stops accepting,
/// gives a run in progress (scheduled or probe) the grace period, and kills its workers after
/// that.
pub async fn run(daemon: Arc<Daemon>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let (stop, stopped) = watch::channel(false);
    let schedule = tokio::spawn(Arc::clone(&daemon).schedule(stopped.clone()));
    let server = tokio::spawn(crate::http::serve(listener, Arc::clone(&daemon), stopped));
    shutdown.await;
    tracing::info!("shutting down");
    stop.send_replace(true);
    let runs_ended = async {
        let _ = schedule.await;
        let _ = daemon.run_lock.lock().await;
    };
    tokio::pin!(runs_ended);
    let grace = daemon.config().schedule.shutdown_grace;
    if tokio::time::timeout(grace, &mut runs_ended).await.is_err() {
        tracing::warn!("run still going after the {grace:?} grace period; stopping its workers");
        daemon.cancel.cancel();
        runs_ended.await;
    }
    let _ = server.await;
}

/// The signals the daemon acts on, installed before it starts serving so that none arrives
/// unhandled: SIGTERM and SIGINT stop it, SIGHUP reloads the configuration.
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    /// Installs the handlers.
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Resolves on SIGTERM or SIGINT; reloads `daemon`'s configuration on every SIGHUP
    /// meanwhile.
    pub async fn serve(mut self, daemon: Arc<Daemon>) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.hup.recv() => { let _ = daemon.reload().await; }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_bounds() {
        let mut config = Config::default();
        config.schedule.interval = Duration::from_secs(10);
        config.schedule.jitter = Duration::from_secs(2);
        for _ in 0..200 {
            let d = jittered(&config).as_secs_f64();
            assert!((8.0..=12.0).contains(&d), "{d}");
        }
        config.schedule.jitter = Duration::ZERO;
        assert_eq!(jittered(&config), Duration::from_secs(10));
    }
}
