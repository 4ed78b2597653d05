//! What the alignment of a buffer costs the workload's file I/O: the task's input re-read (the
//! whole 10,000-line input, 89 KB, into a buffer) and its appends (the record and the line,
//! from a buffer), each with the buffer's first byte at 0, 8, 16, 24, 32 and 64 bytes past a
//! page boundary, plus the buffers the workload uses (`AlignedBuf::default()`, page-aligned)
//! and a plain `Vec<u8>` wherever the allocator puts it.
//!
//! Rounds are interleaved so that machine noise hits all alike; the report gives medians.
//!
//! `cargo bench --bench alignment` (COPYBENCH_BENCH_ROUNDS, default 7; COPYBENCH_BENCH_LINES,
//! default 10000; COPYBENCH_BENCH_OPS per sample, default 2000).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::time::Instant;

use copybench_exporter::workload::aligned::{AlignedBuf, PAGE};

const OFFSETS: [usize; 6] = [0, 8, 16, 24, 32, 64];

fn main() {
    let rounds = env_number("COPYBENCH_BENCH_ROUNDS", 7);
    let lines = env_number("COPYBENCH_BENCH_LINES", 10_000);
    let ops = env_number("COPYBENCH_BENCH_OPS", 2000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let input = dir.path().join("input");
    let text: String = (1..=lines).map(|i| format!("line{i}\n")).collect();
    std::fs::write(&input, &text).expect("write input");
    let output = dir.path().join("output");
    // One task's appends: the record's three fields and the line with its blank line.
    let record = b"current pid:1234567\ntotal threads:1\nCPU number:0\nline5000\n\n";

    // Offsets, then the workload's own buffer, then a plain Vec.
    let rows = OFFSETS.len() + 2;
    let mut reads = vec![Vec::new(); rows];
    let mut writes = vec![Vec::new(); rows];
    for round in 1..=rounds {
        for (row, offset) in OFFSETS.iter().enumerate() {
            let mut buf = AlignedBuf::with_offset(*offset);
            reads[row].push(time_reads(&input, ops, |f| buf.read_file(f)));
            buf.set(record);
            writes[row].push(time_writes(&output, ops, &buf));
        }
        // The workload's buffers, after some allocations that move the allocator along.
        let _noise: Vec<Vec<u8>> = (1..40u64)
            .map(|n| vec![0u8; (n * 24 + round) as usize])
            .collect();
        let mut own = AlignedBuf::default();
        reads[OFFSETS.len()].push(time_reads(&input, ops, |f| own.read_file(f)));
        own.set(record);
        writes[OFFSETS.len()].push(time_writes(&output, ops, &own));
        let mut plain: Vec<u8> = Vec::new();
        reads[rows - 1].push(time_reads(&input, ops, |f| {
            plain.clear();
            f.read_to_end(&mut plain)
        }));
        let plain_record = record.to_vec();
        writes[rows - 1].push(time_writes(&output, ops, &plain_record));
        eprintln!("round {round}/{rounds} done");
    }

    let kib = text.len() as f64 / 1024.0;
    println!(
        "buffer alignment, {ops} operations per sample, medians of {rounds} interleaved rounds"
    );
    println!(
        "{:<34} {:>16} {:>18}",
        "",
        format!("re-read {kib:.0} KiB"),
        "append 60 bytes"
    );
    let fastest_read = reads.iter_mut().map(|s| median(s)).fold(f64::MAX, f64::min);
    let fastest_write = writes
        .iter_mut()
        .map(|s| median(s))
        .fold(f64::MAX, f64::min);
    for row in 0..rows {
        let name = match row {
            r if r < OFFSETS.len() => format!("page + {} bytes", OFFSETS[r]),
            r if r == OFFSETS.len() => "AlignedBuf::default() (workload)".to_owned(),
            _ => "Vec<u8> (allocator's choice)".to_owned(),
        };
        let read = median(&mut reads[row]);
        let write = median(&mut writes[row]);
        println!(
            "{name:<34} {:>8.1} us {:>5.2}x {:>10.2} us {:>5.2}x",
            read * 1e6,
            read / fastest_read,
            write * 1e6,
            write / fastest_write
        );
    }
    let plain_offset = {
        let v = vec![0u8; 64 * 1024];
        v.as_ptr() as usize % PAGE
    };
    println!("(a 64 KiB Vec<u8> started {plain_offset} bytes past a page boundary this time)");
}

/// Seconds per open, read of the whole file and close.
fn time_reads(
    path: &std::path::Path,
    ops: u64,
    mut read: impl FnMut(&mut File) -> std::io::Result<usize>,
) -> f64 {
    let start = Instant::now();
    for _ in 0..ops {
        let mut file = File::open(path).expect("open input");
        let n = read(&mut file).expect("read input");
        std::hint::black_box(n);
    }
    start.elapsed().as_secs_f64() / ops as f64
}

/// Seconds per append of `bytes` to a file kept open.
fn time_writes(path: &std::path::Path, ops: u64, bytes: &[u8]) -> f64 {
    let mut out = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
        .expect("open output");
    let start = Instant::now();
    for _ in 0..ops {
        out.write_all(bytes).expect("append");
    }
    start.elapsed().as_secs_f64() / ops as f64
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
