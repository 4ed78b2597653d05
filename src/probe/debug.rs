//! The `&debug=true` answer of a probe, laid out as blackbox_exporter's: what the run did, the
//! metrics a scrape would have had, and the run's record as kept in the history.

use std::fmt::Write as _;
use std::time::Duration;

use crate::record::RunRecord;

/// The `&debug=true` answer, laid out as blackbox_exporter's: what the run did, the metrics a
/// scrape would have had, and the run's record as kept in the history.
pub fn debug_text(record: &RunRecord, exposition: &str) -> String {
    let time = |t: f64| {
        Duration::try_from_secs_f64(t).map_or_else(
            |_| "-".to_owned(),
            |d| humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + d).to_string(),
        )
    };
    let s = &record.spec;
    let mut text = format!(
        "Logs for the probe:\n{} Beginning probe backend={} sync={} workers={} lines={} reread={}\n",
        time(record.started_at),
        s.backend,
        s.sync,
        s.workers,
        s.lines,
        s.reread
    );
    if let Some(m) = &record.measurement {
        let o = &m.output;
        let _ = writeln!(
            text,
            "{} Run completed in {:.4} s ({:.0} lines/s): disorder={} duplicates={} missing={} \
             torn_records={} pids={} threads={}-{} cpus_used={} cpu_migrations={}",
            time(record.finished_at),
            m.duration_seconds,
            m.lines_per_second,
            o.disorder,
            o.duplicates,
            o.missing,
            o.torn_records,
            o.pids,
            o.threads_min,
            o.threads_max,
            o.cpus_used,
            m.cpu_migrations
        );
    }
    if record.throttled || record.disturbed {
        let _ = writeln!(
            text,
            "{} Host disturbed the run: throttled {:.3} s, steal {:.3} s",
            time(record.finished_at),
            record.host.throttled_seconds.unwrap_or(0.0),
            record.host.steal_seconds.unwrap_or(0.0)
        );
    }
    let _ = match &record.failure {
        Some(f) => writeln!(
            text,
            "{} Probe failed ({}): {}",
            time(record.finished_at),
            f.reason,
            f.message
        ),
        None => writeln!(text, "{} Probe succeeded", time(record.finished_at)),
    };
    let json = serde_json::to_string_pretty(record).unwrap_or_default();
    let _ = write!(
        text,
        "\n\nMetrics that would have been returned:\n{exposition}\n\nRun record:\n{json}\n"
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_text_tells_the_run_and_holds_the_metrics() {
        let run = crate::record::fixtures::measured(2, 1.8e9);
        let text = debug_text(&run, "copybench_probe_success 1\n");
        for needle in [
            "Logs for the probe:\n2027-01-15T07:59:59.750Z Beginning probe backend=thread sync=lock workers=2",
            "Run completed in 0.2500 s (40 lines/s): disorder=1",
            "Probe succeeded",
            "Metrics that would have been returned:\ncopybench_probe_success 1",
            "\"duration_seconds\": 0.25",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
        let failed = RunRecord::failed(
            &run.spec,
            1.8e9,
            crate::record::FailureReason::Io,
            "disk full".into(),
        );
        assert!(debug_text(&failed, "").contains("Probe failed (io): disk full"));
    }
}
