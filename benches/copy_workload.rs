//! Times the faithful copy workload (1 worker, 10,000 lines, full re-read per task) side by
//! side with a Python reference written the way the original experiment was
//! (`bench/reference.py`) and with two floors that read and write the same bytes with no
//! per-task bookkeeping (no task queue, no thread count or CPU lookup, no line search):
//! - "floor, same file ops" makes the task's own file operations: open, read and close the
//!   input; open the output for append, the same four writes, close;
//! - "floor, bytes only" reads the input and writes the task's bytes with one write to an
//!   output kept open: the least any implementation moves.
//!
//! The floors read into a page-aligned buffer, as the workload does.
//!
//! Rounds are interleaved so that machine noise hits all alike; the report gives medians and
//! ratios.
//!
//! `cargo bench --bench copy_workload` (COPYBENCH_BENCH_ROUNDS, default 5;
//! COPYBENCH_BENCH_LINES, default 10000).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use copybench_exporter::config::Analysis;
use copybench_exporter::record;
use copybench_exporter::workload::aligned::AlignedBuf;
use copybench_exporter::workload::{Backend, RunOptions, Spec, SyncMode};
use tokio_util::sync::CancellationToken;

fn main() {
    let rounds = env_number("COPYBENCH_BENCH_ROUNDS", 5);
    let lines = env_number("COPYBENCH_BENCH_LINES", 10_000);
    let workdir = tempfile::tempdir().expect("temporary directory");
    let options = RunOptions {
        workdir: workdir.path().to_owned(),
        worker_exe: env!("CARGO_BIN_EXE_copybench_exporter").into(),
        timeout: Duration::from_secs(600),
        cancel: CancellationToken::new(),
        keep_output: None,
    };
    let spec = |backend| Spec {
        backend,
        sync: SyncMode::None,
        workers: 1,
        lines,
        reread: true,
    };

    let names = [
        "python reference",
        "copybench process",
        "copybench thread",
        "floor, same file ops",
        "floor, bytes only",
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for round in 1..=rounds {
        samples[0].push(python_reference(lines));
        for (i, backend) in [(1, Backend::Process), (2, Backend::Thread)] {
            let record = record::measure(&spec(backend), &options, &Analysis::default());
            let m = record
                .measurement
                .filter(|_| record.success)
                .expect("benchmark run failed");
            samples[i].push(m.duration_seconds);
        }
        samples[3].push(floor(workdir.path(), lines, Floor::SameFileOps));
        samples[4].push(floor(workdir.path(), lines, Floor::BytesOnly));
        eprintln!("round {round}/{rounds} done");
    }

    let medians: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
    println!("copy workload, 1 worker, {lines} lines, full re-read, {rounds} interleaved rounds");
    println!(
        "{:<22} {:>9} {:>14} {:>16} {:>16}",
        "", "median s", "python / this", "this / same-ops", "this / bytes"
    );
    for (name, m) in names.iter().zip(&medians) {
        println!(
            "{name:<22} {m:>9.3} {:>13.1}x {:>15.2}x {:>15.2}x",
            medians[0] / m,
            m / medians[3],
            m / medians[4]
        );
    }
}

/// Which floor to time.
#[derive(Clone, Copy, PartialEq)]
enum Floor {
    SameFileOps,
    BytesOnly,
}

/// The workload's bytes with no bookkeeping: each task re-reads the whole input and appends
/// a record of fixed text and its line.
fn floor(dir: &Path, lines: u64, kind: Floor) -> f64 {
    let input = dir.join("floor-input.txt");
    let output = dir.join("floor-output.txt");
    let text: String = (1..=lines).map(|i| format!("line{i}\n")).collect();
    std::fs::write(&input, text).expect("write floor input");
    std::fs::write(&output, "").expect("create floor output");
    let fields: [&[u8]; 3] = [
        b"current pid:1234567\n",
        b"total threads:1\n",
        b"CPU number:0\n",
    ];
    let record = fields.concat();
    let mut kept = OpenOptions::new()
        .append(true)
        .open(&output)
        .expect("floor output");
    // Page-aligned, as the workload's own input buffer is.
    let mut buf = AlignedBuf::default();
    let mut chunk = Vec::new();
    let start = Instant::now();
    for i in 1..=lines {
        File::open(&input)
            .and_then(|mut f| buf.read_file(&mut f))
            .expect("floor read");
        chunk.clear();
        match kind {
            Floor::SameFileOps => {
                let mut out = OpenOptions::new()
                    .append(true)
                    .open(&output)
                    .expect("floor output");
                for field in fields {
                    out.write_all(field).expect("floor write");
                }
                write!(chunk, "line{i}\n\n").expect("format");
                out.write_all(&chunk).expect("floor write");
            }
            Floor::BytesOnly => {
                chunk.extend_from_slice(&record);
                write!(chunk, "line{i}\n\n").expect("format");
                kept.write_all(&chunk).expect("floor write");
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    std::hint::black_box(&buf[..]);
    seconds
}

fn python_reference(lines: u64) -> f64 {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/reference.py");
    let output = Command::new("python3")
        .args([script, "--workers", "1", "--lines", &lines.to_string()])
        .output()
        .expect("python3 must be installed (with psutil: pip install psutil)");
    assert!(
        output.status.success(),
        "bench/reference.py failed (is psutil installed? pip install psutil): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("reference JSON");
    result["seconds"]
        .as_f64()
        .expect("seconds in reference output")
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    if samples.len().is_multiple_of(2) {
        (samples[mid - 1] + samples[mid]) / 2.0
    } else {
        samples[mid]
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
