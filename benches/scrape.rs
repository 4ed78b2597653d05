//! The scrape path: what a scrape costs and how fast it is answered, with 50 concurrent
//! keep-alive clients on loopback (driven by one thread that reads each answer in one
//! buffer and keeps none of it, so that the load generator takes little CPU from the daemon;
//! its CPU per request is reported):
//!
//! - the default configuration after its first sweep: its series, and the bytes of a scrape
//!   plain and in gzip (Prometheus always asks for gzip);
//! - the daemon's CPU time per scrape, plain and gzip, on that daemon between its sweeps;
//! - latency while sweeps of 10,000-line runs keep both CPUs busy (the metrics are rebuilt
//!   from the run history after every run; gzip and plain in alternating blocks), with each
//!   client sending its next request as soon as the last is answered (all within the first
//!   sweep) and with each client scraping every 50 ms (1,000 scrapes a second); and the
//!   first load on an idle daemon; and wrk's closed loop (one thread, 50 connections) during
//!   the sweeps, if it is installed;
//! - the idle daemon's resident memory.
//!
//! `cargo bench --bench scrape` (COPYBENCH_BENCH_REQUESTS per client, default 1000;
//! COPYBENCH_BENCH_BINARY, another build of the daemon to measure instead, e.g. an earlier
//! commit's: `BINARY=1 bench/side-by-side.sh REV scrape`).

mod support;

use support::{rss_kib, sample, start};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::time::{Duration, Instant};

const CLIENTS: usize = 50;
/// Blocks of gzip and of plain scrapes during the sweep, alternating, so that both kinds
/// meet the same phases of it.
const BLOCKS: usize = 5;
/// The paced load: each client one scrape every `PACE` (1,000 a second from the 50), for
/// `PACED` scrapes per block.
const PACE: Duration = Duration::from_millis(50);
const PACED: usize = 40;

/// Sweeps of 18 combinations at 10,000 lines, one after another, that keep both CPUs busy.
const BUSY: &str = r#"
[schedule]
interval = "1s"
jitter = "0s"
max_duty_cycle = 1.0
[workload]
backends = ["process", "thread"]
sync = ["none", "lock", "ordered"]
workers = [1, 2, 3]
lines = 10000
"#;

const IDLE: &str = "[schedule]\nrun_at_start = false\n";

fn main() {
    let requests: usize = std::env::var("COPYBENCH_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().expect("tempdir");

    // The defaults, after their first sweep.
    let defaults = start(dir.path(), "defaults", "");
    let metrics = format!("http://{}/metrics", defaults.address);
    let started = Instant::now();
    while sample(&get(&metrics), "copybench_sweeps_total") < Some(1.0) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no sweep ended"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let plain = get(&metrics);
    let series = plain.lines().filter(|l| !l.starts_with('#')).count();
    let gzip = ureq::get(&metrics)
        .header("accept-encoding", "gzip")
        .call()
        .expect("GET")
        .body_mut()
        .read_to_vec()
        .expect("body")
        .len();
    println!(
        "the default configuration after its first sweep: {series} series; a scrape {} bytes plain, {gzip} in gzip ({:.1} %)",
        plain.len(),
        gzip as f64 * 100.0 / plain.len() as f64
    );
    let cpu = |gzip: bool| {
        let before = cpu_seconds(defaults.id());
        let n = load(&defaults.address, requests, gzip, None).len();
        (cpu_seconds(defaults.id()) - before) / n as f64 * 1e6
    };
    let (cpu_plain, cpu_gzip) = (cpu(false), cpu(true));
    println!(
        "  the daemon's CPU per scrape ({CLIENTS} clients x {requests} requests, between sweeps): plain {cpu_plain:.0} us, gzip {cpu_gzip:.0} us"
    );
    drop(defaults);

    let idle = start(dir.path(), "idle", IDLE);
    get(&format!("http://{}/metrics", idle.address));
    std::thread::sleep(Duration::from_secs(1));
    let idle_rss = rss_kib(idle.id());
    let quiet = sorted(load(&idle.address, requests, true, None));
    drop(idle);

    let busy = start(dir.path(), "busy", BUSY);
    let metrics = format!("http://{}/metrics", busy.address);
    let started = Instant::now();
    let value = |name| sample(&get(&metrics), name);
    while value("copybench_run_in_progress") != Some(1.0) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no sweep started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let load_start = Instant::now();
    let (mut compressed, mut plain) = (Load::default(), Load::default());
    for _ in 0..BLOCKS {
        compressed.add(&busy.address, requests / BLOCKS, true, None);
        plain.add(&busy.address, requests / BLOCKS, false, None);
    }
    let wall = load_start.elapsed().as_secs_f64();
    let in_progress = value("copybench_sweeps_total") == Some(0.0);
    // Runs ended so far, over every combination.
    let runs = || -> f64 {
        (get(&metrics).lines())
            .filter_map(|l| l.strip_prefix("copybench_runs_total{")?.rsplit_once(' '))
            .filter_map(|(_, v)| v.parse::<f64>().ok())
            .sum()
    };
    let (paced_start, runs_before) = (Instant::now(), runs());
    let (mut paced_compressed, mut paced_plain) = (Load::default(), Load::default());
    for _ in 0..BLOCKS {
        paced_compressed.add(&busy.address, PACED, true, Some(PACE));
        paced_plain.add(&busy.address, PACED, false, Some(PACE));
    }
    let paced_wall = paced_start.elapsed().as_secs_f64();
    let paced_busy = (value("copybench_run_in_progress"), runs_before, runs());
    // The closed loop again, driven by wrk instead of this benchmark's client.
    let wrk: Option<Vec<(bool, Wrk)>> = (0..BLOCKS)
        .flat_map(|_| [true, false])
        .map(|gzip| Some((gzip, wrk(&busy.address, gzip)?)))
        .collect();
    let busy_rss = rss_kib(busy.id());
    drop(busy);

    let total = compressed.latencies.len() + plain.latencies.len();
    println!(
        "/metrics with {CLIENTS} concurrent clients x {requests} requests during a sweep, gzip and plain in {BLOCKS} alternating blocks each"
    );
    println!(
        "  requests {total} in {wall:.2} s ({:.0}/s); the first sweep still running at the end: {in_progress}",
        total as f64 / wall
    );
    latencies(compressed, plain);
    let paced_total = paced_compressed.latencies.len() + paced_plain.latencies.len();
    println!(
        "/metrics with {CLIENTS} clients each scraping every {} ms during sweeps, gzip and plain in {BLOCKS} alternating blocks each, from each request's send to its answer's end",
        PACE.as_millis()
    );
    println!(
        "  requests {paced_total} in {paced_wall:.2} s ({:.0}/s); a run in progress at the end: {:?}; runs ended before it {}, after it {}",
        paced_total as f64 / paced_wall,
        paced_busy.0,
        paced_busy.1,
        paced_busy.2
    );
    let slowest = (paced_compressed.latencies.iter())
        .chain(&paced_plain.latencies)
        .fold(0.0, |a: f64, b| a.max(*b));
    assert!(
        slowest < PACE.as_secs_f64() * 1e3,
        "an answer took {slowest:.1} ms, longer than the pace: the clients fell behind it"
    );
    latencies(paced_compressed, paced_plain);
    println!(
        "  the same load (gzip) on an idle daemon: p50 {:.2} ms, p99 {:.2} ms",
        at(&quiet, 0.5),
        at(&quiet, 0.99)
    );
    match wrk {
        Some(blocks) => {
            println!(
                "wrk -t1 -c50 during sweeps, {BLOCKS} blocks of {WRK_SECONDS} s each, gzip and plain alternating: p50 / p99 ms (requests/s)"
            );
            for gzip in [true, false] {
                let each: Vec<String> = (blocks.iter().filter(|b| b.0 == gzip))
                    .map(|(_, w)| format!("{:.2} / {:.2} ({:.0})", w.p50, w.p99, w.rate))
                    .collect();
                let name = if gzip { "gzip" } else { "plain" };
                println!("  {name:<5} {}", each.join(", "));
            }
        }
        None => println!("wrk: not installed (Debian package wrk); its closed loop left out"),
    }
    println!(
        "resident memory: idle {:.1} MiB, after the load {:.1} MiB",
        idle_rss as f64 / 1024.0,
        busy_rss as f64 / 1024.0
    );
}

/// Seconds of each wrk block.
const WRK_SECONDS: u32 = 2;

/// What one wrk block measured: latency p50 and p99 (ms), requests per second.
struct Wrk {
    p50: f64,
    p99: f64,
    rate: f64,
}

/// One block of wrk's closed loop (one thread, 50 connections) on `/metrics` at `address`,
/// asking for gzip if `gzip`; `None` when wrk is not installed.
fn wrk(address: &str, gzip: bool) -> Option<Wrk> {
    let mut command = std::process::Command::new("wrk");
    command.args(["-t1", "-c50", &format!("-d{WRK_SECONDS}s"), "--latency"]);
    if gzip {
        command.args(["-H", "Accept-Encoding: gzip"]);
    }
    let output = command
        .arg(format!("http://{address}/metrics"))
        .output()
        .ok()?;
    assert!(output.status.success(), "wrk: {output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| {
        (text.lines())
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {prefix} in wrk's output: {text}"))
    };
    // "749.00us", "3.04ms", "1.20s" in milliseconds.
    let ms = |v: &str| {
        let (number, scale) = [("us", 1e-3), ("ms", 1.0), ("s", 1e3)]
            .into_iter()
            .find_map(|(unit, scale)| Some((v.strip_suffix(unit)?, scale)))
            .unwrap_or_else(|| panic!("a latency without its unit: {v}"));
        number.parse::<f64>().expect("a latency") * scale
    };
    Some(Wrk {
        p50: ms(field("50%")),
        p99: ms(field("99%")),
        rate: field("Requests/sec:").parse().expect("requests/s"),
    })
}

/// Prints the latencies of gzip and plain scrapes and the client's CPU per request.
fn latencies(compressed: Load, plain: Load) {
    for (name, load) in [("gzip", compressed), ("plain", plain)] {
        let l = sorted(load.latencies);
        println!(
            "  {name:<5} latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; the client's CPU {:.1} us per request",
            at(&l, 0.5),
            at(&l, 0.9),
            at(&l, 0.99),
            at(&l, 1.0),
            load.client_seconds / l.len() as f64 * 1e6
        );
    }
}

/// The latencies of one kind of scrape, gathered in blocks, and the client's CPU time for them.
#[derive(Default)]
struct Load {
    latencies: Vec<f64>,
    client_seconds: f64,
}

impl Load {
    /// One block: [`load`] of `requests` per client, asking for gzip if `gzip`, at `pace`.
    fn add(&mut self, address: &str, requests: usize, gzip: bool, pace: Option<Duration>) {
        let before = cpu_seconds(std::process::id());
        self.latencies.extend(load(address, requests, gzip, pace));
        self.client_seconds += cpu_seconds(std::process::id()) - before;
    }
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// The `q` quantile of sorted `v`.
fn at(v: &[f64], q: f64) -> f64 {
    v[((v.len() as f64 * q) as usize).min(v.len() - 1)]
}

/// The CPU time process `pid` has used, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = procfs::process::Process::new(pid as i32)
        .and_then(|p| p.stat())
        .expect("stat");
    (stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64
}

/// `CLIENTS` keep-alive connections, each sending `requests` GETs, all driven by one thread,
/// asking for gzip if `gzip`: one after another (`pace` None), or each client one every
/// `pace`, spread evenly over the clients. Returns every latency in milliseconds, from the
/// request's send to its answer's end (with a pace, an answer later than the pace delays the
/// next request; the caller checks that none was).
fn load(address: &str, requests: usize, gzip: bool, pace: Option<Duration>) -> Vec<f64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let begin = tokio::time::Instant::now();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let address = address.to_owned();
                tokio::spawn(async move {
                    let stream = tokio::net::TcpStream::connect(&address)
                        .await
                        .expect("connect");
                    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
                        .read_buf_exact_size(Some(1 << 16))
                        .handshake(TokioIo::new(stream))
                        .await
                        .expect("handshake");
                    tokio::spawn(connection);
                    let mut latencies = Vec::with_capacity(requests);
                    for i in 0..requests {
                        let due = pace.map(|pace| {
                            begin + pace * i as u32 + pace * client as u32 / CLIENTS as u32
                        });
                        if let Some(due) = due {
                            tokio::time::sleep_until(due).await;
                        }
                        let mut request = hyper::Request::get("/metrics").header("host", &address);
                        if gzip {
                            request = request.header("accept-encoding", "gzip");
                        }
                        let request = request.body(Empty::<Bytes>::new()).expect("request");
                        let t = Instant::now();
                        let response = sender.send_request(request).await.expect("scrape");
                        let mut body = response.into_body();
                        let mut length = 0;
                        while let Some(frame) = body.frame().await {
                            length += frame.expect("body").data_ref().map_or(0, Bytes::len);
                        }
                        latencies.push(t.elapsed().as_secs_f64() * 1e3);
                        assert!(length > 200, "short exposition");
                    }
                    latencies
                })
            })
            .collect();
        let mut all = Vec::new();
        for client in clients {
            all.extend(client.await.expect("client"));
        }
        all
    })
}

fn get(url: &str) -> String {
    ureq::get(url)
        .call()
        .expect("GET")
        .body_mut()
        .read_to_string()
        .expect("body")
}
