//! The run history's costs on a database the size of a long-running daemon's: recording one
//! run (one SQLite transaction, as the daemon commits each run), reading a 10,000-run series
//! back, the snapshot the metrics are rendered from after every run, the change-point
//! detection after every sweep, and the disk used.
//!
//! `cargo bench --bench history` (COPYBENCH_BENCH_RUNS runs per series, default 10000; 18
//! series: both backends, the three sync modes, 1 to 3 workers).

use std::time::{Duration, Instant};

use copybench_exporter::config::{Analysis, Workers, Workload};
use copybench_exporter::host::facts::Facts;
use copybench_exporter::record::RunRecord;
use copybench_exporter::results::{Results, RunFilter};
use copybench_exporter::schedule;
use copybench_exporter::workload::{Spec, SyncMode};

/// A successful run of `spec` that ended at `finished_at`, with three CPUs' records.
fn record(spec: &Spec, sweep_id: Option<i64>, finished_at: f64) -> RunRecord {
    let mut record: RunRecord = serde_json::from_value(serde_json::json!({
        "backend": "thread", "sync": "none", "workers": 1, "lines": 10000, "reread": true,
        "started_at": finished_at - 0.3, "finished_at": finished_at,
        "success": true, "duration_seconds": 0.3, "lines_per_second": 33333.3, "disorder": 5012,
        "duplicates": 0, "missing": 0, "torn_records": 17, "pids": 3, "threads_min": 1,
        "threads_max": 1, "cpu_records": {"0": 3400, "1": 3300, "5": 3300}, "cpus_used": 3,
        "cpu_migrations": 41, "voluntary_ctx_switches": 220, "involuntary_ctx_switches": 35
    }))
    .expect("record");
    record.spec = *spec;
    record.sweep_id = sweep_id;
    record
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn percentile(mut samples: Vec<f64>, p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let per_series: usize = std::env::var("COPYBENCH_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let workload = Workload {
        sync: SyncMode::ALL.to_vec(),
        workers: Workers::List(vec![1, 2, 3]),
        ..Workload::default()
    };
    let specs = schedule::combinations(&workload, 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("history.sqlite");
    let retention = Duration::from_secs(90 * 24 * 3600);
    let results = Results::open(Some(&path), retention).expect("open");

    // Sweeps every 5 minutes, newest last, all within the retention period.
    let now = copybench_exporter::record::unix_now();
    let mut record_seconds = Vec::with_capacity(per_series * specs.len());
    for sweep in 0..per_series {
        let finished_at = now - (per_series - sweep) as f64 * 300.0;
        let handle = results.begin_sweep(&Facts::default());
        for (i, spec) in specs.iter().enumerate() {
            let run = record(spec, handle.id, finished_at + i as f64);
            let started = Instant::now();
            results.record(&run);
            record_seconds.push(started.elapsed().as_secs_f64());
        }
        results.finish_sweep(handle, 0.0);
    }
    let total_runs = record_seconds.len();

    let series = RunFilter::series(&specs[0], per_series);
    let mut read_seconds = Vec::new();
    for _ in 0..21 {
        let started = Instant::now();
        let runs = results.runs(&series).expect("read");
        read_seconds.push(started.elapsed().as_secs_f64());
        assert_eq!(runs.len(), per_series);
    }
    let mut snapshot_seconds = Vec::new();
    for _ in 0..21 {
        let started = Instant::now();
        let snapshot = results.snapshot(&specs, 0.1, 1).expect("snapshot");
        snapshot_seconds.push(started.elapsed().as_secs_f64());
        assert!(snapshot.series.iter().all(|s| s.latest.is_some()));
    }
    let analysis = Analysis::default();
    let mut detect_seconds = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        results
            .detect(&specs, &analysis.detectors(), analysis.history)
            .expect("detect");
        detect_seconds.push(started.elapsed().as_secs_f64());
    }
    drop(results);
    let bytes: u64 = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();

    let ms = |s: f64| s * 1e3;
    println!(
        "run history: {} series x {per_series} runs = {total_runs} runs",
        specs.len()
    );
    println!(
        "  record one run:          median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        ms(median(record_seconds.clone())),
        ms(percentile(record_seconds.clone(), 0.99)),
        ms(percentile(record_seconds, 1.0))
    );
    println!(
        "  read a {per_series}-run series: median {:.1} ms, max {:.1} ms (21 reads)",
        ms(median(read_seconds.clone())),
        ms(percentile(read_seconds, 1.0))
    );
    println!(
        "  snapshot of {} specs:    median {:.3} ms (rendered after every run)",
        specs.len(),
        ms(median(snapshot_seconds))
    );
    println!(
        "  change points of {} specs over their last {} sweeps: median {:.1} ms (after every sweep)",
        specs.len(),
        analysis.history,
        ms(median(detect_seconds))
    );
    println!(
        "  database size: {:.1} MiB in all, {:.2} MiB per 10,000 runs",
        bytes as f64 / 1048576.0,
        bytes as f64 / 1048576.0 / total_runs as f64 * 10_000.0
    );
}
