//! The scrape path: what a scrape costs and how fast it is answered, with 50 concurrent
//! keep-alive clients on loopback (driven by one thread that reads each answer in one
//! buffer and keeps none of it, so that the load generator takes little CPU from the daemon;
//! its CPU per request is reported):
//!
//! - the default configuration after its first sweep: its series, and the bytes of a scrape
//!   plain and in gzip (Prometheus always asks for gzip);
//! - the daemon's CPU time per scrape, plain and gzip, on that daemon between its sweeps;
//! - latency while a sweep of 10,000-line runs keeps both CPUs busy (the metrics are rebuilt
//!   from the run history after every run; gzip and plain in alternating blocks, all within
//!   the first sweep),
//!   and on an idle daemon;
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

/// A sweep of 18 combinations at 10,000 lines that keeps both CPUs busy for a minute.
const BUSY: &str = r#"
[schedule]
interval = "1s"
jitter = "0s"
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
        let n = load(&defaults.address, requests, gzip).len();
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
    let quiet = sorted(load(&idle.address, requests, true));
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
        compressed.add(&busy.address, requests / BLOCKS, true);
        plain.add(&busy.address, requests / BLOCKS, false);
    }
    let wall = load_start.elapsed().as_secs_f64();
    let in_progress = value("copybench_sweeps_total") == Some(0.0);
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
    println!(
        "  the same load (gzip) on an idle daemon: p50 {:.2} ms, p99 {:.2} ms",
        at(&quiet, 0.5),
        at(&quiet, 0.99)
    );
    println!(
        "resident memory: idle {:.1} MiB, after the load {:.1} MiB",
        idle_rss as f64 / 1024.0,
        busy_rss as f64 / 1024.0
    );
}

/// The latencies of one kind of scrape, gathered in blocks, and the client's CPU time for them.
#[derive(Default)]
struct Load {
    latencies: Vec<f64>,
    client_seconds: f64,
}

impl Load {
    /// One block: [`load`] of `requests` per client, asking for gzip if `gzip`.
    fn add(&mut self, address: &str, requests: usize, gzip: bool) {
        let before = cpu_seconds(std::process::id());
        self.latencies.extend(load(address, requests, gzip));
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

/// `CLIENTS` keep-alive connections, each sending `requests` GETs one after another, all
/// driven by one thread, asking for gzip if `gzip`. Returns every latency in milliseconds.
fn load(address: &str, requests: usize, gzip: bool) -> Vec<f64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
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
                    for _ in 0..requests {
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
