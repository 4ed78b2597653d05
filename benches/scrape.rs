//! The scrape path under load: `/metrics` latency with 50 concurrent keep-alive connections
//! on loopback while a sweep saturates the CPUs, and the daemon's resident memory when idle.
//!
//! `cargo bench --bench scrape` (COPYBENCH_BENCH_REQUESTS per client, default 1000).

mod support;

use support::{rss_kib, sample, start};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::time::{Duration, Instant};

const CLIENTS: usize = 50;

/// A sweep of 18 runs at 10,000 lines that keeps both CPUs busy for several seconds.
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

    let idle = start(dir.path(), "idle", IDLE);
    get(&format!("http://{}/metrics", idle.address));
    std::thread::sleep(Duration::from_secs(1));
    let idle_rss = rss_kib(idle.id());
    let mut quiet = load(&idle.address, requests);
    quiet.sort_by(f64::total_cmp);
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
    let mut latencies = load(&busy.address, requests);
    let wall = load_start.elapsed().as_secs_f64();
    let in_progress = value("copybench_sweeps_total") == Some(0.0);
    let busy_rss = rss_kib(busy.id());
    drop(busy);

    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!("/metrics with {CLIENTS} concurrent clients x {requests} requests during a sweep");
    println!(
        "  requests {} in {wall:.2} s ({:.0}/s); the first sweep still running at the end: {in_progress}",
        latencies.len(),
        latencies.len() as f64 / wall
    );
    println!(
        "  latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
    let q = |p: f64| quiet[((quiet.len() as f64 * p) as usize).min(quiet.len() - 1)];
    println!(
        "  the same load on an idle daemon: p50 {:.2} ms, p99 {:.2} ms",
        q(0.5),
        q(0.99)
    );
    println!(
        "resident memory: idle {:.1} MiB, after the load {:.1} MiB",
        idle_rss as f64 / 1024.0,
        busy_rss as f64 / 1024.0
    );
}

/// `CLIENTS` keep-alive connections, each sending `requests` GETs one after another, all
/// driven by one thread so that the load generator takes little CPU from the daemon and the
/// sweep. Returns every latency in milliseconds.
fn load(address: &str, requests: usize) -> Vec<f64> {
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
                    let (mut sender, connection) =
                        hyper::client::conn::http1::handshake(TokioIo::new(stream))
                            .await
                            .expect("handshake");
                    tokio::spawn(connection);
                    let mut latencies = Vec::with_capacity(requests);
                    for _ in 0..requests {
                        let request = hyper::Request::get("/metrics")
                            .header("host", &address)
                            .body(Empty::<Bytes>::new())
                            .expect("request");
                        let t = Instant::now();
                        let response = sender.send_request(request).await.expect("scrape");
                        let body = response
                            .into_body()
                            .collect()
                            .await
                            .expect("body")
                            .to_bytes();
                        latencies.push(t.elapsed().as_secs_f64() * 1e3);
                        assert!(body.len() > 500, "short exposition");
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
