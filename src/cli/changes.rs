//! `changes`: the change points of a CSV series, of every combination of a run history, or of
//! every series of a range query of a Prometheus-compatible API, as the daemon finds them; with
//! `--replay`, the alerts a node's detectors raise over a history, sweep by sweep. A history's
//! change points and alerts say what changed on the node around them.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::flags::{ChangesArgs, Cli};
use super::range_query::{Limits, RangeQuery, RangeQueryError};
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
    /// The range query of `--prometheus`.
    #[error(transparent)]
    Prometheus(#[from] RangeQueryError),
    /// The configuration `--replay` takes its settings from.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// Writing the answer.
    #[error(transparent)]
    Output(#[from] io::Error),
}

/// One series and its time axis, as `changes` reads it.
struct Series {
    subject: Subject,
    times: Vec<String>,
    values: Vec<f64>,
}

/// Whose series it is.
enum Subject {
    /// The CSV file's.
    Csv,
    /// A run history's combination's.
    Combination(Spec),
    /// A range query's label set's.
    Labels(BTreeMap<String, String>),
}

/// Runs `changes`: prints the change points of the series, one line each.
pub fn command(cli: &Cli, args: &ChangesArgs) -> Result<ExitCode, ChangesError> {
    let settings = detectors(args)?;
    if let (true, Some(path)) = (args.replay, &args.db) {
        let config = config::Config::load(cli.config_file.as_deref(), &cli.overrides())?;
        return replay(path, config.analysis.watch(), args.json);
    }
    let history = args.db.as_deref().map(open).transpose()?;
    let mut all = Vec::new();
    if let Some(path) = &args.csv {
        all.push(csv_series(path)?);
    }
    if let (Some(url), Some(query)) = (&args.prometheus, &args.query) {
        all.extend(prometheus_series(url, query, args)?);
    }
    if let Some(results) = &history {
        all.extend(history_series(results)?);
    }
    let mut out = io::stdout().lock();
    for series in &all {
        for change in changes::changes(&series.values, &settings) {
            print(&mut out, series, &change, history.as_ref(), args.json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The detectors' settings from the flags, each held to its range.
fn detectors(args: &ChangesArgs) -> Result<changes::Settings, ChangesError> {
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
    Ok(Analysis {
        window: usize::try_from(args.window).unwrap_or(usize::MAX),
        max_pvalue: args.max_pvalue,
        min_magnitude: args.min_magnitude,
        ..Analysis::default()
    }
    .detectors())
}

/// The series of a CSV file: its `value` column, with its `time` column or row numbers.
fn csv_series(path: &Path) -> Result<Series, ChangesError> {
    let table = Table::read(path)?;
    let values = table.numbers("value")?;
    let times = table
        .text("time")
        .unwrap_or_else(|| (0..values.len()).map(|i| i.to_string()).collect());
    Ok(Series {
        subject: Subject::Csv,
        times,
        values,
    })
}

/// Every series of `query`'s range query at `url`, within the flags' range and limits.
fn prometheus_series(
    url: &str,
    query: &str,
    args: &ChangesArgs,
) -> Result<Vec<Series>, ChangesError> {
    let range = RangeQuery::new(url, query, args.since, args.until, args.step)?;
    let limits = Limits {
        series: usize::try_from(args.max_series).unwrap_or(usize::MAX),
        points: usize::try_from(args.max_points).unwrap_or(usize::MAX),
    };
    Ok(range
        .fetch(limits)?
        .into_iter()
        .map(|s| Series {
            subject: Subject::Labels(s.labels),
            times: s.times.iter().map(f64::to_string).collect(),
            values: s.values,
        })
        .collect())
}

/// Every combination's per-sweep medians in a run history.
fn history_series(results: &Results) -> Result<Vec<Series>, ChangesError> {
    let mut all = Vec::new();
    for spec in results.specs()? {
        let points = results.series(&spec, MAX_SERIES)?;
        all.push(Series {
            subject: Subject::Combination(spec),
            times: points.iter().map(|p| p.time.to_string()).collect(),
            values: points.iter().map(|p| p.median_seconds).collect(),
        });
    }
    Ok(all)
}

/// Writes `change` of `series` as a line or (`json`) an object; a history's change points say
/// what changed on the node around them, a range query's carry their labels.
fn print(
    out: &mut impl Write,
    series: &Series,
    change: &changes::Change,
    history: Option<&Results>,
    json: bool,
) -> Result<(), ChangesError> {
    let time = series.times.get(change.index).map_or("", String::as_str);
    let (spec, labels) = match &series.subject {
        Subject::Combination(spec) => (Some(spec), None),
        Subject::Labels(labels) => (None, Some(labels)),
        Subject::Csv => (None, None),
    };
    let causes = match (history, spec, time.parse::<f64>()) {
        (Some(results), Some(_), Ok(onset)) => Some(results.causes(onset, change.ratio > 1.0)?),
        _ => None,
    };
    if json {
        let mut line = report::change_json(change, time, spec, causes.as_deref());
        if let Some(labels) = labels {
            line["labels"] = serde_json::to_value(labels).unwrap_or_default();
        }
        writeln!(out, "{line}")?;
    } else {
        let line = report::change_line(change, time, spec, causes.as_deref());
        match labels {
            Some(labels) => writeln!(out, "{}  {line}", label_set(labels))?,
            None => writeln!(out, "{line}")?,
        }
    }
    Ok(())
}

/// `changes --db FILE --replay`: the alerts a node's detectors with `settings` raise over the
/// history, and (in text) what they can see at its end.
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
    if !json {
        for line in report::watch_lines(&replayed.state()) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A label set as PromQL writes it: `name{label="value", ...}`, values escaped as PromQL
/// strings.
fn label_set(labels: &BTreeMap<String, String>) -> String {
    let name = labels.get("__name__").map_or("", String::as_str);
    let pairs: Vec<String> = labels
        .iter()
        .filter(|(key, _)| *key != "__name__")
        .map(|(key, value)| {
            let value = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{key}=\"{value}\"")
        })
        .collect();
    format!("{name}{{{}}}", pairs.join(", "))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_set_reads_as_promql() {
        let labels: BTreeMap<String, String> = [
            ("__name__", "copybench_point_median_seconds"),
            ("instance", "node-7:10720"),
            ("note", "a \"quoted\" \\ value\non two lines"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(
            label_set(&labels),
            r#"copybench_point_median_seconds{instance="node-7:10720", note="a \"quoted\" \\ value\non two lines"}"#
        );
    }
}
