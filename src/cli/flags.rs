//! The command line's flags, as node_exporter names them for the daemon, and the subcommands'
//! arguments; parsing only. What the flags mean is resolved where they are used: the
//! daemon's into configuration overrides ([`Cli::overrides`]), `run`'s into the `[workload]`
//! keys they set ([`RunArgs::apply`]).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use super::range_query::When;
use crate::config::{self, Analysis, Config, MAX_REPEATS, MAX_WORKERS, Overrides, Workers};
use crate::workload::worker::WorkerArgs;
use crate::workload::{Backend, SyncMode};

/// Measures parallel copy workloads and exports the results as Prometheus metrics.
#[derive(Debug, Parser)]
#[command(name = "copybench_exporter", version)]
pub struct Cli {
    /// Configuration file (TOML); built-in defaults apply without one.
    #[arg(long = "config.file", value_name = "FILE", global = true)]
    pub config_file: Option<PathBuf>,
    /// Address to listen on, e.g. ":10720" or "127.0.0.1:10720".
    #[arg(long = "web.listen-address", value_name = "ADDR")]
    pub listen_address: Option<String>,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long = "log.level", value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log format: text or json.
    #[arg(long = "log.format", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// TLS, basic authentication and headers, in the Prometheus exporter-toolkit web config
    /// format (YAML); read again when it changes.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
    /// What to do; without one, run the exporter daemon.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The flags that override configuration keys.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen_address: self.listen_address.clone(),
            log_level: self.log_level.clone(),
            log_format: self.log_format.clone(),
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one sweep of the copy workload now and print the results.
    Run(RunArgs),
    /// Check a configuration file (plus environment overrides) and its workdir, and exit.
    CheckConfig {
        /// The file to check (or give it with --config.file).
        file: Option<PathBuf>,
    },
    /// Print the documented default configuration.
    PrintDefaultConfig,
    /// Find change points in a series (CSV) or in every series of a run history.
    Changes(ChangesArgs),
    /// Fit the Universal Scalability Law to throughput measured at several concurrencies.
    Fit(FitArgs),
    /// Internal: one worker process of the process backend.
    #[command(hide = true)]
    Worker(WorkerArgs),
}

/// Arguments of `run`; unset ones take the configuration's `[workload]` values.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Worker pools, comma-separated: process, thread.
    #[arg(long, value_delimiter = ',')]
    pub backend: Option<Vec<Backend>>,
    /// Sync modes, comma-separated: none, lock, ordered.
    #[arg(long, value_delimiter = ',')]
    pub sync: Option<Vec<SyncMode>>,
    /// Pool sizes, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_WORKERS)))]
    pub workers: Option<Vec<u32>>,
    /// Runs of each combination, in shuffled rounds.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_REPEATS)))]
    pub repeats: Option<u32>,
    /// Whether to start with one warm-up run that is recorded but not counted.
    #[arg(long, action = clap::ArgAction::Set)]
    pub warmup: Option<bool>,
    /// Whether every round also runs the host reference (thread, none, 1 worker).
    #[arg(long, action = clap::ArgAction::Set)]
    pub reference: Option<bool>,
    /// Input lines (and tasks) per run.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=config::MAX_LINES))]
    pub lines: Option<u64>,
    /// Whether each task re-reads the whole input (true, the original) or not (false).
    #[arg(long, action = clap::ArgAction::Set)]
    pub reread: Option<bool>,
    /// Directory for scratch directories (default: the system temp dir).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Stop a run after this long, e.g. "90s".
    #[arg(long, value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// Print one JSON object per run instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also keep the runs in this run history database (SQLite; created if missing), e.g.
    /// the daemon's `history.sqlite`.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Also draw the throughput by pool size, with the scalability fits, into this SVG file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Keep each completed run's input.txt and output.txt in a directory of its own under
    /// this one, named backend-sync-workers-N.
    #[arg(long, value_name = "DIR")]
    pub keep_output: Option<PathBuf>,
}

/// Arguments of `changes`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["csv", "db", "prometheus"]))]
pub struct ChangesArgs {
    /// A series: a header line, then rows; `#` comments; the values in a column named `value`,
    /// an optional `time` column.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// A run history (SQLite, as the daemon keeps or `run --record` writes): every
    /// combination's per-sweep medians.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Walk the history sweep by sweep and print the host, workload, scaling and contention
    /// alerts the node's detectors raise with the `[analysis]` settings of --config.file
    /// (and the environment), instead of the change points.
    #[arg(long, requires = "db")]
    pub replay: bool,
    /// A Prometheus-compatible API (Prometheus, Thanos, Mimir, VictoriaMetrics) by its base
    /// URL, the path before `/api/v1`: every series of --query's range query, one per label
    /// set. A query is given 120 s.
    #[arg(long, value_name = "URL", requires = "query")]
    pub prometheus: Option<String>,
    /// The PromQL of --prometheus, e.g. `copybench_point_median_seconds{workers="2"}`.
    #[arg(long, value_name = "PROMQL", requires = "prometheus")]
    pub query: Option<String>,
    /// Start of the range: RFC 3339 in UTC (`2026-12-05T15:00:00Z`), Unix seconds, or a
    /// duration before now (`3d`).
    #[arg(long, default_value = "7d", value_parser = When::parse)]
    pub since: When,
    /// End of the range, as --since.
    #[arg(long, default_value = "0s", value_parser = When::parse)]
    pub until: When,
    /// Time between the points of the range: the exporter's sweep interval gives about one
    /// point per sweep (a shorter step repeats a sweep's value, which the detectors take for
    /// more evidence than there is).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub step: Duration,
    /// The most series --prometheus reads; a query with more is refused.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_series: u64,
    /// The most points --prometheus reads, all series together; a query with more is refused.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_points: u64,
    /// Print one JSON object per change point (per alert with --replay).
    #[arg(long)]
    pub json: bool,
    /// Points per window of the E-divisive search (4 to 1000).
    #[arg(long, default_value_t = Analysis::default().window as u64,
          value_parser = clap::value_parser!(u64).range(4..=1000))]
    pub window: u64,
    /// Largest p-value of a change point.
    #[arg(long, default_value_t = Analysis::default().max_pvalue)]
    pub max_pvalue: f64,
    /// Smallest relative change of the means.
    #[arg(long, default_value_t = Analysis::default().min_magnitude)]
    pub min_magnitude: f64,
}

/// Arguments of `fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// The measurements: a header line, then rows; `#` comments; columns named `concurrency`
    /// and `throughput`.
    #[arg(long, value_name = "FILE")]
    pub csv: PathBuf,
    /// Print the fit as one JSON object.
    #[arg(long)]
    pub json: bool,
}

impl RunArgs {
    /// `config` with the keys these flags set (`--timeout` is `schedule.run_timeout`, the
    /// others `workload.*`), held to the same bounds as the keys themselves.
    pub fn apply(&self, mut config: Config) -> Result<Config, config::ConfigError> {
        let workload = &mut config.workload;
        if let Some(backends) = &self.backend {
            workload.backends = backends.clone();
        }
        if let Some(sync) = &self.sync {
            workload.sync = sync.clone();
        }
        if let Some(workers) = &self.workers {
            workload.workers = Workers::List(workers.clone());
        }
        workload.repeats = self.repeats.unwrap_or(workload.repeats);
        workload.warmup = self.warmup.unwrap_or(workload.warmup);
        workload.reference = self.reference.unwrap_or(workload.reference);
        workload.lines = self.lines.unwrap_or(workload.lines);
        workload.reread = self.reread.unwrap_or(workload.reread);
        if let Some(workdir) = &self.workdir {
            workload.workdir = workdir.clone();
        }
        config.schedule.run_timeout = self.timeout.unwrap_or(config.schedule.run_timeout);
        config.validate()?;
        Ok(config)
    }
}
