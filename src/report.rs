//! Shows runs to people and programs: one row formatter serves the `run` command's aligned
//! table and the landing page's HTML table; JSON lines serve `run --json`.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::results::{self, SeriesState};
use crate::run::RunRecord;
use crate::workload::Spec;

/// Column headings of a table of runs.
pub const HEADER: [&str; 14] = [
    "backend", "sync", "workers", "seconds", "lines/s", "speedup", "disorder", "dups", "missing",
    "torn", "cpus", "threads", "pids", "status",
];

/// Writes `record` as one line of JSON.
pub fn json_line(out: &mut impl Write, record: &RunRecord) -> io::Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    writeln!(out)
}

/// The cells of one row for `spec`: its `record` if it has run (with its speedup against the
/// 1-worker run among `among`), else dashes and `status`.
pub fn row(spec: &Spec, record: Option<&RunRecord>, among: &[RunRecord]) -> Vec<String> {
    let mut cells = vec![
        spec.backend.to_string(),
        spec.sync.to_string(),
        spec.workers.to_string(),
    ];
    let measured = record.and_then(|r| r.measurement.as_ref().map(|m| (r, m)));
    match measured {
        Some((r, m)) => {
            let o = &m.output;
            cells.extend([
                format!("{:.3}", m.duration_seconds),
                format!("{:.0}", m.lines_per_second),
                results::speedup(r, among).map_or_else(|| "-".to_owned(), |s| format!("{s:.2}x")),
                o.disorder.to_string(),
                o.duplicates.to_string(),
                o.missing.to_string(),
                o.torn_records.to_string(),
                o.cpus_used.to_string(),
                format!("{}-{}", o.threads_min, o.threads_max),
                o.pids.to_string(),
            ]);
        }
        None => cells.extend(std::iter::repeat_n("-".to_owned(), 10)),
    }
    cells.push(match record {
        None => "not run yet".to_owned(),
        Some(RunRecord { failure: None, .. }) => "ok".to_owned(),
        Some(RunRecord {
            failure: Some(f), ..
        }) => format!("FAILED ({}): {}", f.reason, f.message),
    });
    cells
}

/// Writes `records` (one sweep) as an aligned table with a header, speedups included.
pub fn table(out: &mut impl Write, records: &[RunRecord]) -> io::Result<()> {
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| row(&r.spec, Some(r), records))
        .collect();
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([HEADER[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut line = |cells: &[String]| -> io::Result<()> {
        let last = cells.len() - 1;
        for (c, cell) in cells.iter().enumerate() {
            if c == last {
                writeln!(out, "{cell}")?;
            } else if c < 2 {
                write!(out, "{cell:<w$}  ", w = widths[c])?;
            } else {
                write!(out, "{cell:>w$}  ", w = widths[c])?;
            }
        }
        Ok(())
    };
    line(&HEADER.map(str::to_owned))?;
    rows.iter().try_for_each(|r| line(r))
}

/// The landing page: links, and the latest run of every configured spec.
pub fn landing_page(series: &[SeriesState]) -> String {
    let latest: Vec<RunRecord> = series.iter().filter_map(|s| s.latest.clone()).collect();
    let mut rows = String::new();
    for state in series {
        rows.push_str("<tr>");
        for cell in row(&state.spec, state.latest.as_ref(), &latest) {
            let _ = write!(rows, "<td>{}</td>", escape(&cell));
        }
        rows.push_str("</tr>");
    }
    let header: String = HEADER.iter().map(|h| format!("<th>{h}</th>")).collect();
    format!(
        "<!DOCTYPE html><html><head><title>copybench_exporter</title></head><body>\
         <h1>copybench_exporter</h1><p>version {}</p><ul>\
         <li><a href=\"metrics\">Metrics</a></li><li><a href=\"api/v1/runs\">Recent runs (JSON)</a></li>\
         <li><a href=\"probe?backend=thread&amp;sync=none&amp;workers=2&amp;lines=1000\">Probe example</a></li>\
         <li><a href=\"-/healthy\">Health</a></li><li><a href=\"-/ready\">Readiness</a></li></ul>\
         <h2>Latest runs</h2><table border=1><tr>{header}</tr>{rows}</table></body></html>\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// `text` with the characters HTML gives meaning to replaced by entities.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Tally;
    use crate::run::fixtures::measured;

    fn record(workers: u32, seconds: f64) -> RunRecord {
        let mut record = measured(workers, 5.0);
        record
            .measurement
            .as_mut()
            .expect("measured")
            .duration_seconds = seconds;
        record
    }

    #[test]
    fn the_table_and_the_page_show_the_same_cells() {
        let runs = vec![record(1, 2.0), record(2, 1.0)];
        let mut text = Vec::new();
        table(&mut text, &runs).expect("table");
        let text = String::from_utf8(text).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("backend") && lines[0].ends_with("status"));
        assert!(
            lines[2].contains("2.00x") && lines[2].contains("3-4"),
            "{text}"
        );

        let mut failed = RunRecord::failed(
            &Spec {
                workers: 3,
                ..runs[0].spec
            },
            1.0,
            crate::run::FailureReason::Io,
            "disk <full>".to_owned(),
        );
        failed.finished_at = 2.0;
        let series = |spec: Spec, latest: Option<RunRecord>| SeriesState {
            spec,
            latest,
            last_success_at: None,
            tally: Tally::default(),
        };
        let unrun = Spec {
            workers: 4,
            ..runs[0].spec
        };
        let page = landing_page(&[
            series(runs[1].spec, Some(runs[1].clone())),
            series(failed.spec, Some(failed)),
            series(unrun, None),
            series(runs[0].spec, Some(runs[0].clone())),
        ]);
        assert!(page.contains("<td>2.00x</td>"), "{page}");
        assert!(page.contains("FAILED (io): disk &lt;full&gt;"), "{page}");
        assert!(page.contains("<td>4</td><td>-</td>") && page.contains("not run yet"));
    }
}
