//! What the latest run of each combination said: its results (duration, disorder, writers,
//! CPUs, context switches), whether it succeeded and when. Probes answer with the same result
//! families, for their one run.

use std::collections::BTreeMap;

use super::Sources;
use super::family::{Family, SeriesLabels};
use crate::record::Measurement;
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

/// The result families of runs: one gauge family per [`RESULT_GAUGES`] entry, context
/// switches by kind and, if wanted, records per CPU.
pub struct ResultFamilies {
    gauges: Vec<Family>,
    context_switches: Family,
    cpu_records: Option<Family>,
}

impl ResultFamilies {
    /// Empty families, their HELP ending in `help_suffix`; `per_cpu` adds records per CPU.
    pub fn new(help_suffix: &str, per_cpu: bool) -> Self {
        let gauge =
            |(name, help): (&str, &str)| Family::gauge(name, &format!("{help}{help_suffix}"));
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
    pub fn add(&mut self, spec: &Spec, measurement: Option<&Measurement>) {
        let labels = SeriesLabels::of(spec);
        for (family, (_, _, value)) in self.gauges.iter_mut().zip(RESULT_GAUGES) {
            family.set(
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
            self.context_switches.set(
                &labels.with(&[("kind", kind)]),
                value.map_or(f64::NAN, |v| v as f64),
            );
        }
        if let (Some(family), Some(m)) = (&mut self.cpu_records, measurement) {
            for (cpu, records) in &m.output.cpu_records {
                family.set(&labels.with(&[("cpu", &cpu.to_string())]), *records as f64);
            }
        }
    }

    /// The families built.
    pub fn into_families(self) -> impl Iterator<Item = Family> {
        self.gauges
            .into_iter()
            .chain([self.context_switches])
            .chain(self.cpu_records)
    }
}

/// The latest run's families of every configured combination, and the node's records per
/// CPU over them.
pub(super) fn collect(sources: &Sources) -> Vec<Family> {
    let per_cpu = sources.metrics.per_cpu;
    let mut results = ResultFamilies::new(CACHED, per_cpu);
    let mut node_records: BTreeMap<u32, u64> = BTreeMap::new();
    let mut pool = Family::gauge(
        "copybench_pool_workers",
        "Pool size of each configured combination: its workers label as a number, for arithmetic in rules.",
    );
    let mut success = Family::gauge(
        "copybench_last_run_success",
        "Whether the latest run of the combination succeeded (1) or failed (0); NaN before its first run.",
    );
    let mut finished = Family::gauge(
        "copybench_last_run_timestamp_seconds",
        "Unix time the latest run of the combination ended.",
    );
    let mut succeeded = Family::gauge(
        "copybench_last_success_timestamp_seconds",
        "Unix time the latest successful run of the combination ended (0: none yet).",
    );
    for state in &sources.snapshot.series {
        let labels = SeriesLabels::of(&state.spec);
        let l = labels.with(&[]);
        let latest = state.latest.as_ref();
        let measurement = latest.and_then(|r| r.measurement.as_ref());
        results.add(&state.spec, measurement);
        for (cpu, records) in measurement.iter().flat_map(|m| &m.output.cpu_records) {
            *node_records.entry(*cpu).or_default() += records;
        }
        pool.set(&l, f64::from(state.spec.workers));
        success.set(&l, latest.map_or(f64::NAN, |r| f64::from(r.success)));
        finished.set(&l, latest.map_or(0.0, |r| r.finished_at));
        succeeded.set(&l, state.last_success_at.unwrap_or(0.0));
    }
    let mut families = vec![pool, success, finished, succeeded];
    families.extend(results.into_families());
    if per_cpu {
        let mut cpus = Family::gauge(
            "copybench_node_cpu_records",
            "Records the latest runs of every combination wrote on each CPU, together: where the node's scheduler placed the workers.",
        );
        for (cpu, records) in node_records {
            cpus.set(&[("cpu", &cpu.to_string())], records as f64);
        }
        families.push(cpus);
    }
    families
}
