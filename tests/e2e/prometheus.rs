//! The exporter as a real Prometheus server sees it.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use crate::util::{TINY, TestConfig, start_daemon, start_prometheus, wait_for};

#[test]
fn prometheus_scrapes_every_combination_and_lock_keeps_order() {
    let daemon = start_daemon(TINY, &[]);
    let prometheus = start_prometheus(&daemon.address);
    let measured = wait_for(Duration::from_secs(60), || {
        prometheus
            .vector("copybench_last_run_duration_seconds{job=\"copybench\"} > 0")
            .len()
            == 8
    });
    assert!(
        measured,
        "not every combination reached Prometheus: {:?}",
        prometheus.vector("copybench_last_run_duration_seconds")
    );
    // Disorder of the pools (one worker's is 0 by construction): both backends at 2 workers.
    let lock = prometheus.vector("copybench_disorder_lines{sync=\"lock\"}");
    assert_eq!(lock.len(), 2, "{lock:?}");
    for series in &lock {
        assert_eq!(series["value"][1], "0", "{series}");
    }
    assert_eq!(prometheus.vector("up{job=\"copybench\"} == 1").len(), 1);
}

/// Samples by metric name, each name's values sorted as bits (NaN one value), for the
/// cached families (`copybench_*`; the process's own are read fresh at every scrape).
fn samples_by_name(pairs: impl Iterator<Item = (String, f64)>) -> BTreeMap<String, Vec<u64>> {
    let mut by_name = BTreeMap::<String, Vec<u64>>::new();
    for (name, value) in pairs.filter(|(name, _)| name.starts_with("copybench_")) {
        let value = if value.is_nan() { f64::NAN } else { value };
        by_name.entry(name).or_default().push(value.to_bits());
    }
    for values in by_name.values_mut() {
        values.sort_unstable();
    }
    by_name
}

/// The text exposition's samples by metric name.
fn exposition_samples(text: &str) -> BTreeMap<String, Vec<u64>> {
    samples_by_name(text.lines().filter(|l| !l.starts_with('#')).map(|line| {
        let name = line.split(['{', ' ']).next().unwrap_or_default().to_owned();
        let value = line.rsplit(' ').next().and_then(|v| v.parse().ok());
        (
            name,
            value.unwrap_or_else(|| panic!("a sample line: {line}")),
        )
    }))
}

#[test]
fn gzip_scrapes_read_by_prometheus_and_curl_have_the_plain_samples() {
    // One sweep, then nothing changes the cached families for an hour.
    let config = TestConfig::from(TINY).set("schedule.interval", "1h").text();
    let daemon = start_daemon(&config, &[]);
    assert!(
        daemon.wait_sample("copybench_sweeps_total", 1.0),
        "no sweep"
    );
    let plain = daemon.metrics();
    assert!(plain.starts_with("# HELP"), "a plain scrape is text");

    // curl asks for gzip and decodes it: one gzip member, the same families.
    let out = Command::new("curl")
        .args([
            "-sS",
            "--fail",
            "--max-time",
            "10",
            "--compressed",
            "-D",
            "-",
        ])
        .arg(daemon.url("/metrics"))
        .output()
        .expect("curl runs");
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (headers, body) = answer
        .split_once("\r\n\r\n")
        .expect("headers, then the body");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("content-encoding: gzip"),
        "{headers}"
    );
    assert_eq!(exposition_samples(body), exposition_samples(&plain));

    // Prometheus asks for gzip by default: the target is up, every sample the plain one.
    let prometheus = start_prometheus(&daemon.address);
    assert!(
        wait_for(Duration::from_secs(30), || {
            prometheus.vector("up{job=\"copybench\"} == 1").len() == 1
        }),
        "the target is not up"
    );
    let scraped = samples_by_name(
        prometheus
            .vector("{job=\"copybench\", __name__=~\"copybench_.+\"}")
            .into_iter()
            .map(|s| {
                let value = s["value"][1].as_str().and_then(|v| v.parse().ok());
                (
                    s["metric"]["__name__"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    value.unwrap_or(f64::NAN),
                )
            }),
    );
    assert_eq!(scraped, exposition_samples(&plain));
}
