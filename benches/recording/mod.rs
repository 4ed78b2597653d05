//! What the benchmarks that read recorded noise share: a recording's caused events, and how
//! much a series varies from one sweep to the next.

use std::path::Path;

use copybench_exporter::analysis::stats::mad;

/// How much a series varies from one sweep to the next, from its `steps` (each value less
/// the one before): 1.4826 times their median absolute deviation over the square root of 2,
/// robust to outliers and blind to slow drift.
pub fn step_spread(steps: &[f64]) -> Option<f64> {
    Some(1.4826 * mad(steps)? / 2f64.sqrt())
}

/// Each caused event's (start, end, kind) in an `events.csv` (`bench/record-cadence.sh`: a
/// time and what happened, e.g. `neighbour: one busy loop started`, `quota: removed`): from
/// a line that started or set one to the next line of the same kind. Times as the file has
/// them (seconds since the recording's start in a fixture, Unix seconds in a recording).
pub fn caused(path: &Path) -> Vec<(f64, f64, String)> {
    let mut starts = std::collections::BTreeMap::new();
    let mut events = Vec::new();
    let mut reader = csv::Reader::from_path(path).expect("events.csv");
    for row in reader.records().map(|r| r.expect("event")) {
        let (t, what): (f64, &str) = (row[0].parse().expect("t"), &row[1]);
        let kind = what.split(':').next().unwrap_or_default().to_owned();
        if what.contains("started") || what.contains(" set ") {
            starts.insert(kind, t);
        } else if let Some(start) = starts.remove(&kind) {
            events.push((start, t, kind));
        }
    }
    events
}
