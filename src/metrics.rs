//! Every metric the exporter publishes, declared once, and rendered from the results model.
//!
//! A sweep is far too heavy to run at scrape time, so run results are cached: they describe
//! the latest run of each configured spec, and every cached family's HELP says so, with
//! `copybench_last_run_timestamp_seconds` telling their age. As node_exporter's collectors do,
//! the families are built afresh from the current state (a [`Snapshot`] of the results model)
//! each time it changes, so no series outlives the spec it describes and nothing keeps its own
//! copy of a result. The rendered text is kept; a scrape sends it plus a fresh rendering of
//! the few live families (the process metrics, the run-in-progress gauge), so scraping stays
//! cheap while a sweep keeps the CPUs busy. Probes get families of their own holding only that
//! probe's results.

use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::buf::Chain;
use bytes::{Buf, Bytes};
use prometheus::core::{Collector, Desc};
use prometheus::process_collector::ProcessCollector;
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{Encoder, IntCounterVec, IntGauge, Registry, TextEncoder};

use crate::analysis::usl::Fit;
use crate::host::Capacity;
use crate::results::{Detection, Point, SeriesState, Snapshot};
use crate::run::{FailureReason, Measurement, RunRecord};
use crate::workload::Spec;

/// Added to the HELP of every cached family.
const CACHED: &str = " Cached from the latest run of the combination (NaN if it measured nothing); copybench_last_run_timestamp_seconds gives its age.";

/// A result gauge: name, HELP, and its value in a run's measurement.
type ResultGauge = (&'static str, &'static str, fn(&Spec, &Measurement) -> f64);

/// The gauges that describe one run's results, shared by the daemon and probes.
const RESULT_GAUGES: &[ResultGauge] = &[
    (
        "copybench_last_run_duration_seconds",
        "Time from the first task handed out to the last task done.",
        |_, m| m.duration_seconds,
    ),
    (
        "copybench_last_run_lines",
        "Input lines (and tasks) of the run.",
        |s, _| s.lines as f64,
    ),
    (
        "copybench_disorder_lines",
        "Output lines out of position (line at position p is not line{p}).",
        |_, m| m.output.disorder as f64,
    ),
    (
        "copybench_duplicate_lines",
        "Output lines beyond one per input line.",
        |_, m| m.output.duplicates as f64,
    ),
    (
        "copybench_missing_lines",
        "Input lines missing from the output.",
        |_, m| m.output.missing as f64,
    ),
    (
        "copybench_torn_records",
        "Records interleaved with another writer's.",
        |_, m| m.output.torn_records as f64,
    ),
    (
        "copybench_worker_processes",
        "Distinct worker pids in the output.",
        |_, m| m.output.pids as f64,
    ),
    (
        "copybench_worker_threads_max",
        "Most threads a record reported for its process.",
        |_, m| m.output.threads_max as f64,
    ),
    (
        "copybench_worker_threads_min",
        "Fewest threads a record reported for its process.",
        |_, m| m.output.threads_min as f64,
    ),
    (
        "copybench_cpus_used",
        "Distinct CPUs the records name.",
        |_, m| m.output.cpus_used as f64,
    ),
    (
        "copybench_cpu_migrations",
        "Consecutive tasks of one worker on different CPUs.",
        |_, m| m.cpu_migrations as f64,
    ),
];

const CONTEXT_SWITCHES: (&str, &str) = (
    "copybench_context_switches",
    "Context switches of all workers during the run, by kind.",
);

const CPU_RECORDS: (&str, &str) = ("copybench_cpu_records", "Records written per CPU number.");

/// One metric family under construction.
struct Family(MetricFamily);

impl Family {
    fn new(name: &str, help: &str, kind: MetricType) -> Family {
        let mut family = MetricFamily::default();
        family.set_name(name.to_owned());
        family.set_help(help.to_owned());
        family.set_field_type(kind);
        Family(family)
    }

    /// Adds a sample; label pairs are sorted by name, as the registry would.
    fn add(&mut self, labels: &[(&str, &str)], set: impl FnOnce(&mut proto::Metric)) {
        let mut pairs: Vec<proto::LabelPair> = labels
            .iter()
            .map(|(name, value)| {
                let mut pair = proto::LabelPair::default();
                pair.set_name((*name).to_owned());
                pair.set_value((*value).to_owned());
                pair
            })
            .collect();
        pairs.sort_by(|a, b| a.name().cmp(b.name()));
        let mut metric = proto::Metric::default();
        metric.set_label(pairs);
        set(&mut metric);
        self.0.mut_metric().push(metric);
    }

    fn gauge(&mut self, labels: &[(&str, &str)], value: f64) {
        self.add(labels, |m| {
            let mut gauge = proto::Gauge::default();
            gauge.set_value(value);
            m.set_gauge(gauge);
        });
    }

    fn counter(&mut self, labels: &[(&str, &str)], value: u64) {
        self.add(labels, |m| {
            let mut counter = proto::Counter::default();
            counter.set_value(value as f64);
            m.set_counter(counter);
        });
    }
}

/// The label pairs that identify a spec's series: backend, sync, workers.
struct SeriesLabels {
    backend: &'static str,
    sync: &'static str,
    workers: String,
}

impl SeriesLabels {
    fn of(spec: &Spec) -> Self {
        SeriesLabels {
            backend: spec.backend.as_str(),
            sync: spec.sync.as_str(),
            workers: spec.workers.to_string(),
        }
    }

    fn with<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut labels = vec![
            ("backend", self.backend),
            ("sync", self.sync),
            ("workers", self.workers.as_str()),
        ];
        labels.extend_from_slice(extra);
        labels
    }
}

/// The result families of runs: one gauge family per [`RESULT_GAUGES`] entry, context
/// switches by kind and, if wanted, records per CPU.
struct ResultFamilies {
    gauges: Vec<Family>,
    context_switches: Family,
    cpu_records: Option<Family>,
}

impl ResultFamilies {
    fn new(help_suffix: &str, per_cpu: bool) -> Self {
        let gauge = |(name, help): (&str, &str)| {
            Family::new(name, &format!("{help}{help_suffix}"), MetricType::GAUGE)
        };
        ResultFamilies {
            gauges: RESULT_GAUGES
                .iter()
                .map(|(name, help, _)| gauge((name, help)))
                .collect(),
            context_switches: gauge(CONTEXT_SWITCHES),
            cpu_records: per_cpu.then(|| gauge(CPU_RECORDS)),
        }
    }

    /// Adds `spec`'s results: `measurement`'s values, or NaN without one.
    fn add(&mut self, spec: &Spec, measurement: Option<&Measurement>) {
        let labels = SeriesLabels::of(spec);
        for (family, (_, _, value)) in self.gauges.iter_mut().zip(RESULT_GAUGES) {
            family.gauge(
                &labels.with(&[]),
                measurement.map_or(f64::NAN, |m| value(spec, m)),
            );
        }
        for (kind, value) in [
            ("voluntary", measurement.map(|m| m.voluntary_ctx_switches)),
            (
                "involuntary",
                measurement.map(|m| m.involuntary_ctx_switches),
            ),
        ] {
            self.context_switches.gauge(
                &labels.with(&[("kind", kind)]),
                value.map_or(f64::NAN, |v| v as f64),
            );
        }
        if let (Some(family), Some(m)) = (&mut self.cpu_records, measurement) {
            for (cpu, records) in &m.output.cpu_records {
                family.gauge(&labels.with(&[("cpu", &cpu.to_string())]), *records as f64);
            }
        }
    }

    fn into_families(self) -> impl Iterator<Item = Family> {
        self.gauges
            .into_iter()
            .chain([self.context_switches])
            .chain(self.cpu_records)
    }
}

/// The daemon's own state that the metrics publish beside the results.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonStatus {
    /// Whether the last configuration load or reload succeeded.
    pub last_reload_ok: bool,
    /// Unix time of the last successful configuration load.
    pub last_reload_success_at: f64,
    /// The CPUs the exporter may use.
    pub capacity: Capacity,
    /// Time from one sweep's start to the next, after the CPU budget stretched it (jitter
    /// aside).
    pub interval_seconds: f64,
}

/// A per-spec gauge of a point summary: name, HELP, value.
type PointGauge = (&'static str, &'static str, fn(&Point) -> Option<f64>);

/// A per-spec gauge of the change-point detectors: name, HELP, value.
type DetectionGauge = (&'static str, &'static str, fn(&Detection) -> Option<f64>);

/// The gauges of what the change-point detectors said of a combination.
const DETECTION_GAUGES: &[DetectionGauge] = &[
    (
        "copybench_regression_detected",
        "1 if the latest change point of the combination's per-sweep medians is a slowdown beyond [analysis] min_magnitude, shown by the last two sweeps, and no later change undid it.",
        |d| Some(f64::from(d.regression.is_some())),
    ),
    (
        "copybench_regression_ratio",
        "After over before at the latest change point: means for E-divisive's, medians for the tail test's (NaN without one).",
        |d| d.changes.last().map(|c| c.change.ratio),
    ),
    (
        "copybench_regression_pvalue",
        "P-value of the latest change point (NaN without one).",
        |d| d.changes.last().map(|c| c.change.pvalue),
    ),
    (
        "copybench_regression_change_timestamp_seconds",
        "Unix time of the first sweep after the latest change point (NaN without one).",
        |d| d.changes.last().map(|c| c.time),
    ),
];

/// A per-(backend, sync) gauge of the scalability fit: name, HELP, value.
type UslGauge = (&'static str, &'static str, fn(&Fit) -> Option<f64>);

/// The gauges of the Universal Scalability Law fitted to each backend and sync mode.
const USL_GAUGES: &[UslGauge] = &[
    (
        "copybench_usl_sigma",
        "Contention (sigma) of the Universal Scalability Law fitted to the latest sweep's median throughput by pool size (NaN when no fit: fewer than 4 pool sizes).",
        |f| Some(f.sigma.value),
    ),
    (
        "copybench_usl_sigma_lower",
        "Lower bound of the 95 % interval of sigma.",
        |f| Some(f.sigma.lower),
    ),
    (
        "copybench_usl_sigma_upper",
        "Upper bound of the 95 % interval of sigma.",
        |f| Some(f.sigma.upper),
    ),
    (
        "copybench_usl_kappa",
        "Coherency (kappa) of the fit; 0 when it fell back to Amdahl's law.",
        |f| Some(f.kappa.value),
    ),
    (
        "copybench_usl_kappa_lower",
        "Lower bound of the 95 % interval of kappa.",
        |f| Some(f.kappa.lower),
    ),
    (
        "copybench_usl_kappa_upper",
        "Upper bound of the 95 % interval of kappa.",
        |f| Some(f.kappa.upper),
    ),
    (
        "copybench_usl_lambda",
        "Throughput of one worker without contention (lambda), in lines per second.",
        |f| Some(f.lambda.value),
    ),
    (
        "copybench_usl_peak_workers",
        "Pool size of peak throughput, sqrt((1-sigma)/kappa) (NaN without a finite peak).",
        |f| f.peak_concurrency,
    ),
    (
        "copybench_usl_r_squared",
        "Share of the throughput's variance the fit explains.",
        |f| Some(f.r_squared),
    ),
];

/// The gauges of a combination's summary in its latest finished sweep.
const POINT_GAUGES: &[PointGauge] = &[
    (
        "copybench_point_runs",
        "Runs of the combination that count in its latest sweep: successful, undisturbed, not the warm-up.",
        |p| Some(p.runs as f64),
    ),
    (
        "copybench_point_median_seconds",
        "Median duration of the combination's runs in its latest sweep.",
        |p| p.median_seconds,
    ),
    (
        "copybench_point_median_lower_seconds",
        "Lower bound of the order-statistic confidence interval of the median (95 %, or [min, max] with fewer than 6 runs).",
        |p| p.median_interval.map(|i| i.lower),
    ),
    (
        "copybench_point_median_upper_seconds",
        "Upper bound of the order-statistic confidence interval of the median.",
        |p| p.median_interval.map(|i| i.upper),
    ),
    (
        "copybench_point_min_seconds",
        "Shortest duration of the combination's runs in its latest sweep.",
        |p| p.min_seconds,
    ),
    (
        "copybench_point_mad_seconds",
        "Median absolute deviation of the durations in the latest sweep.",
        |p| p.mad_seconds,
    ),
    (
        "copybench_point_cv_ratio",
        "Coefficient of variation of the durations in the latest sweep.",
        |p| p.cv,
    ),
    (
        "copybench_point_noisy",
        "1 if the coefficient of variation is above [analysis] max_cv.",
        |p| Some(f64::from(p.noisy)),
    ),
    (
        "copybench_speedup_ratio",
        "Median 1-worker duration over this combination's median, in its latest sweep.",
        |p| p.speedup.map(|s| s.value),
    ),
    (
        "copybench_speedup_lower_ratio",
        "Lower bound of the 95 % bootstrap interval of the speedup.",
        |p| p.speedup.map(|s| s.lower),
    ),
    (
        "copybench_speedup_upper_ratio",
        "Upper bound of the 95 % bootstrap interval of the speedup.",
        |p| p.speedup.map(|s| s.upper),
    ),
    (
        "copybench_parallel_efficiency_ratio",
        "Speedup per worker.",
        |p| p.efficiency.map(|s| s.value),
    ),
    (
        "copybench_parallel_efficiency_lower_ratio",
        "Lower bound of the 95 % bootstrap interval of the parallel efficiency.",
        |p| p.efficiency.map(|s| s.lower),
    ),
    (
        "copybench_parallel_efficiency_upper_ratio",
        "Upper bound of the 95 % bootstrap interval of the parallel efficiency.",
        |p| p.efficiency.map(|s| s.upper),
    ),
    (
        "copybench_run_throttled",
        "1 if any run of the combination in its latest sweep was throttled by the CPU quota beyond [analysis] max_throttled_ratio.",
        |p| Some(f64::from(p.throttled_runs > 0)),
    ),
    (
        "copybench_point_throttled_seconds",
        "Time the CPU quota held back the combination's runs in its latest sweep.",
        |p| Some(p.throttled_seconds),
    ),
    (
        "copybench_point_steal_seconds",
        "Steal time of the host (all CPUs) during the combination's runs in its latest sweep.",
        |p| Some(p.steal_seconds),
    ),
];

/// Every family of the daemon's `/metrics` that changes only when a run ends, a sweep ends
/// or the configuration is (re)loaded.
fn cached_families(snapshot: &Snapshot, status: &DaemonStatus, per_cpu: bool) -> Vec<Family> {
    let gauge = |name: &str, help: &str| Family::new(name, help, MetricType::GAUGE);
    let counter = |name: &str, help: &str| Family::new(name, help, MetricType::COUNTER);
    let mut results = ResultFamilies::new(CACHED, per_cpu);
    let mut points: Vec<Family> = POINT_GAUGES
        .iter()
        .map(|(name, help, _)| gauge(name, help))
        .collect();
    let mut detections: Vec<Family> = DETECTION_GAUGES
        .iter()
        .map(|(name, help, _)| gauge(name, help))
        .collect();
    let mut pool = gauge(
        "copybench_pool_workers",
        "Pool size of each configured combination: its workers label as a number, for arithmetic in rules.",
    );
    let mut success = gauge(
        "copybench_last_run_success",
        "Whether the latest run of the combination succeeded (1) or failed (0); NaN before its first run.",
    );
    let mut finished = gauge(
        "copybench_last_run_timestamp_seconds",
        "Unix time the latest run of the combination ended.",
    );
    let mut succeeded = gauge(
        "copybench_last_success_timestamp_seconds",
        "Unix time the latest successful run of the combination ended (0: none yet).",
    );
    let mut runs = counter("copybench_runs_total", "Runs completed or failed.");
    let mut failures = counter("copybench_run_failures_total", "Failed runs by reason.");
    let mut durations = Family::new(
        "copybench_run_duration_seconds",
        "Durations of completed runs.",
        MetricType::HISTOGRAM,
    );
    for SeriesState {
        spec,
        latest,
        last_success_at,
        point,
        detection,
        tally,
    } in &snapshot.series
    {
        let labels = SeriesLabels::of(spec);
        let l = labels.with(&[]);
        for (family, (_, _, value)) in points.iter_mut().zip(POINT_GAUGES) {
            family.gauge(&l, point.as_ref().and_then(value).unwrap_or(f64::NAN));
        }
        let detection = detection.clone().unwrap_or_default();
        for (family, (_, _, value)) in detections.iter_mut().zip(DETECTION_GAUGES) {
            family.gauge(&l, value(&detection).unwrap_or(f64::NAN));
        }
        results.add(spec, latest.as_ref().and_then(|r| r.measurement.as_ref()));
        pool.gauge(&l, f64::from(spec.workers));
        success.gauge(
            &l,
            latest.as_ref().map_or(f64::NAN, |r| f64::from(r.success)),
        );
        finished.gauge(&l, latest.as_ref().map_or(0.0, |r| r.finished_at));
        succeeded.gauge(&l, last_success_at.unwrap_or(0.0));
        runs.counter(&l, tally.runs);
        for reason in FailureReason::ALL {
            let count = tally.failures.get(reason).copied().unwrap_or(0);
            failures.counter(&labels.with(&[("reason", reason.as_str())]), count);
        }
        durations.add(&l, |m| {
            let mut histogram = proto::Histogram::default();
            histogram.set_sample_count(tally.duration_count);
            histogram.set_sample_sum(tally.duration_sum);
            let buckets = snapshot
                .bounds
                .iter()
                .zip(&tally.duration_buckets)
                .map(|(bound, count)| {
                    let mut bucket = proto::Bucket::default();
                    bucket.set_upper_bound(*bound);
                    bucket.set_cumulative_count(*count);
                    bucket
                })
                .collect();
            histogram.set_bucket(buckets);
            m.set_histogram(histogram);
        });
    }
    let mut sweep_duration = gauge(
        "copybench_sweep_duration_seconds",
        "Wall time of the last complete sweep.",
    );
    sweep_duration.gauge(&[], snapshot.last_sweep_seconds.unwrap_or(0.0));
    let mut sweeps = counter("copybench_sweeps_total", "Sweeps completed.");
    sweeps.counter(&[], snapshot.sweeps_completed);
    let mut save_failures = counter(
        "copybench_state_save_failures_total",
        "Writes to the run history (runs, sweeps, retention) that failed; the runs are still counted and exported.",
    );
    save_failures.counter(&[], snapshot.save_failures);
    let mut reload_ok = gauge(
        "copybench_config_last_reload_successful",
        "Whether the last configuration reload succeeded.",
    );
    reload_ok.gauge(&[], f64::from(status.last_reload_ok));
    let mut reload_time = gauge(
        "copybench_config_last_reload_success_timestamp_seconds",
        "Unix time of the last successful configuration load.",
    );
    reload_time.gauge(&[], status.last_reload_success_at);
    let mut calibration = gauge(
        "copybench_calibration_seconds",
        "Median time of the latest sweep's calibration runs: a fixed single-thread run of the workload's file operations on 1,000 lines (NaN before the first).",
    );
    calibration.gauge(&[], snapshot.calibration_seconds.unwrap_or(f64::NAN));
    let mut cpu = counter(
        "copybench_workload_cpu_seconds_total",
        "CPU time (user and system) the workers of scheduled sweeps used, calibration included (probes are not counted).",
    );
    cpu.add(&[], |m| {
        let mut counter = proto::Counter::default();
        counter.set_value(snapshot.workload_cpu_seconds);
        m.set_counter(counter);
    });
    let mut quota = gauge(
        "copybench_cpu_quota_cores",
        "CPU quota of the exporter's cgroup, in cores (+Inf without one).",
    );
    quota.gauge(&[], status.capacity.quota_cores.unwrap_or(f64::INFINITY));
    let mut cpuset = gauge(
        "copybench_cpuset_cpus",
        "CPUs in the exporter's affinity mask (cpuset).",
    );
    cpuset.gauge(&[], f64::from(status.capacity.cpuset_cpus));
    let mut interval = gauge(
        "copybench_schedule_interval_seconds",
        "Time between sweep starts in force: [schedule] interval, or longer when the last sweep's CPU time would exceed [schedule] max_duty_cycle.",
    );
    interval.gauge(&[], status.interval_seconds);
    let mut build_info = gauge(
        "copybench_build_info",
        "A metric with a constant '1' value labeled by version, revision and rustc_version.",
    );
    build_info.gauge(
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("revision", env!("COPYBENCH_REVISION")),
            ("rustc_version", env!("COPYBENCH_RUSTC_VERSION")),
        ],
        1.0,
    );
    let mut families = vec![
        pool,
        success,
        finished,
        succeeded,
        runs,
        failures,
        durations,
        sweep_duration,
        sweeps,
        save_failures,
        reload_ok,
        reload_time,
        build_info,
        calibration,
        cpu,
        quota,
        cpuset,
        interval,
    ];
    families.extend(results.into_families());
    families.extend(points);
    families.extend(detections);
    let mut usl: Vec<Family> = USL_GAUGES
        .iter()
        .map(|(name, help, _)| gauge(name, help))
        .collect();
    for s in &snapshot.scaling {
        let labels = [("backend", s.backend.as_str()), ("sync", s.sync.as_str())];
        for (family, (_, _, value)) in usl.iter_mut().zip(USL_GAUGES) {
            let v = s.fit.as_ref().ok().and_then(value);
            family.gauge(&labels, v.unwrap_or(f64::NAN));
        }
    }
    families.extend(usl);
    families
}

/// The daemon's published metrics: the rendered cached families and the live registry.
pub struct Metrics {
    /// The rendered exposition of the cached families, replaced at every change.
    exposition: RwLock<Bytes>,
    /// Families read fresh at every scrape.
    live: Registry,
    in_progress: IntGauge,
    probes: IntCounterVec,
    per_cpu: bool,
}

/// What became of a `/probe` request: the `result` label of `copybench_probes_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeResult {
    /// The run succeeded.
    Success,
    /// The run failed.
    Failure,
    /// Refused: another run was in progress.
    Busy,
    /// Refused: sooner than `[probe] min_interval` after the previous one.
    RateLimited,
    /// Refused: bad parameters.
    BadRequest,
    /// Refused: probes are switched off.
    Disabled,
}

names!(ProbeResult, "probe result", Success => "success", Failure => "failure", Busy => "busy",
    RateLimited => "rate_limited", BadRequest => "bad_request", Disabled => "disabled");

impl Metrics {
    /// Sets up the live families; `per_cpu` adds `copybench_cpu_records`. Nothing cached is
    /// published until the first [`Metrics::update`].
    pub fn new(per_cpu: bool) -> prometheus::Result<Self> {
        let live = Registry::new();
        let in_progress = IntGauge::new(
            "copybench_run_in_progress",
            "1 while a run (scheduled or probe) is executing.",
        )?;
        live.register(Box::new(in_progress.clone()))?;
        live.register(Box::new(ProcessMetrics::default()))?;
        let probes = IntCounterVec::new(
            prometheus::Opts::new(
                "copybench_probes_total",
                "/probe requests by what became of them: success, failure, or refused (busy, rate_limited, bad_request, disabled).",
            ),
            &["result"],
        )?;
        for result in ProbeResult::ALL {
            probes.with_label_values(&[result.as_str()]);
        }
        live.register(Box::new(probes.clone()))?;
        Ok(Metrics {
            exposition: RwLock::new(Bytes::new()),
            live,
            in_progress,
            probes,
            per_cpu,
        })
    }

    /// Counts a `/probe` request.
    pub fn probed(&self, result: ProbeResult) {
        self.probes.with_label_values(&[result.as_str()]).inc();
    }

    /// Re-renders the cached families from `snapshot` and `status`; callers take their
    /// snapshots and update one at a time.
    pub fn update(&self, snapshot: &Snapshot, status: &DaemonStatus) {
        let text = encode(cached_families(snapshot, status, self.per_cpu));
        // The caller serialises updates, so that an older snapshot cannot land last.
        *self.exposition.write().unwrap_or_else(|p| p.into_inner()) = Bytes::from(text);
    }

    /// Marks a run as executing until the returned guard is dropped.
    pub fn running(&self) -> Running {
        self.in_progress.set(1);
        Running(self.in_progress.clone())
    }

    /// The text exposition of every family: the cached text, then the live families, as two
    /// buffers (the cached text is shared, not copied, by every scrape).
    pub fn render(&self) -> Chain<Bytes, Bytes> {
        let cached = self
            .exposition
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let live = encode(self.live.gather().into_iter().map(Family));
        cached.chain(Bytes::from(live))
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
pub fn render_probe(record: &RunRecord, seconds: f64, per_cpu: bool) -> String {
    let mut success = Family::new(
        "copybench_probe_success",
        "Whether the probe's run succeeded.",
        MetricType::GAUGE,
    );
    success.gauge(&[], f64::from(record.success));
    let mut duration = Family::new(
        "copybench_probe_duration_seconds",
        "Wall time the probe took, set-up included.",
        MetricType::GAUGE,
    );
    duration.gauge(&[], seconds);
    let mut families = vec![success, duration];
    if let Some(m) = &record.measurement {
        let mut results = ResultFamilies::new("", per_cpu);
        results.add(&record.spec, Some(m));
        families.extend(results.into_families());
    }
    encode(families)
}

/// Keeps `copybench_run_in_progress` at 1 while alive.
pub struct Running(IntGauge);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.set(0);
    }
}

/// The text format of `families`, sorted by name as a registry gathers them; families with
/// no samples are left out, as a registry leaves them out (the encoder refuses them).
fn encode(families: impl IntoIterator<Item = Family>) -> String {
    let mut families: Vec<MetricFamily> = families
        .into_iter()
        .map(|f| f.0)
        .filter(|f| !f.get_metric().is_empty())
        .collect();
    families.sort_by(|a, b| a.name().cmp(b.name()));
    let mut buf = Vec::new();
    // Encoding well-formed families cannot fail; an empty answer would show if it did.
    let _ = TextEncoder::new().encode(&families, &mut buf);
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
    use crate::results::Tally;
    use crate::run::fixtures::{measured, spec};

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
            duration_buckets: vec![0, 1],
            duration_count: 1,
            duration_sum: 0.25,
            ..Tally::default()
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

    fn exposition(series: Vec<SeriesState>, per_cpu: bool) -> String {
        let metrics = Metrics::new(per_cpu).expect("metrics");
        let scaling = crate::results::scaling(series.iter().filter_map(|s| s.point.as_ref()));
        let snapshot = Snapshot {
            scaling,
            series,
            bounds: vec![0.1, 1.0],
            sweeps_completed: 3,
            last_sweep_seconds: Some(2.5),
            workload_cpu_seconds: 12.5,
            calibration_seconds: Some(0.01),
            save_failures: 0,
        };
        let status = DaemonStatus {
            last_reload_ok: true,
            last_reload_success_at: 7.0,
            capacity: Capacity {
                quota_cores: None,
                cpuset_cpus: 2,
            },
            interval_seconds: 300.0,
        };
        metrics.update(&snapshot, &status);
        let mut text = metrics.render();
        String::from_utf8_lossy(&text.copy_to_bytes(text.remaining())).into_owned()
    }

    #[test]
    fn configured_specs_are_exported_before_any_run() {
        let text = exposition(vec![state(spec(1), None), state(spec(2), None)], true);
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
        assert!(text.contains(r#"copybench_last_success_timestamp_seconds{backend="thread",sync="lock",workers="1"} 0"#));
        assert!(text.contains("copybench_sweeps_total 3"));
        assert!(text.contains("copybench_config_last_reload_success_timestamp_seconds 7"));
        // The encoder writes +Inf as "inf", which Prometheus reads as +Inf.
        assert!(text.contains("copybench_cpu_quota_cores inf"), "{text}");
        assert!(text.contains("copybench_cpuset_cpus 2"));
        assert!(text.contains("copybench_workload_cpu_seconds_total 12.5"));
        assert!(text.contains("copybench_calibration_seconds 0.01"));
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
        assert!(text.contains("copybench_run_in_progress 0"));
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
    fn per_cpu_can_be_switched_off_and_probes_have_families_of_their_own() {
        let text = exposition(vec![state(spec(1), Some(record(1, &[0])))], false);
        assert!(!text.contains("copybench_cpu_records"));
        let probe = render_probe(&record(1, &[0]), 0.5, true);
        assert!(
            probe.contains("copybench_probe_success 1")
                && probe.contains("copybench_probe_duration_seconds 0.5")
        );
        assert!(probe.contains("copybench_disorder_lines{"));
        assert!(!probe.contains("Cached from"));
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
