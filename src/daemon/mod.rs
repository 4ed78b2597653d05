//! The long-running exporter. [`run`] starts it: raises the open-files limit, binds the
//! listen address, opens the history and serves until a stop signal. The [`Daemon`] wires the
//! parts together: the configuration in force ([`live`]), the sweeper and its schedule
//! ([`sweeps`]), the probe handler, the metrics; [`endpoints`] answers HTTP with them and
//! [`signals`] turns signals into reloads and shutdown. Shutdown takes three steps: stop
//! accepting, let a run in progress finish within the grace period, then kill its workers.

mod endpoints;
pub mod live;
mod memory;
mod signals;
mod sweeps;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::host::Capacity;
use crate::probe::Prober;
use crate::render::metrics::{Exposition, Status};
use crate::results::{Results, StoreError};
use crate::schedule::{RunSlot, Setup, Sweeper};
use crate::web::config_file::{WebConfigError, WebConfigFile};
use crate::workload;
use live::Live;
pub use live::Source;
use sweeps::Interval;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The metric registry rejected a family (a programming error).
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The run history cannot be opened.
    #[error(transparent)]
    History(#[from] StoreError),
    /// The configuration cannot be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The web config file cannot be used.
    #[error(transparent)]
    WebConfig(#[from] WebConfigError),
    /// The operating system refused a resource the daemon needs at start.
    #[error("{what}: {error}")]
    Start {
        /// What could not be done.
        what: String,
        /// Why.
        error: std::io::Error,
    },
}

impl DaemonError {
    fn start(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
        let what = what.into();
        move |error| DaemonError::Start { what, error }
    }
}

/// The two steps of shutdown: `stop` (no new run starts) and `kill` (runs in progress end).
#[derive(Clone, Default)]
struct Shutdown {
    stop: CancellationToken,
    kill: CancellationToken,
}

/// Everything the schedule, the probes and the HTTP handlers share.
pub struct Daemon {
    live: Live,
    sweeper: Sweeper,
    exposition: Exposition,
    prober: Arc<Prober>,
    interval: Interval,
    shutdown: Shutdown,
}

impl Daemon {
    /// Opens the run history, cleans up after a killed predecessor and publishes the
    /// configured combinations' latest results. Workers run `worker_exe`.
    pub fn new(
        config: Config,
        source: Source,
        worker_exe: PathBuf,
    ) -> Result<Arc<Daemon>, DaemonError> {
        let shutdown = Shutdown::default();
        let config = Arc::new(config);
        let results = Arc::new(open_history(&config)?);
        remove_stale_scratch(&config.workload.workdir());
        let exposition = Exposition::new(config.metrics.clone())?;
        let slot = Arc::new(RunSlot::new()?);
        exposition.register(slot.gauge())?;
        let prober = Arc::new(Prober::new()?);
        exposition.register(prober.counter())?;
        let interval = Interval::new(config.schedule.interval);
        let setup = Setup::new(
            config,
            Capacity::current(),
            worker_exe,
            shutdown.kill.clone(),
        );
        let daemon = Arc::new(Daemon {
            live: Live::new(setup, source),
            sweeper: Sweeper::new(results, slot),
            exposition,
            prober,
            interval,
            shutdown,
        });
        daemon.detect();
        daemon.publish();
        Ok(daemon)
    }

    /// The setup in force, rebuilt if the CPUs the exporter may use changed.
    fn setup(&self) -> Arc<Setup> {
        self.live.refresh(Capacity::current())
    }

    fn results(&self) -> &Arc<Results> {
        self.sweeper.results()
    }

    /// Runs the change-point detectors over the configured combinations' history, and
    /// rebuilds the node's watch from it if a reload changed the watch's settings.
    fn detect(&self) {
        let setup = self.setup();
        let a = &setup.config.analysis;
        if let Err(e) = self
            .results()
            .detect(&setup.specs, &a.detectors(), a.history)
        {
            tracing::warn!("cannot read the run history for change points: {e}");
        }
        let watch = a.watch();
        if self.results().watch_settings() != watch
            && let Err(e) = self.results().rewatch(watch)
        {
            tracing::warn!("cannot read the run history for the node's watch: {e}");
        }
    }

    /// Re-renders the cached metrics from the results model and the daemon's status. Reads
    /// the history, so it runs off the async runtime or at start-up.
    fn publish(&self) {
        let published = self.exposition.publish(|| {
            let setup = self.setup();
            let a = &setup.config.analysis;
            let snapshot = self
                .results()
                .snapshot(&setup.specs, a.max_cv, a.fit_sweeps)?;
            let reload = self.live.status();
            let status = Status {
                last_reload_ok: reload.ok,
                last_reload_success_at: reload.success_at,
                capacity: setup.capacity,
                interval_seconds: self.interval.seconds(),
            };
            Ok::<_, StoreError>((snapshot, status))
        });
        if let Err(e) = published {
            tracing::warn!("cannot read the run history for the metrics: {e}");
        }
    }

    /// Kills the workers of a run in progress now, not after the grace period.
    pub fn kill_now(&self) {
        self.shutdown.kill.cancel();
    }
}

/// The history of the configured state directory, or one in memory.
fn open_history(config: &Config) -> Result<Results, StoreError> {
    let state_env = std::env::var("STATE_DIRECTORY").ok();
    let retention = config.state.retention;
    match config.state.resolved_dir(state_env.as_deref()) {
        Some(dir) => {
            let results = Results::open_state_dir(&dir, retention)?;
            tracing::info!(dir = %dir.display(), "keeping the run history");
            results.rewatch(config.analysis.watch())?;
            Ok(results)
        }
        None => {
            tracing::info!("no state directory configured; the run history is kept in memory only");
            let results = Results::open(None, retention)?;
            results.rewatch(config.analysis.watch())?;
            Ok(results)
        }
    }
}

/// Removes the scratch directories a killed process left in `workdir`.
fn remove_stale_scratch(workdir: &std::path::Path) {
    match workload::remove_stale_scratch(workdir) {
        Ok(removed) => {
            for dir in removed {
                tracing::warn!(dir = %dir.display(), "removed a scratch directory left by a killed process");
            }
        }
        Err(e) => {
            tracing::warn!(dir = %workdir.display(), "cannot look for stale scratch directories: {e}")
        }
    }
}

/// Serves `listener` (as the web configuration `web` says) and runs the schedule until
/// `shutdown` resolves, then stops accepting, gives a run in progress (scheduled or probe)
/// the grace period, and kills its workers after that (or when [`Daemon::kill_now`] is
/// called).
pub async fn serve(
    daemon: Arc<Daemon>,
    listener: TcpListener,
    web: Option<Arc<WebConfigFile>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let stop = daemon.shutdown.stop.clone();
    let schedule = tokio::spawn(sweeps::schedule(Arc::clone(&daemon)));
    let options = crate::web::Options::new(&daemon.live.setup().config.web, web);
    let stopped = stop.clone();
    let server = tokio::spawn(crate::web::serve(
        listener,
        Arc::clone(&daemon),
        async move { stopped.cancelled().await },
        options,
    ));
    tokio::select! {
        () = shutdown => {}
        () = stop.cancelled() => {}
    }
    tracing::info!("shutting down");
    stop.cancel();
    let slot = daemon.sweeper.slot();
    let runs_ended = async {
        let _ = schedule.await;
        slot.idle().await;
    };
    tokio::pin!(runs_ended);
    let grace = daemon.live.setup().config.schedule.shutdown_grace;
    let kill = daemon.shutdown.kill.clone();
    tokio::select! {
        () = &mut runs_ended => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("run still going after the {grace:?} grace period; stopping its workers");
            kill.cancel();
            runs_ended.await;
        }
        () = kill.cancelled() => {
            tracing::warn!("second stop signal; stopping the run's workers now");
            runs_ended.await;
        }
    }
    let _ = server.await;
}

/// What the daemon is started with, besides its configuration.
pub struct Startup {
    /// Where the configuration came from, to reload it.
    pub source: Source,
    /// `--web.config.file`.
    pub web_config_file: Option<PathBuf>,
}

/// Runs the daemon on `config` until SIGTERM or SIGINT: raises the open-files limit, binds,
/// opens the history and serves.
pub fn run(config: Config, startup: Startup) -> Result<(), DaemonError> {
    memory::give_large_blocks_back();
    check_open_files(&config);
    let address = config.web.listen_address;
    let (runtime, anchor) =
        runtime().map_err(DaemonError::start("cannot start the async runtime"))?;
    let served = runtime.block_on(async {
        let signals = signals::Signals::install()
            .map_err(DaemonError::start("cannot install signal handlers"))?;
        let listener = crate::web::bind(&address)
            .await
            .map_err(DaemonError::start(format!("cannot listen on {address}")))?;
        let bound = listener
            .local_addr()
            .map_err(DaemonError::start("cannot read the bound address"))?;
        let web = startup
            .web_config_file
            .as_deref()
            .map(WebConfigFile::open)
            .transpose()?
            .map(Arc::new);
        // Workers re-execute this very program, even after its file is replaced or deleted.
        let daemon = Daemon::new(config, startup.source, workload::SELF_EXE.into())?;
        // NODE_NAME comes from the Kubernetes downward API (deploy/kubernetes).
        let node = std::env::var("NODE_NAME").unwrap_or_default();
        tracing::info!(address = %bound, version = env!("CARGO_PKG_VERSION"), node, "listening");
        let stop = signals.watch(Arc::clone(&daemon));
        serve(daemon, listener, web, stop).await;
        Ok::<(), DaemonError>(())
    });
    drop(anchor);
    // Runs end within the grace period; this only bounds a stuck blocking task.
    runtime.shutdown_timeout(Duration::from_secs(5));
    tracing::info!("stopped");
    served
}

/// The async runtime, and the anchor that keeps one of its blocking threads until dropped.
/// Tokio gives up (panics) when the system refuses a new thread while no blocking thread
/// exists; with one always there, a task waits for a thread instead (a pids limit, a full
/// system), and the callers' time bounds turn a long wait into an error.
fn runtime() -> std::io::Result<(tokio::runtime::Runtime, std::sync::mpsc::Sender<()>)> {
    let runtime = tokio::runtime::Runtime::new()?;
    let (anchor, held) = std::sync::mpsc::channel::<()>();
    let (started, start) = std::sync::mpsc::channel();
    let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drop(runtime.spawn_blocking(move || {
            let _ = started.send(());
            let _ = held.recv();
        }))
    }));
    if spawned.is_err() || start.recv().is_err() {
        return Err(std::io::Error::other(
            "the system refused the runtime a thread",
        ));
    }
    Ok((runtime, anchor))
}

/// Raises the open-files limit and warns when it leaves too few descriptors.
fn check_open_files(config: &Config) {
    match raise_open_files_limit() {
        Ok(limit) => {
            let needed = descriptors_needed(config);
            if limit < needed {
                tracing::warn!(
                    limit,
                    needed,
                    "the open-files limit leaves too few descriptors for [web] max_connections \
                     and the largest pool; lower them or raise the hard limit"
                );
            }
        }
        Err(e) => tracing::warn!("cannot raise the open files limit: {e}"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The answer to `GET path` on `address`, head and body.
    async fn get(address: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        answer
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_daemon_serves_in_process_until_its_shutdown_future_resolves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::default();
        config.schedule.run_at_start = false;
        config.workload.workdir = dir.path().to_owned();
        let daemon = Daemon::new(config, Source::default(), "/nonexistent".into()).expect("daemon");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(serve(daemon, listener, None, async move {
            let _ = stopped.await;
        }));
        let healthy = get(address, "/-/healthy").await;
        assert!(
            healthy.starts_with("HTTP/1.1 200") && healthy.ends_with("Healthy\n"),
            "{healthy}"
        );
        let metrics = get(address, "/metrics").await;
        assert!(metrics.contains("copybench_build_info{"), "{metrics}");
        assert!(metrics.contains("copybench_run_in_progress 0"), "{metrics}");
        assert!(metrics.contains(r#"copybench_probes_total{result="cancelled"} 0"#));
        stop.send(()).expect("still serving");
        tokio::time::timeout(Duration::from_secs(10), served)
            .await
            .expect("stopped in time")
            .expect("no panic");
        assert!(
            tokio::net::TcpStream::connect(address).await.is_err(),
            "the listener is closed"
        );
    }

    #[test]
    fn the_descriptor_budget_follows_connections_and_the_largest_pool() {
        let mut config = Config::default();
        // 256 connections, the probe's 8 workers (more than the sweep's 3), and our own.
        assert_eq!(descriptors_needed(&config), 256 + 8 * 8 + 64);
        config.workload.workers = crate::config::Workers::List(vec![1, 100]);
        config.web.max_connections = 10;
        assert_eq!(descriptors_needed(&config), 10 + 8 * 100 + 64);
    }
}
