//! Shows a sweep's records to a person (an aligned table) or a program (one JSON object per
//! line), as the `run` command prints them.

use std::io::{self, Write};

use crate::run::RunRecord;
use crate::sweep;

/// Writes `record` as one line of JSON.
pub fn json_line(out: &mut impl Write, record: &RunRecord) -> io::Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    writeln!(out)
}

/// Writes all `records` as a table with a header, speedups against 1 worker included.
pub fn table(out: &mut impl Write, records: &[RunRecord]) -> io::Result<()> {
    let header = [
        "backend", "sync", "workers", "seconds", "lines/s", "speedup", "disorder", "dups",
        "missing", "torn", "cpus", "threads", "pids", "status",
    ];
    let rows: Vec<Vec<String>> = records.iter().map(|r| row(r, records)).collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([header[c].len()])
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
    line(&header.map(str::to_owned))?;
    rows.iter().try_for_each(|r| line(r))
}

fn row(r: &RunRecord, all: &[RunRecord]) -> Vec<String> {
    let status = match &r.failure {
        None => "ok".to_owned(),
        Some(f) => format!("FAILED ({}): {}", f.reason.as_str(), f.message),
    };
    let mut cells = vec![
        r.backend.to_string(),
        r.sync.to_string(),
        r.workers.to_string(),
    ];
    match &r.measurement {
        Some(m) => cells.extend([
            format!("{:.3}", m.duration_seconds),
            format!("{:.0}", m.lines_per_second),
            sweep::speedup(r, all).map_or_else(|| "-".to_owned(), |s| format!("{s:.2}x")),
            m.disorder.to_string(),
            m.duplicates.to_string(),
            m.missing.to_string(),
            m.torn_records.to_string(),
            m.cpus_used.to_string(),
            format!("{}-{}", m.threads_min, m.threads_max),
            m.pids.to_string(),
        ]),
        None => cells.extend(std::iter::repeat_n("-".to_owned(), 10)),
    }
    cells.push(status);
    cells
}
