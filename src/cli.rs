//! The command line: node_exporter-style flags for the daemon, and the subcommands `run`
//! (one sweep, printed), `check-config`, `print-default-config` and the hidden `worker`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use tokio_util::sync::CancellationToken;

use crate::analysis::{changes, usl};
use crate::config::{self, Analysis, MAX_REPEATS, MAX_WORKERS, Overrides, Workers};
use crate::host::Capacity;
use crate::results::{Results, StoreError};
use crate::table::Table;
use crate::workload::worker::WorkerArgs;
use crate::workload::{Backend, RunOptions, Spec, SyncMode, WorkloadError};
use crate::{metrics, report, schedule};

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
#[command(group = clap::ArgGroup::new("source").required(true).args(["csv", "db"]))]
pub struct ChangesArgs {
    /// A series: a header line, then rows; `#` comments; the values in a column named `value`,
    /// an optional `time` column.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// A run history (SQLite, as the daemon keeps or `run --record` writes): every
    /// combination's per-sweep medians.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Print one JSON object per change point.
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

/// Why `fit` made no fit.
#[derive(Debug, thiserror::Error)]
pub enum FitCommandError {
    /// The CSV data set.
    #[error(transparent)]
    Table(#[from] crate::table::TableError),
    /// The data do not allow a fit.
    #[error("{0}")]
    Fit(#[from] usl::FitError),
    /// Writing the answer.
    #[error("{0}")]
    Output(#[from] io::Error),
}

/// Runs `fit`: prints σ, κ, λ with their intervals, R², and the peak.
pub fn fit_command(args: &FitArgs) -> Result<ExitCode, FitCommandError> {
    let table = Table::read(&args.csv)?;
    let points: Vec<(f64, f64)> = table
        .numbers("concurrency")?
        .into_iter()
        .zip(table.numbers("throughput")?)
        .collect();
    let fit = usl::fit(&points)?;
    let mut out = io::stdout().lock();
    if args.json {
        let line = report::fit_json(&fit);
        writeln!(out, "{line}")?;
    } else {
        let p = |name: &str, v: &usl::Parameter| {
            format!(
                "{name:<8} {:<12.6e} 95 % interval [{:.6e}, {:.6e}]",
                v.value, v.lower, v.upper
            )
        };
        writeln!(out, "model    {}", fit.model)?;
        writeln!(out, "{}", p("sigma", &fit.sigma))?;
        writeln!(out, "{}", p("kappa", &fit.kappa))?;
        writeln!(out, "{}", p("lambda", &fit.lambda))?;
        writeln!(out, "r2       {:.6}", fit.r_squared)?;
        match (fit.peak_concurrency, fit.peak_throughput) {
            (Some(n), Some(x)) => writeln!(out, "peak     {x:.6} at concurrency {n:.2}")?,
            _ => writeln!(out, "peak     none within range (throughput keeps rising)")?,
        }
        for warning in &fit.warnings {
            writeln!(out, "warning  {warning}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Why `changes` could not read its data.
#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    /// The CSV series.
    #[error(transparent)]
    Table(#[from] crate::table::TableError),
    /// The run history.
    #[error(transparent)]
    History(#[from] StoreError),
    /// The run history file does not exist.
    #[error("{0}: no such run history")]
    NoHistory(PathBuf),
    /// A setting is out of its range.
    #[error("{0}")]
    Setting(String),
    /// Writing the answer.
    #[error("{0}")]
    Output(#[from] io::Error),
}

/// One series and its time axis, as `changes` reads it.
struct Series {
    /// Which combination, for a run history's series.
    spec: Option<Spec>,
    times: Vec<String>,
    values: Vec<f64>,
}

/// Runs `changes`: prints the change points of the series, one line each.
pub fn changes_command(args: &ChangesArgs) -> Result<ExitCode, ChangesError> {
    for (flag, value) in [
        ("--max-pvalue", args.max_pvalue),
        ("--min-magnitude", args.min_magnitude),
    ] {
        if !(0.0..=1.0).contains(&value) {
            return Err(ChangesError::Setting(format!(
                "{flag} {value} must be between 0 and 1"
            )));
        }
    }
    let settings = Analysis {
        window: usize::try_from(args.window).unwrap_or(usize::MAX),
        max_pvalue: args.max_pvalue,
        min_magnitude: args.min_magnitude,
        ..Analysis::default()
    }
    .detectors();
    let mut all = Vec::new();
    if let Some(path) = &args.csv {
        let table = Table::read(path)?;
        let values = table.numbers("value")?;
        let times = table
            .text("time")
            .unwrap_or_else(|| (0..values.len()).map(|i| i.to_string()).collect());
        all.push(Series {
            spec: None,
            times,
            values,
        });
    }
    if let Some(path) = &args.db {
        if !path.is_file() {
            return Err(ChangesError::NoHistory(path.clone()));
        }
        let results = Results::read_only(path)?;
        for spec in results.specs()? {
            let points = results.series(&spec, MAX_SERIES)?;
            all.push(Series {
                spec: Some(spec),
                times: points.iter().map(|p| p.time.to_string()).collect(),
                values: points.iter().map(|p| p.median_seconds).collect(),
            });
        }
    }
    let mut out = io::stdout().lock();
    for series in &all {
        for change in changes::changes(&series.values, &settings) {
            let time = series.times.get(change.index).map_or("", String::as_str);
            if args.json {
                let line = report::change_json(&change, time, series.spec.as_ref());
                writeln!(out, "{line}")?;
            } else {
                let line = report::change_line(&change, time, series.spec.as_ref());
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The most sweeps of one series `changes --db` reads.
const MAX_SERIES: usize = 10_000;

/// Errors of `check-config` and `print-default-config`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigCommandError {
    /// Two different files were named.
    #[error(
        "two files given, {0} and {1}: name the file to check once, as the argument or with --config.file"
    )]
    TwoFiles(PathBuf, PathBuf),
    /// No file was named.
    #[error("no file given: copybench_exporter check-config FILE")]
    NoFile,
    /// `print-default-config` was given a file.
    #[error("print-default-config prints the built-in defaults; it takes no --config.file")]
    FileNotUsed,
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The workdir cannot hold scratch directories.
    #[error("workload.workdir {path}: {error}")]
    Workdir {
        /// The directory.
        path: PathBuf,
        /// Why not.
        error: WorkloadError,
    },
}

/// Runs `check-config`: loads `file` (or `--config.file`) with the environment and flag
/// overrides, and checks that the workdir can hold scratch directories, as readiness does.
pub fn check_config_command(
    cli: &Cli,
    file: Option<&std::path::Path>,
) -> Result<ExitCode, ConfigCommandError> {
    let file = match (file, cli.config_file.as_deref()) {
        (Some(a), Some(b)) if a != b => {
            return Err(ConfigCommandError::TwoFiles(a.to_owned(), b.to_owned()));
        }
        (Some(file), _) | (None, Some(file)) => file,
        (None, None) => return Err(ConfigCommandError::NoFile),
    };
    let config = config::Config::load(Some(file), &cli.overrides())?;
    if std::fs::read_to_string(file).is_ok_and(|text| config::sets_nothing(&text)) {
        eprintln!(
            "warning: {} sets nothing: every key takes its default",
            file.display()
        );
    }
    let path = config.workload.workdir();
    crate::workload::check_workdir(&path)
        .map_err(|error| ConfigCommandError::Workdir { path, error })?;
    println!("{}: configuration is valid", file.display());
    Ok(ExitCode::SUCCESS)
}

/// Runs `print-default-config`.
pub fn print_default_config(cli: &Cli) -> Result<ExitCode, ConfigCommandError> {
    if cli.config_file.is_some() {
        return Err(ConfigCommandError::FileNotUsed);
    }
    print!("{}", config::DEFAULT_TOML);
    Ok(ExitCode::SUCCESS)
}

/// Why the `run` command could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunCommandError {
    /// The configuration it starts from is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The flags set a key to an impossible value (`--timeout` is `schedule.run_timeout`,
    /// the others are `workload.*`).
    #[error("run flags: {0}")]
    Flags(config::ConfigError),
    /// The scratch directory cannot be made.
    #[error("workdir is not usable: {0}")]
    Workdir(WorkloadError),
    /// The run history cannot be opened or read.
    #[error(transparent)]
    History(#[from] StoreError),
    /// Setting up the command failed.
    #[error("{0}")]
    Setup(#[from] io::Error),
}

/// Runs the `run` subcommand: one sweep, a progress bar on a terminal, then the results.
/// Exits 0 when every run succeeded, 1 when any failed, 130 on Ctrl-C.
pub fn run_command(cli: &Cli, args: &RunArgs) -> Result<ExitCode, RunCommandError> {
    let mut config = config::Config::load(cli.config_file.as_deref(), &cli.overrides())?;
    let workload = &mut config.workload;
    workload.backends = args.backend.clone().unwrap_or(workload.backends.clone());
    workload.sync = args.sync.clone().unwrap_or(workload.sync.clone());
    if let Some(workers) = &args.workers {
        workload.workers = Workers::List(workers.clone());
    }
    workload.repeats = args.repeats.unwrap_or(workload.repeats);
    workload.warmup = args.warmup.unwrap_or(workload.warmup);
    workload.lines = args.lines.unwrap_or(workload.lines);
    workload.reread = args.reread.unwrap_or(workload.reread);
    workload.workdir = args.workdir.clone().unwrap_or(workload.workdir.clone());
    config.schedule.run_timeout = args.timeout.unwrap_or(config.schedule.run_timeout);
    // The flags are held to the same bounds as the keys they set.
    config.validate().map_err(RunCommandError::Flags)?;
    let workload = config.workload;
    let options = RunOptions {
        workdir: workload.workdir(),
        worker_exe: crate::workload::SELF_EXE.into(),
        timeout: config.schedule.run_timeout,
        cancel: CancellationToken::new(),
        keep_output: args.keep_output.clone(),
    };
    crate::workload::check_workdir(&options.workdir).map_err(RunCommandError::Workdir)?;
    // A history file may be the daemon's own: its retention is the daemon's business.
    let results = Results::open(
        args.record.as_deref(),
        Duration::MAX,
        metrics::duration_buckets(workload.lines, workload.reread),
    )?;
    let specs = schedule::combinations(&workload, Capacity::current().usable());
    let plan = schedule::plan(&specs, workload.repeats, workload.warmup, &mut rand::rng());

    let progress = indicatif::ProgressBar::new(plan.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} runs  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let json = args.json;
    let cancel = options.cancel.clone();
    let results = std::sync::Arc::new(results);
    let sweep_results = std::sync::Arc::clone(&results);
    let sweep_options = options.clone();
    let analysis = config.analysis.clone();
    let swept = runtime.block_on(async move {
        let sweep = tokio::task::spawn_blocking(move || {
            let stop = sweep_options.cancel.clone();
            let swept = schedule::sweep(
                &plan,
                &sweep_options,
                &analysis,
                &sweep_results,
                &stop,
                || (),
                |record| {
                    if json {
                        // The bar steps aside so that the line starts a line of its own.
                        progress
                            .suspend(|| report::json_line(&mut io::stdout().lock(), record))
                            .unwrap_or_else(|e| tracing::debug!("stdout: {e}"));
                    }
                    progress.inc(1);
                    let spec = &record.spec;
                    progress.set_message(format!(
                        "{} {} workers={}",
                        spec.backend, spec.sync, spec.workers
                    ));
                },
            );
            progress.finish_and_clear();
            swept
        });
        tokio::pin!(sweep);
        tokio::select! {
            swept = &mut sweep => swept,
            _ = tokio::signal::ctrl_c() => {
                cancel.cancel();
                sweep.await
            }
        }
    });
    let swept = swept.map_err(io::Error::other)?;
    let Some(id) = swept.id else {
        return Err(io::Error::other("the run history could not record the sweep").into());
    };
    let records = results.sweep_runs(id)?;
    let points = results.sweep_points(id, &specs, config.analysis.max_cv)?;
    let scaling = crate::results::scaling(&points);
    if let Some(path) = &args.svg {
        match crate::chart::scaling_svg(&points, &scaling) {
            Some(svg) => std::fs::write(path, svg)?,
            None => eprintln!(
                "copybench_exporter: no run measured anything; {} not written",
                path.display()
            ),
        }
    }
    let mut out = io::stdout().lock();
    if json {
        points
            .iter()
            .try_for_each(|p| report::point_json_line(&mut out, p))?;
        scaling
            .iter()
            .try_for_each(|s| report::scaling_json_line(&mut out, s))?;
    } else {
        writeln!(
            out,
            "{} lines{}, {} runs of each combination; ± is the half-width of the median's \
             confidence interval; disorder with sync=none is the expected race",
            workload.lines,
            if workload.reread {
                ", re-read per task"
            } else {
                ""
            },
            workload.repeats
        )?;
        report::table(&mut out, &points, &records)?;
        scaling
            .iter()
            .try_for_each(|s| writeln!(out, "{}", report::scaling_line(s)))?;
    }
    drop(out);
    match io::stdout().flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(if options.cancel.is_cancelled() {
        ExitCode::from(130)
    } else if records.iter().all(|r| r.success) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
