//! `changes`: the change points of a CSV series or of every combination of a run history, as
//! the daemon finds them; with `--replay`, the alerts a node's detectors raise over a history,
//! sweep by sweep. A history's change points and alerts say what changed on the node around
//! them.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::flags::{ChangesArgs, Cli};
use super::table::Table;
use crate::analysis::{changes, watch};
use crate::config::{self, Analysis};
use crate::render::report;
use crate::results::{Results, StoreError, alerts};
use crate::workload::Spec;

/// Why `changes` could not read its data.
#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    /// The CSV series.
    #[error(transparent)]
    Table(#[from] super::table::TableError),
    /// The run history.
    #[error(transparent)]
    History(#[from] StoreError),
    /// The run history file does not exist.
    #[error("{0}: no such run history")]
    NoHistory(PathBuf),
    /// A setting is out of its range.
    #[error("{0}")]
    Setting(String),
    /// The configuration `--replay` takes its settings from.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// Writing the answer.
    #[error(transparent)]
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
pub fn command(cli: &Cli, args: &ChangesArgs) -> Result<ExitCode, ChangesError> {
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
    if let (true, Some(path)) = (args.replay, &args.db) {
        let config = config::Config::load(cli.config_file.as_deref(), &cli.overrides())?;
        return replay(path, config.analysis.watch(), args.json);
    }
    let mut all = Vec::new();
    let history = args.db.as_deref().map(open).transpose()?;
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
    if let Some(results) = &history {
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
            // A history's change points say what changed on the node around them.
            let causes = match (&history, series.spec, time.parse::<f64>()) {
                (Some(results), Some(_), Ok(onset)) => {
                    Some(results.causes(onset, change.ratio > 1.0)?)
                }
                _ => None,
            };
            let spec = series.spec.as_ref();
            if args.json {
                let line = report::change_json(&change, time, spec, causes.as_deref());
                writeln!(out, "{line}")?;
            } else {
                let line = report::change_line(&change, time, spec, causes.as_deref());
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `changes --db FILE --replay`: the alerts a node's detectors with `settings` raise over the
/// history.
fn replay(path: &Path, settings: watch::Settings, json: bool) -> Result<ExitCode, ChangesError> {
    let results = open(path)?;
    let replayed = alerts::replay(&results, settings, MAX_REPLAY_RUNS)?;
    let mut out = io::stdout().lock();
    for span in &results.with_causes(replayed.spans().to_vec()) {
        if json {
            writeln!(out, "{}", report::alert_json(span))?;
        } else {
            writeln!(out, "{}", report::alert_line(span))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The run history at `path`, for reading.
fn open(path: &Path) -> Result<Results, ChangesError> {
    if !path.is_file() {
        return Err(ChangesError::NoHistory(path.to_owned()));
    }
    Ok(Results::read_only(path)?)
}

/// The most runs `changes --db --replay` reads (the newest).
const MAX_REPLAY_RUNS: usize = 5_000_000;

/// The most sweeps of one series `changes --db` reads.
const MAX_SERIES: usize = 10_000;
