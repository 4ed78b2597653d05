//! The node's watch: the latest sweep's host reference and each combination against it, which
//! of the host, workload, scaling and contention alerts fire, whether the latest sweep was
//! contended, the changes that went away before they alerted, and what changed on the node
//! around each firing alert and regression (for the alert rules' descriptions).

use super::Sources;
use super::family::{Family, SeriesLabels};
use crate::analysis::attribution::{self, Cause};
use crate::analysis::signals::Key;
use crate::analysis::watch::{SIGNALS, Signal};
use crate::results::alerts::{Group, key_of};
use crate::workload::{Backend, Spec, SyncMode};

/// The longest `cause` label, in bytes: a line of the most likely causes.
const MAX_CAUSE: usize = 200;

/// The families of the node's watch.
pub(super) fn collect(sources: &Sources) -> Vec<Family> {
    let state = &sources.snapshot.alerts;
    let firing =
        |signal: &Signal<Group>| f64::from(state.firing.iter().any(|s| s.signal == *signal));
    let mut workload = Family::gauge(
        "copybench_workload_alert",
        "1 while the combination's workload signal (its time against the same sweeps' single-worker runs) alerts: slower than the node itself.",
    );
    let mut scaling = Family::gauge(
        "copybench_scaling_alert",
        "1 while the multi-worker combination's scaling signal (its time over the same rounds' 1-worker run) alerts: parallel runs lost what one worker did not.",
    );
    let mut relative = Family::gauge(
        "copybench_reference_ratio",
        "The combination's fastest run in the latest sweep over the host reference's fastest run in the same sweep (NaN without both).",
    );
    for series in &sources.snapshot.series {
        let spec = series.spec;
        let key = key_of(&spec);
        let labels = SeriesLabels::of(&spec);
        if !spec.is_reference() {
            let ratio = state.relative.get(&key).copied();
            relative.set(&labels.with(&[]), ratio.unwrap_or(f64::NAN));
        }
        workload.set(&labels.with(&[]), firing(&Signal::Workload(key)));
        if spec.workers > 1 {
            scaling.set(&labels.with(&[]), firing(&Signal::Scaling(key)));
        }
    }
    let mut transients = Family::counter(
        "copybench_alert_transients_total",
        "Changes that passed a detector's threshold and went away before they alerted, by signal.",
    );
    for name in SIGNALS {
        let count = state.transients.get(name).copied().unwrap_or(0);
        transients.count(&[("signal", name)], count as f64);
    }
    vec![
        causes(sources),
        Family::single(
            "copybench_host_reference_seconds",
            "Fastest run of the host reference (thread, none, 1 worker on the workload's input) in the latest sweep: how fast the node did the workload's basic work (NaN before a sweep with 3 usable reference runs).",
            state.host_seconds.unwrap_or(f64::NAN),
        ),
        Family::single(
            "copybench_host_alert",
            "1 while the host signal (the reference runs' time) alerts: the node itself became slower at the basic file operations.",
            firing(&Signal::Host),
        ),
        Family::single(
            "copybench_contention_alert",
            "1 while other tasks wanted the node's CPUs (or the quota throttled runs) in most sweeps of the last [analysis] contention_window.",
            firing(&Signal::Contention),
        ),
        Family::single(
            "copybench_sweep_contended",
            "1 if the latest sweep was contended (CPU pressure and steal in its 1-worker runs above [analysis] max_contention of their time, in its full-width runs above max_full_width_contention, or a throttled run): the detectors skipped it.",
            f64::from(state.contended),
        ),
        Family::single(
            "copybench_watch_warming_detectors",
            "Host, workload and scaling detectors still building their baselines from usable (uncontended) sweeps: none of them can alert until it is 0.",
            state.warming.len() as f64,
        ),
        relative,
        workload,
        scaling,
        transients,
    ]
}

/// One series per firing alert and per regression, labelled by its signal, its combination
/// (empty for the node's own signals) and what changed on the node around it.
fn causes(sources: &Sources) -> Family {
    let mut family = Family::gauge(
        "copybench_alert_cause_info",
        "A metric with a constant '1' value per firing alert of the node's watch and per regression, labelled by its signal, its combination (empty for the node's own signals) and what changed on the node around its start, most likely first.",
    );
    let mut add = |signal: &str, spec: Option<(String, String, String)>, causes: &[Cause]| {
        let (backend, sync, workers) = spec.unwrap_or_default();
        let mut cause = attribution::describe(causes);
        if cause.len() > MAX_CAUSE {
            let end = (0..=MAX_CAUSE)
                .rev()
                .find(|i| cause.is_char_boundary(*i))
                .unwrap_or(0);
            cause.truncate(end);
        }
        let labels = [
            ("signal", signal),
            ("backend", backend.as_str()),
            ("sync", sync.as_str()),
            ("workers", workers.as_str()),
            ("cause", cause.as_str()),
        ];
        family.set(&labels, 1.0);
    };
    let names = |backend: Backend, sync: SyncMode, workers: u32| {
        let (backend, sync) = (backend.as_str().to_owned(), sync.as_str().to_owned());
        Some((backend, sync, workers.to_string()))
    };
    // As the alert gauges: the node's own signals, and the configured combinations'.
    for span in &sources.snapshot.alerts.firing {
        match span.signal.key() {
            None => add(span.signal.name(), None, &span.causes),
            Some(key) if configured(sources, key) => {
                let ((backend, sync), workers) = *key;
                add(
                    span.signal.name(),
                    names(backend, sync, workers),
                    &span.causes,
                );
            }
            Some(_) => {}
        }
    }
    for series in &sources.snapshot.series {
        if let Some(regression) = series
            .detection
            .as_ref()
            .and_then(|d| d.regression.as_ref())
        {
            let Spec {
                backend,
                sync,
                workers,
                ..
            } = series.spec;
            add(
                "regression",
                names(backend, sync, workers),
                &regression.causes,
            );
        }
    }
    family
}

/// Whether `key` is one of the configured combinations (the watch also holds those of the
/// history that a reload left out).
fn configured(sources: &Sources, key: &Key<Group>) -> bool {
    (sources.snapshot.series.iter()).any(|s| key_of(&s.spec) == *key)
}
