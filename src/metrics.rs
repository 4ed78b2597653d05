//! Every metric the exporter publishes, declared once, and how a run record becomes samples.
//!
//! A sweep is far too heavy to run at scrape time, so run results are cached: they describe
//! the last completed run of each combination, and every cached family's HELP says so, with
//! `copybench_last_run_timestamp_seconds` telling their age. Probes get a fresh registry of
//! their own holding only that probe's results.
//!
//! Families that change only when a run ends (or the configuration is reloaded) live in one
//! registry whose exposition is rendered once per change; a scrape sends that text plus a
//! fresh rendering of the few live families (the process metrics, the run-in-progress gauge),
//! so scraping stays cheap while a sweep keeps the CPUs busy.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use prometheus::core::{Collector, Desc};
use prometheus::process_collector::ProcessCollector;
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};

use crate::run::{FailureReason, Measurement, RunRecord};
use crate::workload::Spec;

/// Labels that identify a combination.
const COMBINATION: [&str; 3] = ["backend", "sync", "workers"];

/// Added to the HELP of every cached family.
const CACHED: &str = " Cached from the latest run of the combination (NaN if it measured nothing); copybench_last_run_timestamp_seconds gives its age.";

/// The gauges that describe one run's results, shared by the daemon's registry and probes.
struct ResultFamilies {
    duration: GaugeVec,
    lines: GaugeVec,
    disorder: GaugeVec,
    duplicates: GaugeVec,
    missing: GaugeVec,
    torn: GaugeVec,
    processes: GaugeVec,
    threads_max: GaugeVec,
    threads_min: GaugeVec,
    cpu_records: Option<GaugeVec>,
    cpus_used: GaugeVec,
    migrations: GaugeVec,
    context_switches: GaugeVec,
}

/// Registers `collector` in `registry` and hands it back for use.
fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> prometheus::Result<C> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

fn gauge(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<GaugeVec> {
    register(registry, GaugeVec::new(Opts::new(name, help), labels)?)
}

/// The label values that identify a combination: backend, sync, workers.
type Combination = [String; 3];

fn refs(c: &Combination) -> [&str; 3] {
    [&c[0], &c[1], &c[2]]
}

fn labels(spec: &Spec) -> Combination {
    [
        spec.backend.to_string(),
        spec.sync.to_string(),
        spec.workers.to_string(),
    ]
}

impl ResultFamilies {
    fn new(registry: &Registry, help_suffix: &str, per_cpu: bool) -> prometheus::Result<Self> {
        let g = |name: &str, help: &str| {
            gauge(
                registry,
                name,
                &format!("{help}{help_suffix}"),
                &COMBINATION,
            )
        };
        let mut with_kind = COMBINATION.to_vec();
        with_kind.push("kind");
        let mut with_cpu = COMBINATION.to_vec();
        with_cpu.push("cpu");
        Ok(ResultFamilies {
            duration: g(
                "copybench_last_run_duration_seconds",
                "Time from the first task handed out to the last task done.",
            )?,
            lines: g(
                "copybench_last_run_lines",
                "Input lines (and tasks) of the run.",
            )?,
            disorder: g(
                "copybench_disorder_lines",
                "Output lines out of position (line at position p is not line{p}).",
            )?,
            duplicates: g(
                "copybench_duplicate_lines",
                "Output lines beyond one per input line.",
            )?,
            missing: g(
                "copybench_missing_lines",
                "Input lines missing from the output.",
            )?,
            torn: g(
                "copybench_torn_records",
                "Records interleaved with another writer's.",
            )?,
            processes: g(
                "copybench_worker_processes",
                "Distinct worker pids in the output.",
            )?,
            threads_max: g(
                "copybench_worker_threads_max",
                "Most threads a record reported for its process.",
            )?,
            threads_min: g(
                "copybench_worker_threads_min",
                "Fewest threads a record reported for its process.",
            )?,
            cpu_records: if per_cpu {
                Some(gauge(
                    registry,
                    "copybench_cpu_records",
                    &format!("Records written per CPU number.{help_suffix}"),
                    &with_cpu,
                )?)
            } else {
                None
            },
            cpus_used: g("copybench_cpus_used", "Distinct CPUs the records name.")?,
            migrations: g(
                "copybench_cpu_migrations",
                "Consecutive tasks of one worker on different CPUs.",
            )?,
            context_switches: gauge(
                registry,
                "copybench_context_switches",
                &format!("Context switches of all workers during the run, by kind.{help_suffix}"),
                &with_kind,
            )?,
        })
    }

    /// Sets every family for `c` to NaN: known combination, no result yet.
    fn unknown(&self, c: &Combination) {
        let l = refs(c);
        for family in self.plain() {
            family.with_label_values(&l).set(f64::NAN);
        }
        for kind in ["voluntary", "involuntary"] {
            self.context_switches
                .with_label_values(&[l[0], l[1], l[2], kind])
                .set(f64::NAN);
        }
    }

    fn plain(&self) -> [&GaugeVec; 11] {
        [
            &self.duration,
            &self.lines,
            &self.disorder,
            &self.duplicates,
            &self.missing,
            &self.torn,
            &self.processes,
            &self.threads_max,
            &self.threads_min,
            &self.cpus_used,
            &self.migrations,
        ]
    }

    /// Publishes `m`; returns the CPUs it set, so stale CPU series can be removed.
    fn set(&self, c: &Combination, lines: u64, m: &Measurement) -> BTreeSet<u32> {
        let l = refs(c);
        let values = [
            m.duration_seconds,
            lines as f64,
            m.disorder as f64,
            m.duplicates as f64,
            m.missing as f64,
            m.torn_records as f64,
            m.pids as f64,
            m.threads_max as f64,
            m.threads_min as f64,
            m.cpus_used as f64,
            m.cpu_migrations as f64,
        ];
        for (family, value) in self.plain().into_iter().zip(values) {
            family.with_label_values(&l).set(value);
        }
        for (kind, value) in [
            ("voluntary", m.voluntary_ctx_switches),
            ("involuntary", m.involuntary_ctx_switches),
        ] {
            self.context_switches
                .with_label_values(&[l[0], l[1], l[2], kind])
                .set(value as f64);
        }
        if let Some(family) = &self.cpu_records {
            for (cpu, records) in &m.cpu_records {
                family
                    .with_label_values(&[l[0], l[1], l[2], &cpu.to_string()])
                    .set(*records as f64);
            }
        }
        m.cpu_records.keys().copied().collect()
    }

    /// Removes the series of `cpus` for `c`.
    fn forget_cpus(&self, c: &Combination, cpus: impl IntoIterator<Item = u32>) {
        if let Some(family) = &self.cpu_records {
            let l = refs(c);
            for cpu in cpus {
                let _ = family.remove_label_values(&[l[0], l[1], l[2], &cpu.to_string()]);
            }
        }
    }

    /// Removes every series of `c`, with the given CPU series.
    fn forget(&self, c: &Combination, cpus: impl IntoIterator<Item = u32>) {
        let l = refs(c);
        for family in self.plain() {
            let _ = family.remove_label_values(&l);
        }
        for kind in ["voluntary", "involuntary"] {
            let _ = self
                .context_switches
                .remove_label_values(&[l[0], l[1], l[2], kind]);
        }
        self.forget_cpus(c, cpus);
    }
}

/// The daemon's registries and every family in them.
pub struct Metrics {
    /// Families that change only when a run ends or the configuration is reloaded.
    registry: Registry,
    /// Families read fresh at every scrape.
    live: Registry,
    /// The rendered exposition of `registry`, refreshed after every change.
    exposition: RwLock<Bytes>,
    results: ResultFamilies,
    pool: GaugeVec,
    success: GaugeVec,
    finished: GaugeVec,
    succeeded: GaugeVec,
    durations: HistogramVec,
    runs: IntCounterVec,
    failures: IntCounterVec,
    sweep_duration: Gauge,
    sweeps: IntCounter,
    in_progress: IntGauge,
    reload_ok: Gauge,
    reload_time: Gauge,
    /// CPUs currently exported per combination.
    cpus: Mutex<HashMap<Combination, BTreeSet<u32>>>,
    /// Combinations currently exported.
    declared: Mutex<BTreeSet<Combination>>,
}

impl Metrics {
    /// Declares every family. `buckets` are the run duration histogram's upper bounds.
    pub fn new(per_cpu: bool, buckets: Vec<f64>) -> prometheus::Result<Self> {
        let registry = Registry::new();
        let r = &registry;
        let counter = |name: &str, help: &str, labels: &[&str]| {
            register(r, IntCounterVec::new(Opts::new(name, help), labels)?)
        };
        let mut with_reason = COMBINATION.to_vec();
        with_reason.push("reason");
        let durations = register(
            r,
            HistogramVec::new(
                HistogramOpts::new(
                    "copybench_run_duration_seconds",
                    "Durations of completed runs.",
                )
                .buckets(buckets),
                &COMBINATION,
            )?,
        )?;
        let sweep_duration = register(
            r,
            Gauge::new(
                "copybench_sweep_duration_seconds",
                "Wall time of the last complete sweep.",
            )?,
        )?;
        let sweeps = register(
            r,
            IntCounter::new("copybench_sweeps_total", "Sweeps completed.")?,
        )?;
        let reload_ok = register(
            r,
            Gauge::new(
                "copybench_config_last_reload_successful",
                "Whether the last configuration reload succeeded.",
            )?,
        )?;
        let reload_time = register(
            r,
            Gauge::new(
                "copybench_config_last_reload_success_timestamp_seconds",
                "Unix time of the last successful configuration load.",
            )?,
        )?;
        let build_info = register(
            r,
            GaugeVec::new(
                Opts::new(
                    "copybench_build_info",
                    "A metric with a constant '1' value labeled by version, revision and rustc_version.",
                ),
                &["version", "revision", "rustc_version"],
            )?,
        )?;
        build_info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                env!("COPYBENCH_REVISION"),
                env!("COPYBENCH_RUSTC_VERSION"),
            ])
            .set(1.0);
        let live = Registry::new();
        let in_progress = register(
            &live,
            IntGauge::new(
                "copybench_run_in_progress",
                "1 while a run (scheduled or probe) is executing.",
            )?,
        )?;
        live.register(Box::new(ProcessMetrics::default()))?;
        Ok(Metrics {
            results: ResultFamilies::new(&registry, CACHED, per_cpu)?,
            pool: gauge(
                &registry,
                "copybench_pool_workers",
                "Pool size of each configured combination: its workers label as a number, for arithmetic in rules.",
                &COMBINATION,
            )?,
            success: gauge(
                &registry,
                "copybench_last_run_success",
                "Whether the latest run of the combination succeeded (1) or failed (0).",
                &COMBINATION,
            )?,
            finished: gauge(
                &registry,
                "copybench_last_run_timestamp_seconds",
                "Unix time the latest run of the combination ended.",
                &COMBINATION,
            )?,
            succeeded: gauge(
                &registry,
                "copybench_last_success_timestamp_seconds",
                "Unix time the latest successful run of the combination ended (0: none yet).",
                &COMBINATION,
            )?,
            runs: counter(
                "copybench_runs_total",
                "Runs completed or failed.",
                &COMBINATION,
            )?,
            failures: counter(
                "copybench_run_failures_total",
                "Failed runs by reason.",
                &with_reason,
            )?,
            durations,
            sweep_duration,
            sweeps,
            in_progress,
            reload_ok,
            reload_time,
            cpus: Mutex::new(HashMap::new()),
            declared: Mutex::new(BTreeSet::new()),
            exposition: RwLock::new(Bytes::new()),
            registry,
            live,
        })
        .inspect(Metrics::refresh)
    }

    /// Re-renders the cached families; called after every change to them.
    fn refresh(&self) {
        // Encoding under the lock keeps two refreshes from storing out of order.
        let mut exposition = self.exposition.write().unwrap_or_else(|p| p.into_inner());
        *exposition = Bytes::from(encode(&self.registry));
    }

    /// Exports exactly the combinations of `specs`: new ones before their first run (zero
    /// counters, NaN results), and no series of ones no longer configured.
    pub fn declare(&self, specs: &[Spec]) {
        let wanted: BTreeSet<Combination> = specs.iter().map(labels).collect();
        let mut declared = self.declared.lock().unwrap_or_else(|p| p.into_inner());
        for gone in declared.difference(&wanted) {
            self.forget(gone);
        }
        for spec in specs {
            let c = labels(spec);
            if declared.contains(&c) {
                continue;
            }
            let l = refs(&c);
            self.results.unknown(&c);
            self.pool.with_label_values(&l).set(f64::from(spec.workers));
            self.success.with_label_values(&l).set(0.0);
            self.finished.with_label_values(&l).set(0.0);
            self.succeeded.with_label_values(&l).set(0.0);
            self.runs.with_label_values(&l);
            self.durations.with_label_values(&l);
            for reason in FailureReason::ALL {
                self.failures
                    .with_label_values(&[l[0], l[1], l[2], reason.as_str()]);
            }
        }
        *declared = wanted;
        drop(declared);
        self.refresh();
    }

    /// Removes every series of combination `c`.
    fn forget(&self, c: &Combination) {
        let cpus = self
            .cpus
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(c);
        self.results.forget(c, cpus.unwrap_or_default());
        let l = refs(c);
        for family in [&self.pool, &self.success, &self.finished, &self.succeeded] {
            let _ = family.remove_label_values(&l);
        }
        let _ = self.runs.remove_label_values(&l);
        let _ = self.durations.remove_label_values(&l);
        for reason in FailureReason::ALL {
            let _ = self
                .failures
                .remove_label_values(&[l[0], l[1], l[2], reason.as_str()]);
        }
    }

    /// Records a run that just ended: counters, histogram and cached gauges.
    pub fn observe(&self, record: &RunRecord) {
        self.apply(record, true);
    }

    /// Sets the cached gauges from `record` without counting it (used for saved state).
    pub fn restore(&self, record: &RunRecord) {
        self.apply(record, false);
    }

    /// Publishes `record`, counting it if `count`. A combination that is no longer
    /// configured (a reload removed it while its run went on) is left out.
    fn apply(&self, record: &RunRecord, count: bool) {
        let spec = record.spec();
        let c = labels(&spec);
        let declared = self.declared.lock().unwrap_or_else(|p| p.into_inner());
        if !declared.contains(&c) {
            return;
        }
        let l = refs(&c);
        if count {
            self.runs.with_label_values(&l).inc();
            if let Some(failure) = &record.failure {
                self.failures
                    .with_label_values(&[l[0], l[1], l[2], failure.reason.as_str()])
                    .inc();
            }
            if let Some(m) = &record.measurement {
                self.durations
                    .with_label_values(&l)
                    .observe(m.duration_seconds);
            }
        }
        self.success
            .with_label_values(&l)
            .set(if record.success { 1.0 } else { 0.0 });
        self.finished.with_label_values(&l).set(record.finished_at);
        if record.success {
            self.succeeded.with_label_values(&l).set(record.finished_at);
        }
        let now = match &record.measurement {
            Some(m) => self.results.set(&c, spec.lines, m),
            None => {
                self.results.unknown(&c);
                BTreeSet::new()
            }
        };
        let mut cpus = self.cpus.lock().unwrap_or_else(|p| p.into_inner());
        let before = cpus.insert(c.clone(), now.clone()).unwrap_or_default();
        self.results
            .forget_cpus(&c, before.difference(&now).copied());
        drop((cpus, declared));
        self.refresh();
    }

    /// Records a complete sweep.
    pub fn sweep_done(&self, seconds: f64) {
        self.sweep_duration.set(seconds);
        self.sweeps.inc();
        self.refresh();
    }

    /// Marks a run as executing until the returned guard is dropped.
    pub fn running(&self) -> Running {
        self.in_progress.set(1);
        Running(self.in_progress.clone())
    }

    /// Records the outcome of a configuration (re)load.
    pub fn config_loaded(&self, ok: bool) {
        self.reload_ok.set(if ok { 1.0 } else { 0.0 });
        if ok {
            self.reload_time.set(crate::run::unix_now());
        }
        self.refresh();
    }

    /// The text exposition of every family: the cached text plus the live families.
    pub fn render(&self) -> Bytes {
        let cached = self
            .exposition
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let live = encode(&self.live);
        let mut text = BytesMut::with_capacity(cached.len() + live.len());
        text.extend_from_slice(&cached);
        text.extend_from_slice(live.as_bytes());
        text.freeze()
    }
}

/// The standard `process_*` metrics, read from `/proc` at most once per [`PROCESS_MAX_AGE`]:
/// a burst of concurrent scrapes shares one reading instead of each one opening and
/// formatting five `/proc` files; any scraper slower than that still sees a fresh reading.
struct ProcessMetrics {
    collector: ProcessCollector,
    last: Mutex<Option<(Instant, Vec<MetricFamily>)>>,
}

/// How long one reading of the process metrics serves.
const PROCESS_MAX_AGE: Duration = Duration::from_millis(100);

impl Default for ProcessMetrics {
    fn default() -> Self {
        ProcessMetrics {
            collector: ProcessCollector::for_self(),
            last: Mutex::new(None),
        }
    }
}

impl Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.collector.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match &*last {
            Some((at, families)) if at.elapsed() < PROCESS_MAX_AGE => families.clone(),
            _ => {
                let families = self.collector.collect();
                *last = Some((Instant::now(), families.clone()));
                families
            }
        }
    }
}

/// The exposition of one probe: its success, its wall time and that run's results.
pub fn render_probe(record: &RunRecord, seconds: f64, per_cpu: bool) -> prometheus::Result<String> {
    let registry = Registry::new();
    let success = Gauge::new(
        "copybench_probe_success",
        "Whether the probe's run succeeded.",
    )?;
    let duration = Gauge::new(
        "copybench_probe_duration_seconds",
        "Wall time the probe took, set-up included.",
    )?;
    register(&registry, success)?.set(if record.success { 1.0 } else { 0.0 });
    register(&registry, duration)?.set(seconds);
    let results = ResultFamilies::new(&registry, "", per_cpu)?;
    if let Some(m) = &record.measurement {
        results.set(&labels(&record.spec()), record.lines, m);
    }
    Ok(encode(&registry))
}

/// Keeps `copybench_run_in_progress` at 1 while alive.
pub struct Running(IntGauge);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.set(0);
    }
}

fn encode(registry: &Registry) -> String {
    let mut buf = Vec::new();
    // Encoding families this module built cannot fail; an empty answer would show if it did.
    let _ = TextEncoder::new().encode(&registry.gather(), &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}

/// Histogram bounds sized for the configured workload: doublings around an estimate of one
/// run's duration (quadratic in lines when re-reading, linear otherwise), from 1/8 to 16 times it.
pub fn duration_buckets(lines: u64, reread: bool) -> Vec<f64> {
    let lines = lines as f64;
    let per_task = if reread { lines * 2e-9 + 10e-6 } else { 10e-6 };
    let estimate = (lines * per_task).max(1e-3);
    (-3..=4).map(|k| estimate * 2f64.powi(k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Backend, SyncMode};

    fn spec(workers: u32) -> Spec {
        Spec {
            backend: Backend::Thread,
            sync: SyncMode::Lock,
            workers,
            lines: 10,
            reread: true,
        }
    }

    fn exposition(metrics: &Metrics) -> String {
        String::from_utf8_lossy(&metrics.render()).into_owned()
    }

    fn record(workers: u32, cpus: &[u32]) -> RunRecord {
        let json = serde_json::json!({
            "backend": "thread", "sync": "lock", "workers": workers, "lines": 10, "reread": true,
            "finished_at": 1000.5, "success": true, "duration_seconds": 0.25, "lines_per_second": 40.0,
            "disorder": 0, "duplicates": 0, "missing": 0, "torn_records": 0, "pids": 1,
            "threads_min": 3, "threads_max": 4,
            "cpu_records": cpus.iter().map(|c| (c.to_string(), serde_json::json!(5))).collect::<serde_json::Map<_, _>>(),
            "cpus_used": cpus.len(), "cpu_migrations": 2, "voluntary_ctx_switches": 7, "involuntary_ctx_switches": 1
        });
        serde_json::from_value(json).expect("record")
    }

    #[test]
    fn declared_combinations_are_exported_before_any_run() {
        let metrics = Metrics::new(true, duration_buckets(10, true)).expect("metrics");
        metrics.declare(&[spec(1), spec(2)]);
        let text = exposition(&metrics);
        assert!(text.contains(r#"copybench_last_run_duration_seconds{backend="thread",sync="lock",workers="2"} NaN"#), "{text}");
        assert!(text.contains(r#"copybench_run_failures_total{backend="thread",reason="timeout",sync="lock",workers="1"} 0"#), "{text}");
        assert!(
            text.contains("# HELP copybench_disorder_lines")
                && text.contains("Cached from the latest run")
        );
        assert!(text.contains("copybench_build_info{"));
        assert!(
            text.contains(r#"copybench_pool_workers{backend="thread",sync="lock",workers="2"} 2"#)
        );
        assert!(text.contains("process_resident_memory_bytes"));
    }

    #[test]
    fn a_run_sets_results_and_cpu_series_follow_the_latest_run() {
        let metrics = Metrics::new(true, duration_buckets(10, true)).expect("metrics");
        metrics.declare(&[spec(2)]);
        metrics.observe(&record(2, &[0, 1]));
        let text = exposition(&metrics);
        assert!(text.contains(r#"copybench_last_run_duration_seconds{backend="thread",sync="lock",workers="2"} 0.25"#), "{text}");
        assert!(
            text.contains(
                r#"copybench_cpu_records{backend="thread",cpu="1",sync="lock",workers="2"} 5"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"copybench_runs_total{backend="thread",sync="lock",workers="2"} 1"#)
        );
        metrics.observe(&record(2, &[0]));
        let text = exposition(&metrics);
        assert!(
            !text.contains(r#"cpu="1""#),
            "stale CPU series kept:\n{text}"
        );
        assert!(text.contains(r#"copybench_last_success_timestamp_seconds{backend="thread",sync="lock",workers="2"} 1000.5"#));
    }

    #[test]
    fn combinations_dropped_from_the_configuration_are_no_longer_exported() {
        let metrics = Metrics::new(true, duration_buckets(10, true)).expect("metrics");
        metrics.declare(&[spec(1), spec(2)]);
        metrics.observe(&record(2, &[0, 1]));
        metrics.declare(&[spec(1)]);
        let text = exposition(&metrics);
        assert!(!text.contains(r#"workers="2""#), "{text}");
        assert!(
            text.contains(r#"copybench_pool_workers{backend="thread",sync="lock",workers="1"} 1"#)
        );
        metrics.observe(&record(1, &[0]));
        metrics.declare(&[spec(1), spec(2)]);
        let text = exposition(&metrics);
        assert!(
            text.contains(r#"copybench_runs_total{backend="thread",sync="lock",workers="1"} 1"#),
            "a combination still configured keeps its counters:\n{text}"
        );
    }

    #[test]
    fn a_run_that_measured_nothing_clears_the_results_and_undeclared_runs_are_ignored() {
        let metrics = Metrics::new(true, duration_buckets(10, true)).expect("metrics");
        metrics.declare(&[spec(1)]);
        metrics.observe(&record(1, &[0]));
        let failed: RunRecord = serde_json::from_value(serde_json::json!({
            "backend": "thread", "sync": "lock", "workers": 1, "lines": 10, "reread": true,
            "finished_at": 2000.0, "success": false, "failure": {"reason": "timeout", "message": "slow"}
        }))
        .expect("record");
        metrics.observe(&failed);
        metrics.observe(&record(2, &[0]));
        let text = exposition(&metrics);
        let series = r#"{backend="thread",sync="lock",workers="1"}"#;
        assert!(
            text.contains(&format!("copybench_last_run_duration_seconds{series} NaN")),
            "{text}"
        );
        assert!(text.contains(&format!(
            "copybench_last_run_timestamp_seconds{series} 2000"
        )));
        assert!(text.contains(&format!(
            "copybench_last_success_timestamp_seconds{series} 1000.5"
        )));
        assert!(
            !text.contains("cpu=\""),
            "CPU series of the measured run kept:\n{text}"
        );
        assert!(
            !text.contains(r#"workers="2""#),
            "an undeclared combination was exported"
        );
    }

    #[test]
    fn per_cpu_can_be_switched_off_and_probes_have_their_own_registry() {
        let metrics = Metrics::new(false, duration_buckets(10, false)).expect("metrics");
        metrics.declare(&[spec(1)]);
        metrics.observe(&record(1, &[0]));
        let text = exposition(&metrics);
        assert!(
            text.contains(r#"copybench_runs_total{backend="thread",sync="lock",workers="1"} 1"#)
        );
        assert!(!text.contains("copybench_cpu_records"));
        let probe = render_probe(&record(1, &[0]), 0.5, true).expect("probe");
        assert!(
            probe.contains("copybench_probe_success 1")
                && probe.contains("copybench_probe_duration_seconds 0.5")
        );
        assert!(probe.contains("copybench_disorder_lines{"));
        assert!(!probe.contains("copybench_runs_total") && !probe.contains("process_"));
    }

    #[test]
    fn buckets_grow_with_the_workload() {
        let small = duration_buckets(300, true);
        let big = duration_buckets(10_000, true);
        assert_eq!(small.len(), 8);
        assert!(big[5] > small[5] * 10.0);
        assert!(small.windows(2).all(|w| w[0] < w[1]));
    }
}
