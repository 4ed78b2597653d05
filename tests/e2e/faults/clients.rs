//! Clients that misbehave: ones that ask and never read the answer (for small and for large
//! answers), and ones that hang up at once, on password checks and on probes. None may stall
//! the server, make it hold unbounded memory, or get past a limit by hanging up.

use std::io::Write;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::{Watch, at_rest, cpu_seconds, fds, rss_mib, threads};
use crate::util::IDLE;
use crate::util::{self, TestConfig, children_of, entries, sample, start_daemon, wait_for};

/// A connection to `address` with a 4 KiB receive buffer that sends `request` `times` times
/// and never reads what comes back.
fn stalled_client(address: &str, request: &str, times: usize) -> TcpStream {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrIn, connect, setsockopt, socket, sockopt,
    };
    let address: std::net::SocketAddrV4 = address.parse().expect("an IPv4 address");
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .expect("socket");
    setsockopt(&fd, sockopt::RcvBuf, &4096).expect("SO_RCVBUF");
    connect(fd.as_raw_fd(), &SockaddrIn::from(address)).expect("connect");
    let mut stream = TcpStream::from(fd);
    stream
        .write_all(request.repeat(times).as_bytes())
        .expect("send the requests");
    stream
}

#[test]
fn clients_that_do_not_read_lose_their_connections_and_health_and_scrapes_go_on() {
    // A flood is load for the tests beside it, and theirs would blur its bounds.
    let _turn = util::heavy_turn();
    let config = TestConfig::from(IDLE)
        .set("web.max_connections", 8)
        .set("web.write_timeout", "5s")
        .text();
    let daemon = start_daemon(&config, &[]);
    let at_rest = at_rest(&daemon);
    let watch = Watch::start(&daemon, &[]);
    let request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    let stalled: Vec<TcpStream> = (0..8)
        .map(|_| stalled_client(&daemon.address, request, 300))
        .collect();
    // Every served connection is held by a client that does not read; until the write
    // timeout frees them, health checks and scrapes are served beyond the cap.
    assert!(
        wait_for(Duration::from_secs(10), || fds(daemon.pid()) >= at_rest + 8),
        "the stalled clients were not served"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        wait_for(Duration::from_secs(20), || fds(daemon.pid()) <= at_rest + 1),
        "the stalled connections were not closed: {} descriptors, {at_rest} at rest",
        fds(daemon.pid())
    );
    watch.check();
    drop(stalled);
    assert_eq!(daemon.get("/-/healthy").0, 200);
}

/// A history of `runs` scheduled runs in `state`, written as the daemon writes them.
fn history_of(state: &std::path::Path, runs: usize) {
    use copybench_exporter::record::RunRecord;
    use copybench_exporter::results::Results;
    let results = Results::open(
        Some(&state.join("history.sqlite")),
        Duration::from_secs(3600),
    )
    .expect("history");
    let now = util::unix_now();
    for i in 0..runs {
        let record: RunRecord = serde_json::from_value(serde_json::json!({
            "backend": "thread", "sync": "none", "workers": 1, "lines": 300, "reread": true,
            "started_at": now - 1.0, "finished_at": now - 1.0 + i as f64 * 1e-6,
            "success": true, "duration_seconds": 0.3, "lines_per_second": 1000.0,
            "disorder": 0, "duplicates": 0, "missing": 0, "torn_records": 0, "pids": 1,
            "threads_min": 1, "threads_max": 1, "cpu_records": {"0": 150, "1": 150},
            "cpus_used": 2, "cpu_migrations": 3, "voluntary_ctx_switches": 20,
            "involuntary_ctx_switches": 2
        }))
        .expect("record");
        results.record(&record);
    }
}

#[test]
fn large_answers_to_clients_that_do_not_read_keep_memory_bounded() {
    // A flood is load for the tests beside it, and theirs would blur its bounds.
    let _turn = util::heavy_turn();
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    history_of(&state, 10_000);
    // Short timeouts: the clients' connections end within seconds, whether their answer was
    // held (the write timeout) or refused (the idle timeout after a 503).
    let config = TestConfig::from(IDLE)
        .set("web.write_timeout", "3s")
        .set("web.idle_timeout", "3s")
        .set("state.dir", state.display().to_string())
        .text();
    let daemon = util::start_daemon_in(dir, &config, &[], &[]);
    let at_rest = at_rest(&daemon);
    let (status, one) = daemon.get("/api/v1/runs?limit=10000");
    assert_eq!(status, 200);
    assert!(one.len() > 4_000_000, "a large answer: {} bytes", one.len());
    drop(one);
    let before = rss_mib(daemon.pid());
    let watch = Watch::start(&daemon, &[]);
    let request = "GET /api/v1/runs?limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n";
    let stalled: Vec<TcpStream> = (0..40)
        .map(|_| stalled_client(&daemon.address, request, 1))
        .collect();
    let started = Instant::now();
    let mut peak = before;
    while started.elapsed() < Duration::from_secs(6) {
        peak = peak.max(rss_mib(daemon.pid()));
        std::thread::sleep(Duration::from_millis(50));
    }
    // 40 answers of 6 MB would be 250 MB; at most 64 MB of them are held at once.
    assert!(
        peak < before + 120.0,
        "resident memory rose from {before:.0} to {peak:.0} MiB"
    );
    assert!(
        wait_for(Duration::from_secs(20), || fds(daemon.pid()) <= at_rest + 1),
        "the stalled connections were not closed"
    );
    assert!(
        wait_for(Duration::from_secs(10), || rss_mib(daemon.pid())
            < before + 40.0),
        "memory not given back: {:.0} MiB, {before:.0} before",
        rss_mib(daemon.pid())
    );
    watch.check();
    drop(stalled);
}

/// An `Authorization` header of `user` and `password`.
fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

#[test]
fn hanging_up_on_password_checks_keeps_them_one_at_a_time() {
    // A flood is load for the tests beside it, and theirs would blur its bounds.
    let _turn = util::heavy_turn();
    let dir = tempfile::tempdir().expect("tempdir");
    let hash = bcrypt::hash("s3cret", 10).expect("hash");
    let web = dir.path().join("web.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  alice: {hash}\n")).expect("web config");
    let flag = format!("--web.config.file={}", web.display());
    let daemon = util::start_daemon_in(dir, IDLE, &[], &[&flag]);
    let right = basic("alice", "s3cret");
    let (status, _, _) =
        util::http_with_headers("GET", &daemon.url("/metrics"), &[("Authorization", &right)]);
    assert_eq!(status, 200);
    let (fds_at_rest, threads_at_rest) = (fds(daemon.pid()), threads(daemon.pid()));
    let watch = Watch::start(&daemon, &[("Authorization", &right)]);
    let cpu_before = cpu_seconds(daemon.pid());
    let started = Instant::now();
    let flood: Vec<_> = (0..8)
        .map(|_| {
            let address = daemon.address.clone();
            let wrong = basic("alice", "wrong");
            std::thread::spawn(move || {
                let request =
                    format!("GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: {wrong}\r\n\r\n");
                while started.elapsed() < Duration::from_secs(4) {
                    if let Ok(mut stream) = TcpStream::connect(&address) {
                        let _ = stream.write_all(request.as_bytes());
                        // Long enough that each hang-up comes after its check is queued, short
                        // enough that 8 clients ask for far more checks than two CPUs can make;
                        // accepting connections is then a small part of the daemon's CPU.
                        std::thread::sleep(Duration::from_millis(30));
                    }
                }
            })
        })
        .collect();
    for client in flood {
        client.join().expect("client");
    }
    let share = (cpu_seconds(daemon.pid()) - cpu_before) / started.elapsed().as_secs_f64();
    // One bcrypt check at a time is one CPU at most; unbounded, they take both.
    assert!(
        share < 1.3,
        "the daemon used {share:.2} CPUs under the flood"
    );
    watch.check();
    assert!(
        wait_for(Duration::from_secs(10), || fds(daemon.pid()) <= fds_at_rest
            && threads(daemon.pid()) <= threads_at_rest + 2),
        "left after the flood: {} descriptors ({fds_at_rest} before), {} threads ({threads_at_rest} before)",
        fds(daemon.pid()),
        threads(daemon.pid())
    );
}

#[test]
fn hanging_up_on_probes_is_still_rate_limited_counted_kept_and_logged() {
    // A flood is load for the tests beside it, and theirs would blur its bounds.
    let _turn = util::heavy_turn();
    let config = TestConfig::from(IDLE)
        .set("probe.min_interval", "1s")
        .text();
    let daemon = start_daemon(&config, &[]);
    let at_rest = at_rest(&daemon);
    let watch = Watch::start(&daemon, &[]);
    let request = "GET /probe?backend=process&sync=ordered&workers=4&lines=2000 HTTP/1.1\r\n\
                   Host: x\r\n\r\n";
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_secs(5) {
        let mut stream = TcpStream::connect(&daemon.address).expect("connect");
        stream.write_all(request.as_bytes()).expect("send");
        sent += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        daemon.wait_sample("copybench_run_in_progress", 0.0),
        "a probe still runs"
    );
    let (_, runs) = daemon.get("/api/v1/runs?probe=true&limit=10000");
    let runs: Vec<serde_json::Value> = serde_json::from_str(&runs).expect("runs JSON");
    // At most one run a second, counted from each run's start, hung up or not.
    assert!(
        runs.len() as f64 <= elapsed.ceil() + 1.0,
        "{} probe runs in {elapsed:.1} s from {sent} requests",
        runs.len()
    );
    let cancelled = runs
        .iter()
        .filter(|r| r["failure"]["reason"] == "cancelled")
        .count();
    assert!(cancelled >= 1, "no hung-up probe was kept: {runs:?}");
    let metrics = daemon.metrics();
    let counted = |result: &str| {
        sample(
            &metrics,
            &format!("copybench_probes_total{{result=\"{result}\"}}"),
        )
        .unwrap_or(0.0)
    };
    assert_eq!(counted("cancelled"), cancelled as f64, "{metrics}");
    assert_eq!(
        counted("cancelled") + counted("success") + counted("failure"),
        runs.len() as f64,
        "every probe run is counted"
    );
    assert!(counted("rate_limited") >= 1.0, "{metrics}");
    assert!(
        wait_for(Duration::from_secs(5), || daemon
            .logs()
            .iter()
            .filter(|l| l.contains("probe failed") && l.contains("cancelled"))
            .count()
            == cancelled),
        "each cancelled probe is logged"
    );
    watch.check();
    assert!(children_of(daemon.pid()).is_empty(), "workers left");
    assert!(entries(&daemon.scratch()).is_empty(), "scratch left");
    assert!(
        wait_for(Duration::from_secs(10), || fds(daemon.pid()) <= at_rest),
        "descriptors left"
    );
}
