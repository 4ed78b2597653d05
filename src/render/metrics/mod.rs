//! Every metric the exporter publishes, each family declared once beside the code that fills
//! it from current state, as node_exporter's collectors are: [`runs`] (the latest run of each
//! combination), [`points`] (its latest sweep's summary), [`detection`], [`scaling`],
//! [`counters`], [`node`] (the exporter's own state) and `alerts` (the node's watch), all read
//! from a [`Snapshot`] of the results model and the daemon's [`Status`], at the configured
//! [`detail`]. No series outlives the combination it describes and nothing keeps its own copy
//! of a result.
//!
//! A sweep is far too heavy to run at scrape time, so these families are rendered when a run
//! ends, a sweep ends or the configuration is (re)loaded, and the text is kept; every cached
//! family's HELP says whose latest run it describes, and
//! `copybench_last_run_timestamp_seconds` tells its age. A scrape sends that text plus a fresh
//! rendering of the few live families (the [`process`] metrics, and the collectors others
//! register: the run-in-progress gauge, the probe counter), so scraping stays cheap while a
//! sweep keeps the CPUs busy. A scraper that accepts gzip gets it ([`gzip`]): the cached text
//! is compressed when it is rendered, off the threads that serve, and the live families are
//! encoded and compressed only when their values changed since the scrape before (the process
//! metrics are read at most every 100 ms), so a burst of scrapes shares one rendering.

mod alerts;
pub mod counters;
pub mod detail;
pub mod detection;
pub mod family;
mod gzip;
pub mod node;
pub mod points;
mod process;
pub mod runs;
pub mod scaling;

use std::sync::{Arc, Mutex, RwLock};

use bytes::buf::Chain;
use bytes::{Buf, Bytes};
use prometheus::Registry;
use prometheus::core::Collector;
use prometheus::proto::MetricFamily;

use crate::config::{Detail, Metrics};
use crate::results::Snapshot;
use family::{Family, encode};
pub use node::Status;

/// What the cached families are rendered from.
pub struct Sources<'a> {
    /// The results model's state.
    pub snapshot: &'a Snapshot,
    /// The daemon's own state.
    pub status: &'a Status,
    /// Which families to render.
    pub metrics: &'a Metrics,
}

/// The collectors of the cached families.
const COLLECTORS: &[fn(&Sources) -> Vec<Family>] = &[
    runs::collect,
    points::collect,
    detection::collect,
    scaling::collect,
    counters::collect,
    node::collect,
    alerts::collect,
];

/// The text exposition of every cached family under `sources`, at its detail.
pub fn render(sources: &Sources) -> String {
    let full = sources.metrics.detail == Detail::Full;
    encode(
        COLLECTORS
            .iter()
            .flat_map(|collect| collect(sources))
            .filter_map(|family| detail::at(family, full)),
    )
}

/// The rendered text of the cached families, and its gzip.
#[derive(Default)]
struct Cached {
    text: Bytes,
    /// `None` before the first publish or when compressing failed (logged): scrapes get the
    /// plain text then.
    gzip: Option<gzip::Open>,
    /// The live families last served after this text.
    last_live: Mutex<Option<LiveParts>>,
}

/// The live families' values, their text, and the end of the gzip member that follows the
/// cached text with them (made at the first gzip scrape).
struct LiveParts {
    families: Vec<MetricFamily>,
    text: Bytes,
    gzip_end: Option<Bytes>,
}

impl Cached {
    /// The text of the live `families`, and with `gzip` the end of the member that closes
    /// [`Cached::gzip`] with it (`None` if compressing failed, logged): made again only when
    /// their values differ from the last ones served.
    fn live(&self, families: Vec<MetricFamily>, gzip: bool) -> (Bytes, Option<Bytes>) {
        let mut last = self.last_live.lock().unwrap_or_else(|p| p.into_inner());
        let parts = match &mut *last {
            Some(parts) if parts.families == families => parts,
            slot => slot.insert(LiveParts {
                text: Bytes::from(encode(families.iter().cloned().map(Family))),
                families,
                gzip_end: None,
            }),
        };
        if gzip && parts.gzip_end.is_none() {
            parts.gzip_end = self.gzip.as_ref().and_then(|open| {
                open.end(&parts.text)
                    .inspect_err(|e| tracing::error!("compressing the metrics failed: {e}"))
                    .ok()
            });
        }
        (parts.text.clone(), parts.gzip_end.clone().filter(|_| gzip))
    }
}

/// The daemon's `/metrics`: the rendered cached families and the live registry.
pub struct Exposition {
    /// The cached families, replaced at every change.
    cached: RwLock<Arc<Cached>>,
    /// Serialises publishing, so that an older snapshot never replaces a newer one.
    publishing: Mutex<()>,
    /// Families read fresh at every scrape.
    live: Registry,
    metrics: Metrics,
}

impl Exposition {
    /// Sets up the live registry with the process metrics; `metrics` says which cached
    /// families to render. Nothing cached is published until the first
    /// [`Exposition::publish`].
    pub fn new(metrics: Metrics) -> prometheus::Result<Self> {
        let live = Registry::new();
        live.register(Box::new(process::ProcessMetrics::default()))?;
        Ok(Exposition {
            cached: RwLock::default(),
            publishing: Mutex::new(()),
            live,
            metrics,
        })
    }

    /// Adds a family read fresh at every scrape.
    pub fn register(&self, collector: impl Collector + 'static) -> prometheus::Result<()> {
        self.live.register(Box::new(collector))
    }

    /// Re-renders the cached families from what `take` reads (a snapshot and the status), and
    /// their gzip; publishers take turns, so the last to take is the last to land.
    pub fn publish<E>(
        &self,
        take: impl FnOnce() -> Result<(Snapshot, Status), E>,
    ) -> Result<(), E> {
        let _in_order = self.publishing.lock().unwrap_or_else(|p| p.into_inner());
        let (snapshot, status) = take()?;
        let text = render(&Sources {
            snapshot: &snapshot,
            status: &status,
            metrics: &self.metrics,
        });
        let gzip = gzip::Open::of(text.as_bytes())
            .inspect_err(|e| tracing::error!("compressing the metrics failed: {e}"))
            .ok();
        let cached = Cached {
            text: Bytes::from(text),
            gzip,
            last_live: Mutex::default(),
        };
        *self.cached.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(cached);
        Ok(())
    }

    /// The text exposition of every family: the cached text, then the live families, as two
    /// buffers (the cached part is shared, not copied, by every scrape); gzip-encoded when
    /// `gzip` asks for it and compressing works, which the second value says.
    pub fn scrape(&self, gzip: bool) -> (Chain<Bytes, Bytes>, bool) {
        let cached = Arc::clone(&self.cached.read().unwrap_or_else(|p| p.into_inner()));
        let gzip = gzip && cached.gzip.is_some();
        let (text, gzip_end) = cached.live(self.live.gather(), gzip);
        match (cached.gzip.as_ref(), gzip_end) {
            (Some(open), Some(end)) => (open.start().chain(end), true),
            _ => (cached.text.clone().chain(text), false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::attribution::{Cause, Evidence};
    use crate::analysis::watch::Signal;
    use crate::host::Capacity;
    use crate::host::facts::Facts;
    use crate::record::fixtures::{measured, spec};
    use crate::record::{FailureReason, RunRecord};
    use crate::results::alerts::{AlertSpan, AlertState};
    use crate::results::counters::{Histogram, Tally, Totals};
    use crate::results::{Point, SeriesState};
    use crate::workload::Spec;
    use crate::workload::{Backend, SyncMode};

    /// A run of [`spec`]`(workers)` that ended at 1000.5 with 5 records on each of `cpus`.
    fn record(workers: u32, cpus: &[u32]) -> RunRecord {
        let mut record = measured(workers, 1000.5);
        let output = &mut record.measurement.as_mut().expect("measured").output;
        output.cpu_records = cpus.iter().map(|&cpu| (cpu, 5)).collect();
        output.cpus_used = cpus.len() as u64;
        record
    }

    fn state(spec: Spec, latest: Option<RunRecord>) -> SeriesState {
        let tally = Tally {
            runs: u64::from(latest.is_some()),
            durations: Histogram {
                bounds: vec![0.1, 1.0],
                cumulative: vec![0, 1],
                count: 1,
                sum: 0.25,
            },
            ..Tally::new(&spec)
        };
        SeriesState {
            spec,
            last_success_at: latest.as_ref().filter(|r| r.success).map(|r| r.finished_at),
            point: latest
                .as_ref()
                .map(|r| Point::of(spec, std::slice::from_ref(r), std::slice::from_ref(r), 0.1)),
            detection: None,
            latest,
            tally,
        }
    }

    /// A snapshot of `series`, with totals, alerts and facts, and a status.
    fn sources(series: Vec<SeriesState>) -> (Snapshot, Status) {
        let scaling = crate::results::scaling(series.iter().filter_map(|s| s.point.as_ref()));
        let snapshot = Snapshot {
            scaling,
            series,
            totals: Totals {
                sweeps_completed: 3,
                confirmation_sweeps: 1,
                last_sweep_seconds: Some(2.5),
                workload_cpu_seconds: 12.5,
                save_failures: 0,
                unsaved_runs: 0,
            },
            alerts: AlertState {
                firing: vec![AlertSpan {
                    signal: Signal::Scaling(((Backend::Thread, SyncMode::Lock), 2)),
                    started_at: 100.0,
                    ended_at: None,
                    ratio: Some(1.2),
                    causes: vec![Cause {
                        name: "cpuset",
                        evidence: Evidence::Fact {
                            before: "0-3".into(),
                            after: "0".into(),
                            time: 100.0,
                        },
                    }],
                }],
                transients: [("host", 2)].into_iter().collect(),
                contended: true,
                host_seconds: Some(0.01),
                relative: [(((Backend::Thread, SyncMode::Lock), 2), 1.5)]
                    .into_iter()
                    .collect(),
                sensitivity: std::collections::BTreeMap::new(),
                warming: vec![Signal::Host],
            },
            host: Some(Facts {
                kernel: Some("6.1.0-21-amd64".into()),
                cpuset: Some("0-1".into()),
                cpu_quota_cores: Some(1.5),
                ..Facts::default()
            }),
        };
        let status = Status {
            last_reload_ok: true,
            last_reload_success_at: 7.0,
            capacity: Capacity {
                quota_cores: None,
                cpuset_cpus: 2,
            },
            interval_seconds: 300.0,
        };
        (snapshot, status)
    }

    /// An exposition with `series` published.
    fn published(series: Vec<SeriesState>, per_cpu: bool, detail: Detail) -> Exposition {
        let exposition = Exposition::new(Metrics { per_cpu, detail }).expect("metrics");
        exposition
            .publish(|| Ok::<_, ()>(sources(series)))
            .expect("published");
        exposition
    }

    fn bytes(mut body: Chain<Bytes, Bytes>) -> Bytes {
        body.copy_to_bytes(body.remaining())
    }

    fn exposition(series: Vec<SeriesState>, per_cpu: bool) -> String {
        let (text, gzip) = published(series, per_cpu, Detail::Full).scrape(false);
        assert!(!gzip);
        String::from_utf8_lossy(&bytes(text)).into_owned()
    }

    #[test]
    fn a_gzip_scrape_is_the_plain_one_compressed_once_per_change() {
        use std::io::Read;
        let series = vec![state(spec(1), Some(record(1, &[0, 1])))];
        let exposition = published(series, true, Detail::Full);
        let (plain, _) = exposition.scrape(false);
        let (first, gzip) = exposition.scrape(true);
        assert!(gzip);
        let (first_start, second_start) = (
            first.first_ref().as_ptr(),
            exposition.scrape(true).0.first_ref().as_ptr(),
        );
        assert_eq!(
            first_start, second_start,
            "the cached part compressed again"
        );
        let compressed = bytes(first);
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut unpacked)
            .expect("gzip");
        let (plain, unpacked) = (bytes(plain), String::from_utf8(unpacked).expect("utf-8"));
        // The live families differ from scrape to scrape (the process's CPU time): the cached
        // part is the same text, and both end with the same families.
        let cached = exposition.cached.read().expect("cached").text.clone();
        assert!(unpacked.starts_with(std::str::from_utf8(&cached).expect("utf-8")));
        let families = |t: &str| t.lines().filter(|l| l.starts_with("# TYPE")).count();
        let plain = String::from_utf8(plain.to_vec()).expect("utf-8");
        assert_eq!(families(&unpacked), families(&plain));
        assert!(
            compressed.len() * 4 < plain.len(),
            "{} of {}",
            compressed.len(),
            plain.len()
        );
        // A change is compressed anew.
        exposition
            .publish(|| Ok::<_, ()>(sources(Vec::new())))
            .expect("published");
        assert_ne!(exposition.scrape(true).0.first_ref().as_ptr(), first_start);
    }

    #[test]
    fn live_families_are_encoded_and_compressed_again_only_when_their_values_change() {
        use std::io::Read;
        let exposition = published(vec![state(spec(1), None)], false, Detail::Full);
        let cached = Arc::clone(&exposition.cached.read().expect("cached"));
        let open_fds = |v: f64| {
            let gauge = prometheus::Gauge::new("process_open_fds", "Open fds.").expect("gauge");
            gauge.set(v);
            gauge.collect()
        };
        let (text, end) = cached.live(open_fds(3.0), true);
        let (again, end_again) = cached.live(open_fds(3.0), true);
        assert_eq!(text.as_ptr(), again.as_ptr(), "encoded again");
        let (end, end_again) = (end.expect("gzip"), end_again.expect("gzip"));
        assert_eq!(end.as_ptr(), end_again.as_ptr(), "compressed again");
        assert_eq!(cached.live(open_fds(3.0), false), (text, None));

        let (changed, changed_end) = cached.live(open_fds(4.0), true);
        assert!(changed.ends_with(b"process_open_fds 4\n"), "{changed:?}");
        let member = [
            &cached.gzip.as_ref().expect("open").start()[..],
            &changed_end.expect("gzip")[..],
        ]
        .concat();
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&member[..])
            .read_to_end(&mut unpacked)
            .expect("gzip");
        assert_eq!(unpacked, [&cached.text[..], &changed[..]].concat());
    }

    #[test]
    fn configured_specs_are_exported_before_any_run() {
        let text = exposition(vec![state(spec(1), None), state(spec(2), None)], true);
        assert!(text.contains(r#"copybench_last_run_duration_seconds{backend="thread",sync="lock",workers="2"} NaN"#), "{text}");
        assert!(
            text.contains(
                r#"copybench_run_failures_total{backend="thread",sync="lock",workers="1"} 0"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"copybench_run_failure_reasons_total{reason="timeout"} 0"#),
            "{text}"
        );
        assert!(
            text.contains("# HELP copybench_disorder_lines")
                && text.contains("Cached from the latest run")
        );
        assert!(text.contains("copybench_build_info{"));
        assert!(
            text.contains(r#"copybench_pool_workers{backend="thread",sync="lock",workers="2"} 2"#)
        );
        assert!(text.contains(r#"copybench_last_success_timestamp_seconds{backend="thread",sync="lock",workers="1"} 0"#));
        assert!(text.contains("copybench_sweeps_total 3"));
        assert!(text.contains("copybench_confirmation_sweeps_total 1"));
        assert!(text.contains("copybench_config_last_reload_success_timestamp_seconds 7"));
        // The encoder writes +Inf as "inf", which Prometheus reads as +Inf.
        assert!(text.contains("copybench_cpu_quota_cores inf"), "{text}");
        assert!(text.contains("copybench_cpuset_cpus 2"));
        assert!(text.contains("copybench_workload_cpu_seconds_total 12.5"));
        assert!(text.contains("copybench_host_reference_seconds 0.01"));
        assert!(text.contains(
            r#"copybench_reference_ratio{backend="thread",sync="lock",workers="2"} 1.5"#
        ));
        assert!(text.contains(
            r#"copybench_reference_ratio{backend="thread",sync="lock",workers="1"} NaN"#
        ));
        assert!(text.contains(
            r#"copybench_point_median_seconds{backend="thread",sync="lock",workers="1"} NaN"#
        ));
        for line in [
            r#"copybench_regression_detected{backend="thread",sync="lock",workers="1"} 0"#,
            r#"copybench_regression_ratio{backend="thread",sync="lock",workers="1"} NaN"#,
        ] {
            assert!(text.contains(line), "{line} missing");
        }
        assert!(text.contains("process_resident_memory_bytes"));
        // The watch: which signal alerts, for which combination.
        for line in [
            r#"copybench_scaling_alert{backend="thread",sync="lock",workers="2"} 1"#,
            r#"copybench_workload_alert{backend="thread",sync="lock",workers="2"} 0"#,
            r#"copybench_workload_alert{backend="thread",sync="lock",workers="1"} 0"#,
            "copybench_host_alert 0",
            "copybench_contention_alert 0",
            "copybench_sweep_contended 1",
            "copybench_watch_warming_detectors 1",
            r#"copybench_alert_transients_total{signal="host"} 2"#,
            r#"copybench_alert_transients_total{signal="scaling"} 0"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(
            !text.contains(r#"copybench_scaling_alert{backend="thread",sync="lock",workers="1"}"#)
        );
    }

    /// The sample lines of `family` (one with labels) in `text`.
    fn samples<'a>(text: &'a str, family: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{family}{{")))
            .collect()
    }

    #[test]
    fn basic_detail_leaves_out_the_full_only_families_and_keeps_the_node_s_cpus() {
        let series = || {
            vec![
                state(spec(1), Some(record(1, &[1]))),
                state(spec(2), Some(record(2, &[0, 1]))),
            ]
        };
        let full = exposition(series(), true);
        let (basic, _) = published(series(), true, Detail::Basic).scrape(false);
        let basic = String::from_utf8(bytes(basic).to_vec()).expect("utf-8");
        for name in detail::FULL_ONLY {
            assert!(full.contains(&format!("# TYPE {name} ")), "{name} in full");
            assert!(
                !basic.contains(&format!("# TYPE {name} ")),
                "{name} in basic"
            );
        }
        for text in [&full, &basic] {
            assert_eq!(
                samples(text, "copybench_node_cpu_records"),
                [
                    r#"copybench_node_cpu_records{cpu="0"} 5"#,
                    r#"copybench_node_cpu_records{cpu="1"} 10"#
                ]
            );
        }
        let series_count = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
        assert!(series_count(&basic) < series_count(&full));
    }

    #[test]
    fn a_firing_alert_says_what_changed_on_the_node() {
        let text = exposition(vec![state(spec(2), None)], true);
        assert_eq!(
            samples(&text, "copybench_alert_cause_info"),
            [
                r#"copybench_alert_cause_info{backend="thread",cause="cpuset 0-3 -> 0",signal="scaling",sync="lock",workers="2"} 1"#
            ],
            "{text}"
        );
    }

    #[test]
    fn the_node_s_facts_are_one_info_series() {
        let text = exposition(vec![state(spec(1), None)], true);
        assert_eq!(
            samples(&text, "copybench_host_info"),
            [
                r#"copybench_host_info{boot_id="",cpu_model="",cpuset="0-1",governor="",kernel="6.1.0-21-amd64",microcode="",online_cpus=""} 1"#
            ],
            "{text}"
        );
    }

    #[test]
    fn results_counts_and_cpu_series_come_from_the_latest_run() {
        let text = exposition(vec![state(spec(2), Some(record(2, &[0, 1])))], true);
        for line in [
            r#"copybench_last_run_duration_seconds{backend="thread",sync="lock",workers="2"} 0.25"#,
            r#"copybench_cpu_records{backend="thread",cpu="1",sync="lock",workers="2"} 5"#,
            r#"copybench_runs_total{backend="thread",sync="lock",workers="2"} 1"#,
            r#"copybench_context_switches{backend="thread",kind="voluntary",sync="lock",workers="2"} 7"#,
            r#"copybench_run_duration_seconds_bucket{backend="thread",sync="lock",workers="2",le="0.1"} 0"#,
            r#"copybench_run_duration_seconds_bucket{backend="thread",sync="lock",workers="2",le="+Inf"} 1"#,
            r#"copybench_run_duration_seconds_sum{backend="thread",sync="lock",workers="2"} 0.25"#,
            r#"copybench_last_success_timestamp_seconds{backend="thread",sync="lock",workers="2"} 1000.5"#,
            r#"copybench_point_median_seconds{backend="thread",sync="lock",workers="2"} 0.25"#,
            r#"copybench_point_runs{backend="thread",sync="lock",workers="2"} 1"#,
            r#"copybench_speedup_ratio{backend="thread",sync="lock",workers="2"} 1"#,
            r#"copybench_parallel_efficiency_ratio{backend="thread",sync="lock",workers="2"} 0.5"#,
            r#"copybench_run_throttled{backend="thread",sync="lock",workers="2"} 0"#,
            // One pool size is too few for a fit: NaN, but the series is there.
            r#"copybench_usl_sigma{backend="thread",sync="lock"} NaN"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        let text = exposition(vec![state(spec(2), Some(record(2, &[0])))], true);
        assert!(!text.contains(r#"cpu="1""#), "stale CPU series:\n{text}");
    }

    #[test]
    fn only_the_given_specs_are_exported() {
        let text = exposition(vec![state(spec(1), Some(record(1, &[0])))], true);
        assert!(!text.contains(r#"workers="2""#), "{text}");
        assert!(
            text.contains(r#"copybench_pool_workers{backend="thread",sync="lock",workers="1"} 1"#)
        );
    }

    #[test]
    fn a_run_that_measured_nothing_has_nan_results_and_keeps_its_last_success() {
        let mut failed = RunRecord::failed(&spec(1), 1990.0, FailureReason::Timeout, "slow".into());
        failed.finished_at = 2000.0;
        let mut series = state(spec(1), Some(failed));
        series.last_success_at = Some(1000.5);
        let text = exposition(vec![series], true);
        let labels = r#"{backend="thread",sync="lock",workers="1"}"#;
        for line in [
            format!("copybench_last_run_duration_seconds{labels} NaN"),
            format!("copybench_last_run_success{labels} 0"),
            format!("copybench_last_run_timestamp_seconds{labels} 2000"),
            format!("copybench_last_success_timestamp_seconds{labels} 1000.5"),
        ] {
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        assert!(!text.contains("cpu=\""), "{text}");
    }

    #[test]
    fn a_combination_not_run_yet_has_no_success_or_failure() {
        let text = exposition(vec![state(spec(1), None)], true);
        let labels = r#"{backend="thread",sync="lock",workers="1"}"#;
        for line in [
            format!("copybench_last_run_success{labels} NaN"),
            format!("copybench_last_run_duration_seconds{labels} NaN"),
            format!("copybench_last_success_timestamp_seconds{labels} 0"),
        ] {
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn per_cpu_can_be_switched_off() {
        let text = exposition(vec![state(spec(1), Some(record(1, &[0])))], false);
        assert!(!text.contains("copybench_cpu_records"));
    }
}
