//! `run`: one sweep now, as the daemon makes them, with a progress bar on a terminal; then the
//! results as a table (or JSON lines) and, if asked, the scaling chart.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::flags::{Cli, RunArgs};
use crate::config;
use crate::host::Capacity;
use crate::record::RunRecord;
use crate::render::{chart, report};
use crate::results::{Point, Results, Scaling, StoreError};
use crate::schedule::{RunSlot, Setup, Sweeper, Swept};
use crate::workload::{self, WorkloadError};

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
    #[error(transparent)]
    Setup(#[from] io::Error),
    /// The metric the run slot keeps could not be made (a programming error).
    #[error(transparent)]
    Metrics(#[from] prometheus::Error),
}

/// Runs one sweep: a progress bar on a terminal, then the results. Exits 0 when every run
/// succeeded, 1 when any failed, 130 on Ctrl-C.
pub fn command(cli: &Cli, args: &RunArgs) -> Result<ExitCode, RunCommandError> {
    let config = config::Config::load(cli.config_file.as_deref(), &cli.overrides())?;
    let config = args.apply(config).map_err(RunCommandError::Flags)?;
    let mut setup = Setup::new(
        Arc::new(config),
        Capacity::current(),
        workload::SELF_EXE.into(),
        tokio_util::sync::CancellationToken::new(),
    );
    setup.options.keep_output = args.keep_output.clone();
    workload::check_workdir(&setup.options.workdir).map_err(RunCommandError::Workdir)?;
    // A history file may be the daemon's own: its retention is the daemon's business.
    let results = Arc::new(Results::open(args.record.as_deref(), Duration::MAX)?);
    let sweeper = Sweeper::new(Arc::clone(&results), Arc::new(RunSlot::new()?));
    let setup = Arc::new(setup);
    let swept = sweep_with_progress(Arc::new(sweeper), Arc::clone(&setup), args.json)?;
    let Some(id) = swept.id else {
        return Err(io::Error::other("the run history could not record the sweep").into());
    };
    let records = results.sweep_runs(id)?;
    let points = results.sweep_points(id, &setup.specs, setup.config.analysis.max_cv)?;
    let scaling = crate::results::scaling(&points);
    if let Some(path) = &args.svg {
        match chart::scaling_svg(&points, &scaling) {
            Some(svg) => std::fs::write(path, svg)?,
            None => eprintln!(
                "copybench_exporter: no run measured anything; {} not written",
                path.display()
            ),
        }
    }
    print(&setup, args.json, &points, &scaling, &records)?;
    Ok(if setup.options.cancel.is_cancelled() {
        ExitCode::from(130)
    } else if records.iter().all(|r| r.success) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs the sweep on a blocking thread, stepping a progress bar (and printing each run's JSON
/// line with `json`); Ctrl-C cancels the run in progress and the rest.
fn sweep_with_progress(sweeper: Arc<Sweeper>, setup: Arc<Setup>, json: bool) -> io::Result<Swept> {
    let w = &setup.config.workload;
    let runs = setup.specs.len() * w.repeats as usize + usize::from(w.warmup);
    let progress = ProgressBar::new(runs as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} runs  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let bar = progress.clone();
    let step = move |record: &RunRecord| {
        if json {
            // The bar steps aside so that the line starts a line of its own.
            bar.suspend(|| report::json_line(&mut io::stdout().lock(), record))
                .unwrap_or_else(|e| tracing::debug!("stdout: {e}"));
        }
        bar.inc(1);
        let spec = &record.spec;
        bar.set_message(format!(
            "{} {} workers={}",
            spec.backend, spec.sync, spec.workers
        ));
    };
    let cancel = setup.options.cancel.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let swept = runtime.block_on(async move {
        let sweep =
            tokio::task::spawn_blocking(move || sweeper.sweep(&setup, &setup.options.cancel, step));
        tokio::pin!(sweep);
        tokio::select! {
            swept = &mut sweep => swept,
            _ = tokio::signal::ctrl_c() => {
                cancel.cancel();
                sweep.await
            }
        }
    });
    progress.finish_and_clear();
    swept.map_err(|_| io::Error::other("the sweep ended in a panic"))
}

/// Prints the sweep's summaries and fits: JSON lines, or the table with its header line.
fn print(
    setup: &Setup,
    json: bool,
    points: &[Point],
    scaling: &[Scaling],
    records: &[RunRecord],
) -> io::Result<()> {
    let mut out = io::stdout().lock();
    if json {
        points
            .iter()
            .try_for_each(|p| report::point_json_line(&mut out, p))?;
        scaling
            .iter()
            .try_for_each(|s| report::scaling_json_line(&mut out, s))?;
    } else {
        let w = &setup.config.workload;
        writeln!(
            out,
            "{} lines{}, {} runs of each combination; ± is the half-width of the median's \
             confidence interval; disorder with sync=none is the expected race",
            w.lines,
            if w.reread { ", re-read per task" } else { "" },
            w.repeats
        )?;
        report::table(&mut out, points, records)?;
        scaling
            .iter()
            .try_for_each(|s| writeln!(out, "{}", report::scaling_line(s)))?;
    }
    drop(out);
    match io::stdout().flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}
