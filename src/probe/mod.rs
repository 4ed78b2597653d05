//! `/probe`, as blackbox_exporter's prober: one request, one run with the parameters it asks
//! for ([`request`]), within the scraper's timeout, answered with families of its own (or with
//! the [`debug`] account). Probes take the run slot like sweeps do, so one never disturbs the
//! other; at most one starts per `[probe] min_interval`. Every probe is counted in
//! `copybench_probes_total{result}`, and every run, even one whose client hung up (its run is
//! cancelled, as blackbox cancels a probe), is logged and kept in the history.

pub mod debug;
pub mod request;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus::IntCounterVec;

use crate::record::{self, FailureReason, RunRecord};
use crate::render::metrics::family::{Family, encode};
use crate::render::metrics::runs::ResultFamilies;
use crate::results::Results;
use crate::schedule::{RunSlot, Setup};
use crate::web::{Probed, Refusal};
use crate::workload::RunOptions;

/// What became of a `/probe` request: the `result` label of `copybench_probes_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeResult {
    /// The run succeeded.
    Success,
    /// The run failed.
    Failure,
    /// The client hung up (or shutdown began) and the run was stopped.
    Cancelled,
    /// Refused: another run was in progress.
    Busy,
    /// Refused: sooner than `[probe] min_interval` after the previous one.
    RateLimited,
    /// Refused: bad parameters.
    BadRequest,
    /// Refused: probes are switched off.
    Disabled,
}

names!(ProbeResult, "probe result", Success => "success", Failure => "failure",
    Cancelled => "cancelled", Busy => "busy", RateLimited => "rate_limited",
    BadRequest => "bad_request", Disabled => "disabled");

/// What a probe needs of the daemon: the setup in force, the history, the run slot.
pub struct Context {
    /// The configuration in force and its run options.
    pub setup: Arc<Setup>,
    /// Where the probe's run is kept.
    pub results: Arc<Results>,
    /// Taken for the run.
    pub slot: Arc<RunSlot>,
}

/// Answers probes: the rate limit's state and the counter of what became of them.
pub struct Prober {
    /// When the last probe's run started, for `[probe] min_interval`.
    last_start: Mutex<Option<Instant>>,
    probes: IntCounterVec,
}

impl Prober {
    /// A prober that has answered nothing yet.
    pub fn new() -> prometheus::Result<Prober> {
        let probes = IntCounterVec::new(
            prometheus::Opts::new(
                "copybench_probes_total",
                "/probe requests by what became of them: success, failure, cancelled (the client hung up), or refused (busy, rate_limited, bad_request, disabled).",
            ),
            &["result"],
        )?;
        for result in ProbeResult::ALL {
            probes.with_label_values(&[result.as_str()]);
        }
        Ok(Prober {
            last_start: Mutex::new(None),
            probes,
        })
    }

    /// `copybench_probes_total`, to publish.
    pub fn counter(&self) -> IntCounterVec {
        self.probes.clone()
    }

    fn count(&self, result: ProbeResult) {
        self.probes.with_label_values(&[result.as_str()]).inc();
    }

    fn refuse(&self, result: ProbeResult, refusal: Refusal) -> Result<Probed, Refusal> {
        self.count(result);
        Err(refusal)
    }

    /// Answers `/probe?query` under `context`, within the scraper's timeout. If the caller
    /// stops waiting, the run is cancelled; it is still counted, logged and kept.
    pub async fn answer(
        self: &Arc<Self>,
        context: Context,
        query: &str,
        scrape_timeout: Option<f64>,
    ) -> Result<Probed, Refusal> {
        let config = Arc::clone(&context.setup.config);
        if !config.probe.enabled {
            let why = "probes are disabled (probe.enabled = false)".to_owned();
            return self.refuse(ProbeResult::Disabled, Refusal::NotFound(why));
        }
        let request = match request::request(query, &config.probe) {
            Ok(request) => request,
            Err(why) => return self.refuse(ProbeResult::BadRequest, Refusal::BadRequest(why)),
        };
        if let Some(refusal) = self.too_soon(config.probe.min_interval) {
            return self.refuse(ProbeResult::RateLimited, refusal);
        }
        let Some(held) = context.slot.try_hold() else {
            let refusal = Refusal::Busy {
                why: "another run is in progress; try again later".to_owned(),
                // The sweep frees the slot between its runs, which take seconds.
                retry_after: 1,
            };
            return self.refuse(ProbeResult::Busy, refusal);
        };
        *self.last_start.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let options = RunOptions {
            timeout: request::timeout(&config.probe, scrape_timeout),
            cancel: context.setup.options.cancel.child_token(),
            ..context.setup.options.clone()
        };
        let _abandoned = options.cancel.clone().drop_guard();
        let prober = Arc::clone(self);
        let spec = request.spec;
        let run = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let mut record = record::measure(&spec, &options, &config.analysis);
            drop(held);
            record.probe = true;
            prober.keep(&context.results, &record);
            let exposition = exposition(&record, started, config.metrics.per_cpu);
            (record, exposition)
        });
        match run.await {
            Ok((record, exposition)) if request.debug => {
                Ok(Probed::Debug(debug::debug_text(&record, &exposition)))
            }
            Ok((_, exposition)) => Ok(Probed::Metrics(exposition)),
            Err(e) => Err(Refusal::Failed(format!("the probe's task failed: {e}"))),
        }
    }

    /// The refusal of a probe sooner than `min_interval` after the last one started.
    fn too_soon(&self, min_interval: std::time::Duration) -> Option<Refusal> {
        let since_last = self
            .last_start
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|last| last.elapsed());
        let wait = since_last.and_then(|e| min_interval.checked_sub(e))?;
        Some(Refusal::TooSoon {
            why: format!(
                "probes are at least {} apart ([probe] min_interval)",
                humantime::format_duration(min_interval)
            ),
            retry_after: wait.as_secs_f64().ceil() as u64,
        })
    }

    /// Counts, logs and keeps a probe's run.
    fn keep(&self, results: &Results, record: &RunRecord) {
        let spec = &record.spec;
        let result = match &record.failure {
            None => ProbeResult::Success,
            Some(f) if f.reason == FailureReason::Cancelled => ProbeResult::Cancelled,
            Some(_) => ProbeResult::Failure,
        };
        self.count(result);
        match &record.failure {
            None => tracing::debug!(
                backend = %spec.backend, sync = %spec.sync, workers = spec.workers,
                lines = spec.lines, "probe succeeded"
            ),
            Some(f) => tracing::warn!(
                backend = %spec.backend, sync = %spec.sync, workers = spec.workers,
                lines = spec.lines, reason = %f.reason, message = %f.message, "probe failed"
            ),
        }
        results.record(record);
    }
}

/// The exposition of one probe: its success, its wall time since `started` and that run's
/// results.
pub fn exposition(record: &RunRecord, started: Instant, per_cpu: bool) -> String {
    let mut families = vec![
        Family::single(
            "copybench_probe_success",
            "Whether the probe's run succeeded.",
            f64::from(record.success),
        ),
        Family::single(
            "copybench_probe_duration_seconds",
            "Wall time the probe took, set-up included.",
            started.elapsed().as_secs_f64(),
        ),
    ];
    if let Some(m) = &record.measurement {
        let mut results = ResultFamilies::new("", per_cpu);
        results.add(&record.spec, Some(m));
        families.extend(results.into_families());
    }
    encode(families)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::fixtures::measured;

    #[test]
    fn probes_have_families_of_their_own() {
        let mut run = measured(1, 1000.5);
        run.measurement
            .as_mut()
            .expect("measured")
            .output
            .cpu_records = [(0, 5)].into();
        let probe = exposition(&run, Instant::now(), true);
        assert!(probe.contains("copybench_probe_success 1"));
        assert!(probe.contains("copybench_probe_duration_seconds "));
        assert!(probe.contains("copybench_disorder_lines{"));
        assert!(probe.contains("copybench_cpu_records{"));
        assert!(!probe.contains("Cached from"));
        assert!(!probe.contains("copybench_runs_total") && !probe.contains("process_"));
        assert!(!exposition(&run, Instant::now(), false).contains("copybench_cpu_records"));
    }

    #[test]
    fn every_result_is_a_label_from_the_start() {
        use prometheus::core::Collector;
        let prober = Prober::new().expect("prober");
        let families = prober.counter().collect();
        assert_eq!(families[0].get_metric().len(), ProbeResult::ALL.len());
    }
}
