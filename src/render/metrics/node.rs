//! The exporter's own state beside the results: its build, the last configuration load, the
//! CPUs it may use, the interval in force, and what the node was at the latest sweep.

use super::Sources;
use super::family::Family;
use crate::host::Capacity;

/// The daemon's own state that the metrics publish beside the results.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
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

/// The exporter's own families.
pub(super) fn collect(sources: &Sources) -> Vec<Family> {
    let status = sources.status;
    let mut build_info = Family::gauge(
        "copybench_build_info",
        "A metric with a constant '1' value labeled by version, revision and rustc_version.",
    );
    build_info.set(
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("revision", env!("COPYBENCH_REVISION")),
            ("rustc_version", env!("COPYBENCH_RUSTC_VERSION")),
        ],
        1.0,
    );
    let mut host_info = Family::gauge(
        "copybench_host_info",
        "A metric with a constant '1' value labeled by what the node was at the latest sweep: kernel release, boot id, CPU model and microcode, online CPUs, the exporter's cpuset and the frequency governor (empty where the host does not show one).",
    );
    if let Some(facts) = &sources.snapshot.host {
        let label = |value: &Option<String>| value.clone().unwrap_or_default();
        let values = [
            ("kernel", label(&facts.kernel)),
            ("boot_id", label(&facts.boot_id)),
            ("cpu_model", label(&facts.cpu_model)),
            ("microcode", label(&facts.microcode)),
            ("online_cpus", label(&facts.online_cpus)),
            ("cpuset", label(&facts.cpuset)),
            ("governor", label(&facts.governor)),
        ];
        let labels: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        host_info.set(&labels, 1.0);
    }
    vec![
        build_info,
        host_info,
        Family::single(
            "copybench_config_last_reload_successful",
            "Whether the last configuration reload succeeded.",
            f64::from(status.last_reload_ok),
        ),
        Family::single(
            "copybench_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load.",
            status.last_reload_success_at,
        ),
        Family::single(
            "copybench_cpu_quota_cores",
            "CPU quota of the exporter's cgroup, in cores (+Inf without one).",
            status.capacity.quota_cores.unwrap_or(f64::INFINITY),
        ),
        Family::single(
            "copybench_cpuset_cpus",
            "CPUs in the exporter's affinity mask (cpuset).",
            f64::from(status.capacity.cpuset_cpus),
        ),
        Family::single(
            "copybench_schedule_interval_seconds",
            "Time between sweep starts in force: [schedule] interval, or longer when the last sweep's CPU time would exceed [schedule] max_duty_cycle.",
            status.interval_seconds,
        ),
    ]
}
