//! The long-running exporter: wires the live configuration, the results model, the metrics
//! and the HTTP server together; runs sweeps on a jittered schedule and probes on demand, one
//! run at a time; reloads on SIGHUP or `POST /-/reload`; and shuts down in three steps (stop
//! accepting, let a run in progress finish within the grace period, then kill its workers).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError, Overrides, Schedule};
use crate::host::Capacity;
use crate::http::{self, Probed, Refusal};
use crate::metrics::{self, DaemonStatus, Metrics, ProbeResult};
use crate::results::{Results, Snapshot, StoreError};
use crate::run::{self, FailureReason, RunRecord, unix_now};
use crate::workload::{RunOptions, Spec};
use crate::{page, probe, query, schedule};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The metric registry rejected a family (a programming error).
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The run history cannot be opened.
    #[error(transparent)]
    History(#[from] StoreError),
}

/// Everything the schedule and the HTTP handlers share.
pub struct Daemon {
    config: watch::Sender<Arc<Config>>,
    config_path: Option<PathBuf>,
    overrides: Overrides,
    /// The reload outcome, the capacity and the interval, as last published.
    status: Mutex<DaemonStatus>,
    metrics: Metrics,
    results: Results,
    /// Held by whichever run (scheduled or probe) is executing, until its workers are gone.
    run_lock: Arc<tokio::sync::Mutex<()>>,
    /// Serialises reloads.
    reload_lock: tokio::sync::Mutex<()>,
    /// When the last probe's run started, for `[probe] min_interval`.
    last_probe: Mutex<Option<Instant>>,
    /// Serialises publishing, so an older snapshot never replaces a newer one.
    publish_lock: Mutex<()>,
    /// Cancelled when shutdown begins: no new run starts.
    stop: CancellationToken,
    /// Cancelled when the grace period is over: runs in progress are killed.
    kill: CancellationToken,
    worker_exe: PathBuf,
}

impl Daemon {
    /// Opens the run history, cleans up after a killed predecessor and publishes the
    /// configured specs' latest results.
    pub fn new(
        config: Config,
        config_path: Option<PathBuf>,
        overrides: Overrides,
        worker_exe: PathBuf,
    ) -> Result<Arc<Daemon>, DaemonError> {
        let metrics = Metrics::new(config.metrics.per_cpu)?;
        let state_env = std::env::var("STATE_DIRECTORY").ok();
        let state_dir = config.state.resolved_dir(state_env.as_deref());
        let buckets = metrics::duration_buckets(config.workload.lines, config.workload.reread);
        let retention = config.state.retention;
        let results = match &state_dir {
            Some(dir) => Results::open_state_dir(dir, retention, buckets)?,
            None => Results::open(None, retention, buckets)?,
        };
        match &state_dir {
            Some(dir) => tracing::info!(dir = %dir.display(), "keeping the run history"),
            None => tracing::info!(
                "no state directory configured; the run history is kept in memory only"
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
        let status = DaemonStatus {
            last_reload_ok: true,
            last_reload_success_at: unix_now(),
            capacity: Capacity::current(),
            interval_seconds: config.schedule.interval.as_secs_f64(),
        };
        let (config, _) = watch::channel(Arc::new(config));
        let daemon = Arc::new(Daemon {
            config,
            config_path,
            overrides,
            status: Mutex::new(status),
            metrics,
            results,
            run_lock: Arc::new(tokio::sync::Mutex::new(())),
            reload_lock: tokio::sync::Mutex::new(()),
            last_probe: Mutex::new(None),
            publish_lock: Mutex::new(()),
            stop: CancellationToken::new(),
            kill: CancellationToken::new(),
            worker_exe,
        });
        daemon.detect();
        daemon.publish();
        Ok(daemon)
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.config.borrow().clone()
    }

    fn status(&self) -> std::sync::MutexGuard<'_, DaemonStatus> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configured combinations on this host now (`workers = "auto"` follows the quota).
    fn specs(&self, config: &Config) -> Vec<Spec> {
        let capacity = Capacity::current();
        let usable = capacity.usable();
        self.status().capacity = capacity;
        schedule::combinations(&config.workload, usable)
    }

    /// The configured combinations' latest runs and summaries.
    fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let config = self.config();
        let specs = self.specs(&config);
        self.results
            .snapshot(&specs, config.analysis.max_cv, config.analysis.fit_sweeps)
    }

    /// Runs the change-point detectors over the configured combinations' history.
    fn detect(&self) {
        let config = self.config();
        let specs = self.specs(&config);
        let a = &config.analysis;
        if let Err(e) = self.results.detect(&specs, &a.detectors(), a.history) {
            tracing::warn!("cannot read the run history for change points: {e}");
        }
    }

    /// Re-renders the cached metrics from the results model and the daemon's status. Reads
    /// the history, so it runs off the async runtime or at start-up.
    fn publish(&self) {
        let _in_order = self.publish_lock.lock().unwrap_or_else(|p| p.into_inner());
        match self.snapshot() {
            Ok(snapshot) => self.metrics.update(&snapshot, &self.status().clone()),
            Err(e) => tracing::warn!("cannot read the run history for the metrics: {e}"),
        }
    }

    /// Runs `f` on the blocking pool (history reads and writes, runs); a task that panicked
    /// becomes a 500.
    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Daemon) -> T + Send + 'static,
    ) -> Result<T, Refusal> {
        let daemon = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(&daemon))
            .await
            .map_err(|e| Refusal::Failed(format!("task failed: {e}")))
    }

    /// Re-reads the configuration file (off the async runtime); a valid one applies from the
    /// next sweep, an invalid one leaves the running configuration in place.
    pub async fn reload(self: &Arc<Self>) -> Result<Vec<&'static str>, ConfigError> {
        let _one_at_a_time = self.reload_lock.lock().await;
        let (path, overrides) = (self.config_path.clone(), self.overrides.clone());
        let loaded = tokio::task::spawn_blocking(move || {
            let loaded = Config::load(path.as_deref(), &overrides);
            if let (Ok(_), Some(path)) = (&loaded, &path) {
                crate::config::warn_if_sets_nothing(path);
            }
            loaded
        })
        .await
        .unwrap_or_else(|e| Err(ConfigError::Load(format!("reload task failed: {e}"))));
        let result = match loaded {
            Ok(config) => {
                let restart = restart_needed(&self.config(), &config);
                if !restart.is_empty() {
                    tracing::warn!(
                        "{} changed; the new values apply after a restart",
                        restart.join(", ")
                    );
                }
                self.config.send_replace(Arc::new(config));
                tracing::info!("configuration reloaded");
                Ok(restart)
            }
            Err(e) => {
                tracing::error!("configuration reload failed, keeping the running one: {e}");
                Err(e)
            }
        };
        {
            let mut status = self.status();
            status.last_reload_ok = result.is_ok();
            if result.is_ok() {
                status.last_reload_success_at = unix_now();
            }
        }
        let _ = self
            .blocking(|daemon| {
                daemon.detect();
                daemon.publish();
            })
            .await;
        result
    }

    /// Answers a `/probe` request, and what became of it.
    async fn answer_probe(
        self: &Arc<Self>,
        query: &str,
        scrape_timeout: Option<f64>,
    ) -> (ProbeResult, Result<Probed, Refusal>) {
        let config = self.config();
        if !config.probe.enabled {
            let why = "probes are disabled (probe.enabled = false)".to_owned();
            return (ProbeResult::Disabled, Err(Refusal::NotFound(why)));
        }
        let request = match probe::request(query, &config.probe) {
            Ok(request) => request,
            Err(why) => return (ProbeResult::BadRequest, Err(Refusal::BadRequest(why))),
        };
        let since_last = self
            .last_probe
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|last| last.elapsed());
        if let Some(wait) = since_last.and_then(|e| config.probe.min_interval.checked_sub(e)) {
            let refusal = Refusal::TooSoon {
                why: format!(
                    "probes are at least {} apart ([probe] min_interval)",
                    humantime::format_duration(config.probe.min_interval)
                ),
                retry_after: wait.as_secs_f64().ceil() as u64,
            };
            return (ProbeResult::RateLimited, Err(refusal));
        }
        let options = self.run_options(
            probe::timeout(&config.probe, scrape_timeout),
            self.kill.child_token(),
        );
        let started = Instant::now();
        let spec = request.spec;
        let Some(mut record) = self.run_probe(spec, options).await else {
            let refusal = Refusal::Busy {
                why: "another run is in progress; try again later".to_owned(),
                // The sweep frees the lock between its runs, which take seconds.
                retry_after: 1,
            };
            return (ProbeResult::Busy, Err(refusal));
        };
        *self.last_probe.lock().unwrap_or_else(|p| p.into_inner()) = Some(started);
        record.probe = true;
        if let Some(f) = &record.failure {
            tracing::warn!(
                backend = %spec.backend, sync = %spec.sync, workers = spec.workers,
                lines = spec.lines, reason = %f.reason, message = %f.message, "probe failed"
            );
        }
        let kept = record.clone();
        let stored = self
            .blocking(move |daemon| daemon.results.record(&kept))
            .await;
        if let Ok(Err(e)) = stored {
            tracing::warn!("cannot keep the probe's run in the history: {e}");
        }
        let exposition = metrics::render_probe(
            &record,
            started.elapsed().as_secs_f64(),
            config.metrics.per_cpu,
        );
        let result = if record.success {
            ProbeResult::Success
        } else {
            ProbeResult::Failure
        };
        let answer = if request.debug {
            Probed::Debug(probe::debug_text(&record, &exposition))
        } else {
            Probed::Metrics(exposition)
        };
        (result, Ok(answer))
    }

    /// Runs one probe unless another run is executing (`None`). If the caller stops waiting
    /// (the scraper hung up), the run is cancelled, as blackbox_exporter cancels a probe. The
    /// run lock moves into the blocking task, so it is released only when the run has ended.
    async fn run_probe(self: &Arc<Self>, spec: Spec, options: RunOptions) -> Option<RunRecord> {
        let lock = Arc::clone(&self.run_lock).try_lock_owned().ok()?;
        let _abandoned = options.cancel.clone().drop_guard();
        let record = self
            .blocking(move |daemon| {
                // Dropped in order: the gauge falls before the lock lets another run start.
                let _held = (daemon.metrics.running(), lock);
                run::execute(&spec, &options, &daemon.config().analysis)
            })
            .await;
        Some(record.unwrap_or_else(|_| {
            let why = "the run's task panicked".to_owned();
            RunRecord::failed(&spec, unix_now(), FailureReason::Io, why)
        }))
    }

    /// The options of a run under the configuration in force.
    fn run_options(&self, timeout: std::time::Duration, cancel: CancellationToken) -> RunOptions {
        RunOptions {
            workdir: self.config().workload.workdir(),
            worker_exe: self.worker_exe.clone(),
            timeout,
            cancel,
            keep_output: None,
        }
    }

    /// Runs one sweep, one run at a time, recording each run and publishing the metrics after
    /// each. Returns the CPU time its workers used.
    fn sweep(&self) -> f64 {
        let config = self.config();
        let w = &config.workload;
        let plan = schedule::plan(&self.specs(&config), w.repeats, w.warmup, &mut rand::rng());
        let options = self.run_options(config.schedule.run_timeout, self.kill.clone());
        // Dropped in order: the gauge falls before the lock lets another run start.
        let hold = || {
            let lock = Arc::clone(&self.run_lock).blocking_lock_owned();
            (self.metrics.running(), lock)
        };
        let started = Instant::now();
        let each = |record: &RunRecord| {
            let spec = &record.spec;
            match &record.failure {
                None => tracing::debug!(%spec.backend, %spec.sync, spec.workers, "run succeeded"),
                Some(f) => tracing::warn!(
                    %spec.backend, %spec.sync, spec.workers, reason = f.reason.as_str(),
                    "run failed: {}", f.message
                ),
            }
            self.publish();
        };
        let swept = schedule::sweep(
            &plan,
            &options,
            &config.analysis,
            &self.results,
            &self.stop,
            hold,
            each,
        );
        if swept.complete {
            tracing::info!(
                seconds = started.elapsed().as_secs_f64(),
                cpu_seconds = swept.cpu_seconds,
                "sweep done"
            );
            self.schedule_next(&config.schedule, swept.cpu_seconds);
            self.detect();
            self.publish();
        }
        swept.cpu_seconds
    }

    /// Sets the interval in force after a sweep that used `cpu_seconds`, warning when the CPU
    /// budget stretches it.
    fn schedule_next(&self, schedule: &Schedule, cpu_seconds: f64) {
        let budgeted = schedule::next_interval(
            &Schedule {
                jitter: Duration::ZERO,
                ..schedule.clone()
            },
            cpu_seconds,
        );
        if budgeted > schedule.interval {
            tracing::warn!(
                cpu_seconds,
                max_duty_cycle = schedule.max_duty_cycle,
                interval = ?budgeted,
                "the last sweep used more CPU than the budget allows; the next one waits longer"
            );
        }
        self.status().interval_seconds = budgeted.as_secs_f64();
    }

    /// Runs sweeps on the schedule until shutdown begins.
    async fn schedule(self: Arc<Self>) {
        let mut next = if self.config().schedule.run_at_start {
            tokio::time::Instant::now()
        } else {
            tokio::time::Instant::now() + schedule::next_interval(&self.config().schedule, 0.0)
        };
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                () = self.stop.cancelled() => return,
            }
            let started = tokio::time::Instant::now();
            let cpu_seconds = self
                .blocking(|daemon| daemon.sweep())
                .await
                .unwrap_or_else(|_| {
                    tracing::error!("a sweep ended in a panic");
                    0.0
                });
            if self.stop.is_cancelled() {
                return;
            }
            next = (started + schedule::next_interval(&self.config().schedule, cpu_seconds))
                .max(tokio::time::Instant::now());
        }
    }
}

impl http::Exporter for Daemon {
    fn metrics(self: Arc<Self>) -> http::Body {
        self.metrics.render()
    }

    async fn landing_page(self: Arc<Self>) -> Result<String, Refusal> {
        self.blocking(|daemon| {
            let snapshot = daemon.snapshot()?;
            let histories = snapshot
                .series
                .iter()
                .map(|s| Ok((s.spec, daemon.results.series(&s.spec, page::HISTORY)?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(page::landing_page(&snapshot, &histories, unix_now()))
        })
        .await?
        .map_err(|e: StoreError| Refusal::Failed(e.to_string()))
    }

    async fn runs(self: Arc<Self>, query: &str) -> Result<Vec<u8>, Refusal> {
        let filter = query::run_filter(query).map_err(Refusal::BadRequest)?;
        let runs = self
            .blocking(move |daemon| daemon.results.runs(&filter))
            .await?
            .map_err(|e| Refusal::Failed(e.to_string()))?;
        serde_json::to_vec(&runs).map_err(|e| Refusal::Failed(e.to_string()))
    }

    async fn changes(self: Arc<Self>, query: &str) -> Result<Vec<u8>, Refusal> {
        let filter = query::run_filter(query).map_err(Refusal::BadRequest)?;
        serde_json::to_vec(&self.results.changes(&filter))
            .map_err(|e| Refusal::Failed(e.to_string()))
    }

    async fn probe(
        self: Arc<Self>,
        query: &str,
        scrape_timeout: Option<f64>,
    ) -> Result<Probed, Refusal> {
        let (result, answer) = self.answer_probe(query, scrape_timeout).await;
        self.metrics.probed(result);
        answer
    }

    async fn reload(self: Arc<Self>) -> Result<String, Refusal> {
        if !self.config().web.enable_reload {
            return Err(Refusal::Forbidden(
                "reloading over HTTP is off ([web] enable_reload = false); send SIGHUP instead"
                    .to_owned(),
            ));
        }
        match Daemon::reload(&self).await {
            Ok(restart) if restart.is_empty() => Ok("configuration reloaded".to_owned()),
            Ok(restart) => Ok(format!(
                "configuration reloaded; {} changed and apply after a restart",
                restart.join(", ")
            )),
            Err(e) => Err(Refusal::Failed(e.to_string())),
        }
    }

    /// Ready once the configuration is loaded (it is, or the daemon would not run) and
    /// scratch directories can be made in the workdir.
    async fn ready(self: Arc<Self>) -> Result<(), Refusal> {
        self.blocking(|daemon| crate::workload::check_workdir(&daemon.config().workload.workdir()))
            .await?
            .map_err(|e| Refusal::Unavailable(format!("not ready: {e}")))
    }
}

/// Raises the soft limit of open files to the hard limit, as Go programs do at start, so
/// that connections and runs do not run out of descriptors below what the host allows.
/// Returns the limit now in force.
pub fn raise_open_files_limit() -> nix::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard)
}

/// Descriptors the daemon may hold at once under `config`: every connection it serves, the
/// largest pool's pipes and files (a few per worker, with room to spare), and its own.
pub fn descriptors_needed(config: &Config) -> u64 {
    let sizes = config.workload.workers.sizes(Capacity::current().usable());
    let largest = sizes
        .into_iter()
        .max()
        .unwrap_or(1)
        .max(config.probe.max_workers);
    config.web.max_connections as u64 + 8 * u64::from(largest) + 64
}

/// The settings that changed from `old` to `new` but are read only at start-up
/// (`[web] enable_reload` is read at each request).
fn restart_needed(old: &Config, new: &Config) -> Vec<&'static str> {
    let listening = |web: &crate::config::Web| (web.listen_address, web.max_connections);
    [
        ("[web]", listening(&old.web) != listening(&new.web)),
        ("[state]", old.state != new.state),
        (
            "metrics.per_cpu",
            old.metrics.per_cpu != new.metrics.per_cpu,
        ),
        ("[log]", old.log != new.log),
    ]
    .into_iter()
    .filter_map(|(key, changed)| changed.then_some(key))
    .collect()
}

/// Serves `listener` (as the web configuration `web` says) and runs the schedule until
/// `signals` asks it to stop, then stops accepting, gives a run in progress (scheduled or
/// probe) the grace period, and kills its workers after that, or at once on a second stop
/// signal.
pub async fn run(
    daemon: Arc<Daemon>,
    listener: TcpListener,
    mut signals: Signals,
    web: Option<Arc<crate::webconfig::WebConfigFile>>,
) {
    let schedule = tokio::spawn(Arc::clone(&daemon).schedule());
    let server = tokio::spawn(http::serve(
        listener,
        Arc::clone(&daemon),
        daemon.stop.clone(),
        daemon.config().web.max_connections,
        web,
    ));
    signals.until_stop(&daemon).await;
    tracing::info!("shutting down");
    daemon.stop.cancel();
    let runs_ended = async {
        let _ = schedule.await;
        let _ = daemon.run_lock.lock().await;
    };
    tokio::pin!(runs_ended);
    let grace = daemon.config().schedule.shutdown_grace;
    tokio::select! {
        () = &mut runs_ended => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("run still going after the {grace:?} grace period; stopping its workers");
            daemon.kill.cancel();
            runs_ended.await;
        }
        () = signals.stop_requested() => {
            tracing::warn!("second stop signal; stopping the run's workers now");
            daemon.kill.cancel();
            runs_ended.await;
        }
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
    async fn until_stop(&mut self, daemon: &Arc<Daemon>) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.hup.recv() => { let _ = daemon.reload().await; }
            }
        }
    }

    /// Resolves on the next SIGTERM or SIGINT.
    async fn stop_requested(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptor_budget_follows_connections_and_the_largest_pool() {
        let mut config = Config::default();
        // 256 connections, the probe's 8 workers (more than the sweep's 3), and our own.
        assert_eq!(descriptors_needed(&config), 256 + 8 * 8 + 64);
        config.workload.workers = crate::config::Workers::List(vec![1, 100]);
        config.web.max_connections = 10;
        assert_eq!(descriptors_needed(&config), 10 + 8 * 100 + 64);
    }

    #[test]
    fn only_start_up_settings_need_a_restart() {
        let old = Config::default();
        let mut new = old.clone();
        new.workload.lines = 10;
        new.probe.enabled = false;
        new.web.enable_reload = true;
        assert!(restart_needed(&old, &new).is_empty());
        new.metrics.per_cpu = false;
        new.log.level = crate::config::LogLevel::Debug;
        assert_eq!(restart_needed(&old, &new), ["metrics.per_cpu", "[log]"]);
    }
}
