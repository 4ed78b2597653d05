//! A soak run: the daemon sweeps a small workload back to back while one client scrapes
//! `/metrics` and another sends probes, until at least COPYBENCH_SOAK_SWEEPS sweeps (default
//! 100), 10,000 scrapes and 1,000 probes are done. Reports failed scrapes, scrape latency, and
//! the daemon's descriptors and resident memory at the start, every tenth of the way and at
//! the end (the goal: flat). The history is a file, as in production, so that the runs kept
//! are not counted as memory.
//!
//! `cargo bench --bench soak`

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::{fds, rss_kib, sample, start};

const CONFIG: &str = r#"
[schedule]
interval = "1s"
jitter = "0s"
max_duty_cycle = 1.0
[workload]
backends = ["process", "thread"]
sync = ["none"]
workers = [1, 2]
lines = 200
repeats = 1
warmup = false
[probe]
min_interval = "0s"
[state]
dir = "STATE"
"#;

const MIN_SCRAPES: usize = 10_000;
const MIN_PROBES: usize = 1_000;

fn main() {
    let sweeps: u64 = std::env::var("COPYBENCH_SOAK_SWEEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let config = CONFIG.replace("STATE", &state.display().to_string());
    let daemon = start(dir.path(), "soak", &config);
    let mut samples = Vec::new();
    let base = format!("http://{}", daemon.address);
    // Every wait ends: a sweep here takes well under a second.
    let deadline = Instant::now() + Duration::from_secs(60 + 10 * sweeps);
    let in_time = move || Instant::now() < deadline;
    while sweeps_done(&base) < 1 {
        assert!(in_time(), "no first sweep");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (fds_start, rss_start) = (fds(daemon.id()), rss_kib(daemon.id()));
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));

    let scraper = {
        let (base, stop) = (base.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let agent = agent();
            let (mut latencies, mut failed) = (Vec::new(), 0usize);
            while in_time() && (!stop.load(Ordering::Relaxed) || latencies.len() < MIN_SCRAPES) {
                let t = Instant::now();
                let scraped = agent
                    .get(format!("{base}/metrics"))
                    .call()
                    .ok()
                    .filter(|r| r.status() == 200)
                    .and_then(|mut r| r.body_mut().read_to_string().ok());
                match scraped {
                    Some(_) => latencies.push(t.elapsed().as_secs_f64() * 1e3),
                    None => failed += 1,
                }
            }
            (latencies, failed)
        })
    };
    let prober = {
        let (base, stop) = (base.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let agent = agent();
            let (mut ok, mut busy, mut failed) = (0usize, 0usize, 0usize);
            while in_time() && (!stop.load(Ordering::Relaxed) || ok < MIN_PROBES) {
                match agent.get(format!("{base}/probe?lines=100")).call() {
                    Ok(mut r) if r.status() == 200 => {
                        let body = r.body_mut().read_to_string().unwrap_or_default();
                        if sample(&body, "copybench_probe_success") == Some(1.0) {
                            ok += 1;
                        } else {
                            failed += 1;
                        }
                    }
                    Ok(r) if r.status() == 503 => {
                        busy += 1;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    _ => failed += 1,
                }
            }
            (ok, busy, failed)
        })
    };
    let first = sweeps_done(&base);
    let mut next_sample = first;
    loop {
        let done = sweeps_done(&base);
        if done >= next_sample {
            samples.push((done - first, fds(daemon.id()), rss_kib(daemon.id())));
            next_sample += sweeps.div_ceil(10);
        }
        if done >= first + sweeps {
            break;
        }
        assert!(in_time(), "{} of {sweeps} sweeps in time", done - first);
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    let (mut latencies, failed_scrapes) = scraper.join().expect("scraper");
    let (probes, busy, failed_probes) = prober.join().expect("prober");
    let wall = started.elapsed().as_secs_f64();
    let done = sweeps_done(&base) - first;
    // The closing measurement between two runs, as the opening one (after a sweep).
    let idle = Instant::now();
    while sample(&scrape(&base), "copybench_run_in_progress") != Some(0.0) {
        if idle.elapsed() > Duration::from_secs(60) {
            let log = std::fs::read_to_string(dir.path().join("soak.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(20)..].join("\n");
            panic!("no pause between runs in 60 s; the log ends:\n{tail}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (fds_end, rss_end) = (fds(daemon.id()), rss_kib(daemon.id()));
    drop(daemon);

    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "soak: {done} sweeps, {} scrapes, {probes} probes in {wall:.0} s",
        latencies.len()
    );
    println!(
        "  failed scrapes {failed_scrapes}; scrape p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    );
    println!("  probes: {probes} succeeded, {failed_probes} failed, {busy} answered busy (503)");
    println!(
        "  descriptors {fds_start} -> {fds_end}; resident memory {:.1} -> {:.1} MiB",
        rss_start as f64 / 1024.0,
        rss_end as f64 / 1024.0
    );
    let series: Vec<String> = samples
        .iter()
        .map(|(n, f, r)| format!("{n}: {f} fds {:.1} MiB", *r as f64 / 1024.0))
        .collect();
    println!("  by sweep: {}", series.join(", "));
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn scrape(base: &str) -> String {
    agent()
        .get(format!("{base}/metrics"))
        .call()
        .expect("scrape")
        .body_mut()
        .read_to_string()
        .expect("body")
}

fn sweeps_done(base: &str) -> u64 {
    sample(&scrape(base), "copybench_sweeps_total").map_or(0, |n| n as u64)
}
