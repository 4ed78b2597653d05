//! A history's sweeps through a node's watch ([`crate::analysis::watch`]): the host, workload,
//! scaling and contention alerts its detectors raise, each from its onset to when it ended.
//! One path takes a sweep's runs as they were recorded: a running daemon's, kept as they end
//! ([`Alerts::record`], [`Alerts::finish`]), and a history's read back ([`replay`], behind
//! `changes --db FILE --replay` and a daemon's start), so both raise the same alerts.
//!
//! A sweep's host reference runs ([`Spec::reference`], thread/none/1) are its host signal;
//! that combination has no workload series of its own.

use std::collections::BTreeMap;

use crate::analysis::attribution::Cause;
use crate::analysis::cusum::Event;
use crate::analysis::signals::{self, Key, Run, Signals};
use crate::analysis::watch::{Settings, Signal, Watch};
use crate::record::RunRecord;
use crate::workload::{Backend, Spec, SyncMode};

use super::{Results, RunFilter, StoreError};

/// A combination's backend and sync.
pub type Group = (Backend, SyncMode);

/// The watch's key of a combination: its backend and sync, and workers.
pub fn key_of(spec: &Spec) -> Key<Group> {
    ((spec.backend, spec.sync), spec.workers)
}

/// An alert, from the first sweep of its change until it went away.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertSpan {
    /// Whose.
    pub signal: Signal<Group>,
    /// When its change began: the start of its first sweep (Unix seconds).
    pub started_at: f64,
    /// When it was resolved (the start of the sweep that showed it), `None` while firing.
    pub ended_at: Option<f64>,
    /// The change as a ratio to the baseline (1.10 = 10 % slower); `None` for contention.
    pub ratio: Option<f64>,
    /// What changed on the node around its start, most likely first (empty until
    /// [`Results::with_causes`] attributes it, and when nothing did).
    pub causes: Vec<Cause>,
}

/// The signals of one sweep's `runs`, in the order they ran (warm-ups and probes are left
/// out), as the node's watch takes them. Runs of histories without rounds are numbered by
/// their place in the sweep.
pub fn signals(runs: &[RunRecord]) -> Signals<Group> {
    let measured: Vec<&RunRecord> = runs.iter().filter(|r| !r.warmup && !r.probe).collect();
    let per_round = {
        let mut specs: Vec<Spec> = measured.iter().map(|r| r.spec).collect();
        specs.sort_by_key(|s| (s.backend, s.sync, s.workers, s.lines, s.reread));
        specs.dedup();
        specs.len().max(1)
    };
    let runs: Vec<Run<Group>> = measured
        .iter()
        .enumerate()
        .map(|(i, r)| Run {
            group: (r.spec.backend, r.spec.sync),
            workers: r.spec.workers,
            reference: r.spec.is_reference(),
            round: r
                .round
                .unwrap_or_else(|| u32::try_from(i / per_round).unwrap_or(u32::MAX)),
            seconds: r.duration_seconds().filter(|_| r.success),
            disturbed: r.disturbed,
            throttled: r.throttled,
            contention_seconds: r.host.cpu_pressure_seconds.unwrap_or(0.0)
                + r.host.steal_seconds.unwrap_or(0.0),
            full_width: signals::full_width(
                r.spec.workers,
                r.measurement.as_ref().and_then(|m| m.cpus_allowed),
            ),
        })
        .collect();
    signals::of_sweep(&runs)
}

/// What a node's watch says now: for the metrics and the landing page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertState {
    /// The alerts firing, in the order raised.
    pub firing: Vec<AlertSpan>,
    /// Changes that passed a threshold and went away before they alerted, by signal kind.
    pub transients: BTreeMap<&'static str, u64>,
    /// Whether the latest sweep was contended (the detectors skipped it).
    pub contended: bool,
    /// The latest sweep's host reference: its fastest run, in seconds.
    pub host_seconds: Option<f64>,
    /// Each combination's fastest run in the latest sweep over its host reference's.
    pub relative: BTreeMap<Key<Group>, f64>,
    /// Each workload and scaling detector's sensitivity: the slowdown of its combination it
    /// finds within [`SENSITIVITY_SWEEPS`] usable sweeps (infinite when none).
    pub sensitivity: BTreeMap<Signal<Group>, f64>,
    /// The host, workload and scaling signals whose detectors are still building their
    /// baselines.
    pub warming: Vec<Signal<Group>>,
}

/// The usable sweeps [`AlertState::sensitivity`] is for.
pub const SENSITIVITY_SWEEPS: usize = 5;

/// The most alerts kept; the oldest ended ones go first.
const MAX_SPANS: usize = 10_000;

/// A node's watch and the alerts it has raised.
pub struct Alerts {
    watch: Watch<Group>,
    spans: Vec<AlertSpan>,
    /// The firing alert of each signal: its place in `spans`.
    firing: BTreeMap<Signal<Group>, usize>,
    transients: BTreeMap<&'static str, u64>,
    /// The latest sweep's signals.
    latest: Option<Signals<Group>>,
    /// The runs of the sweep in progress, watched when it finishes.
    running: Vec<RunRecord>,
}

impl Alerts {
    /// A watch with no history.
    pub fn new(settings: Settings) -> Alerts {
        Alerts {
            watch: Watch::new(settings),
            spans: Vec::new(),
            firing: BTreeMap::new(),
            transients: BTreeMap::new(),
            latest: None,
            running: Vec::new(),
        }
    }

    /// Keeps a run of the sweep in progress.
    pub fn record(&mut self, run: &RunRecord) {
        self.running.push(run.clone());
    }

    /// Watches sweep `id` from the runs [`Alerts::record`] kept of it (a sweep stopped
    /// before it finished is never watched, by the daemon or by a replay).
    pub fn finish(&mut self, id: i64) {
        let mut runs = std::mem::take(&mut self.running);
        runs.retain(|r| r.sweep_id == Some(id));
        self.sweep(&runs);
    }

    /// Takes one sweep's runs, in the order they ran (an empty sweep is skipped).
    fn sweep(&mut self, runs: &[RunRecord]) {
        let Some(time) = runs.iter().map(|r| r.started_at).min_by(f64::total_cmp) else {
            return;
        };
        let signals = signals(runs);
        for alert in self.watch.step(time, &signals) {
            match alert.event {
                Event::Alarm(change) => {
                    let ratio = (alert.signal != Signal::Contention).then(|| change.ratio());
                    self.firing.insert(alert.signal.clone(), self.spans.len());
                    self.spans.push(AlertSpan {
                        signal: alert.signal,
                        started_at: change.onset,
                        ended_at: None,
                        ratio,
                        causes: Vec::new(),
                    });
                }
                Event::Resolved(_) | Event::Accepted(_) => {
                    if let Some(i) = self.firing.remove(&alert.signal) {
                        self.spans[i].ended_at = Some(time);
                    }
                }
                Event::Transient(_) => {
                    *self.transients.entry(alert.signal.name()).or_default() += 1;
                }
                Event::Suspect => {}
            }
        }
        self.forget();
        self.latest = Some(signals);
    }

    /// Drops the oldest ended alerts beyond [`MAX_SPANS`].
    fn forget(&mut self) {
        let mut excess = self.spans.len().saturating_sub(MAX_SPANS);
        if excess == 0 {
            return;
        }
        self.spans.retain(|span| {
            let drop = excess > 0 && span.ended_at.is_some();
            excess -= usize::from(drop);
            !drop
        });
        self.firing = self
            .spans
            .iter()
            .enumerate()
            .filter(|(_, span)| span.ended_at.is_none())
            .map(|(i, span)| (span.signal.clone(), i))
            .collect();
    }

    /// What the watch says now.
    pub fn state(&self) -> AlertState {
        AlertState {
            firing: self
                .firing
                .values()
                .map(|&i| self.spans[i].clone())
                .collect(),
            transients: self.transients.clone(),
            contended: (self.latest.as_ref()).is_some_and(|s| self.watch.settings().contended(s)),
            host_seconds: self.latest.as_ref().and_then(|s| s.host).map(f64::exp),
            relative: self.latest.as_ref().map(relative).unwrap_or_default(),
            sensitivity: self.watch.sensitivity(SENSITIVITY_SWEEPS),
            warming: self.watch.warming(),
        }
    }

    /// How the node is watched.
    pub fn settings(&self) -> &Settings {
        self.watch.settings()
    }

    /// The signals whose detectors suspect a change ([`Watch::suspected`]).
    pub fn suspected(&self) -> Vec<Signal<Group>> {
        self.watch.suspected()
    }

    /// Every alert raised so far, in the order raised.
    pub fn spans(&self) -> &[AlertSpan] {
        &self.spans
    }
}

/// Each combination's fastest run over the host reference's in the sweep of `signals`.
fn relative(signals: &Signals<Group>) -> BTreeMap<Key<Group>, f64> {
    let Some(host) = signals.host else {
        return BTreeMap::new();
    };
    signals
        .raw
        .iter()
        .map(|(key, value)| (*key, (value - host).exp()))
        .collect()
}

/// The alerts a node's watch with `settings` raises over the latest `limit` runs of
/// `results`' history, sweep by sweep.
pub fn replay(results: &Results, settings: Settings, limit: usize) -> Result<Alerts, StoreError> {
    // Finished sweeps only: the daemon watches a sweep when it finishes.
    let mut runs = results.runs(&RunFilter {
        probe: Some(false),
        finished_sweeps: true,
        limit,
        ..RunFilter::default()
    })?;
    // Newest first as read; by sweep, then in the order they ran.
    runs.reverse();
    runs.retain(|r| r.sweep_id.is_some());
    runs.sort_by_key(|r| r.sweep_id);
    let mut alerts = Alerts::new(settings);
    for sweep in runs.chunk_by(|a, b| a.sweep_id == b.sweep_id) {
        alerts.sweep(sweep);
    }
    Ok(alerts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::facts::Facts;
    use crate::record::fixtures::measured;

    /// A sweep of 5 rounds of the thread and process backends (no sync, 1 and 2 workers),
    /// starting at `time`, each run taking `seconds(spec, round)`.
    fn sweep(time: f64, seconds: impl Fn(&Spec, u32) -> f64) -> Vec<RunRecord> {
        let mut runs = Vec::new();
        for round in 0..5 {
            for (backend, workers) in [
                (Backend::Thread, 1),
                (Backend::Thread, 2),
                (Backend::Process, 1),
                (Backend::Process, 2),
            ] {
                for sync in [SyncMode::None, SyncMode::Lock] {
                    let mut run = measured(workers, 1.0);
                    run.spec.backend = backend;
                    run.spec.sync = sync;
                    run.sweep_id = Some(time as i64);
                    run.round = Some(round);
                    run.started_at = time + f64::from(round);
                    let m = run.measurement.as_mut().expect("measured");
                    m.duration_seconds = seconds(&run.spec, round);
                    runs.push(run);
                }
            }
        }
        runs
    }

    /// Noise that repeats every 7 sweeps and 5 rounds: 0.96 to 1.05.
    fn wobble(i: usize, round: u32, spec: &Spec) -> f64 {
        let k = (i * 7 + round as usize * 3 + spec.workers as usize * 5) % 11;
        0.96 + 0.009 * k as f64
    }

    #[test]
    fn a_slower_combination_alerts_as_its_own_and_the_host_stays_quiet() {
        let mut alerts = Alerts::new(Settings::default());
        for i in 0..200 {
            let slow = i >= 150;
            alerts.sweep(&sweep(60.0 * i as f64, |spec, round| {
                let factor = if slow
                    && spec.backend == Backend::Process
                    && spec.workers == 2
                    && spec.sync == SyncMode::Lock
                {
                    1.3
                } else {
                    1.0
                };
                wobble(i, round, spec) * factor
            }));
        }
        let key = ((Backend::Process, SyncMode::Lock), 2);
        let signals: Vec<&Signal<Group>> = alerts.spans().iter().map(|s| &s.signal).collect();
        assert!(
            signals.contains(&&Signal::Workload(key)),
            "{:?}",
            alerts.spans()
        );
        for span in alerts.spans() {
            assert!(
                matches!(&span.signal, Signal::Workload(k) | Signal::Scaling(k) if *k == key),
                "{span:?}"
            );
            assert!(span.started_at >= 60.0 * 140.0, "{span:?}");
            // Its size: the median of the excursion, which may begin a sweep or two early.
            let ratio = span.ratio.expect("ratio");
            assert!(ratio > 1.15 && ratio < 1.4, "{span:?}");
            assert_eq!(span.ended_at, None);
        }
    }

    #[test]
    fn a_restarted_watch_rebuilt_from_the_history_says_what_the_running_one_said() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history.sqlite");
        let running = Results::open(Some(&path), std::time::Duration::MAX).expect("history");
        for i in 0..200 {
            let handle = running.begin_sweep(&Facts::default());
            for mut run in sweep(60.0 * i as f64, |spec, round| {
                let slow = i >= 150 && spec.backend == Backend::Thread && spec.workers == 2;
                wobble(i, round, spec) * if slow { 1.3 } else { 1.0 }
            }) {
                run.sweep_id = handle.id;
                running.record(&run);
            }
            running.finish_sweep(handle, 0.0);
        }
        let said = running.alert_state();
        assert!(!said.firing.is_empty(), "{said:?}");
        drop(running);
        let restarted = Results::open(Some(&path), std::time::Duration::MAX).expect("reopen");
        // Before the history is watched: nothing but the host's detector, warming up.
        let fresh = AlertState {
            warming: vec![Signal::Host],
            ..AlertState::default()
        };
        assert_eq!(restarted.alert_state(), fresh);
        restarted.rewatch(Settings::default()).expect("rewatch");
        assert_eq!(restarted.alert_state(), said);
    }

    #[test]
    fn a_snapshot_counts_the_warming_detectors_of_the_configured_combinations_only() {
        let results = Results::open(None, std::time::Duration::MAX).expect("results");
        results.rewatch(Settings::default()).expect("watch");
        for i in 0..5 {
            let handle = results.begin_sweep(&Facts::default());
            for mut run in sweep(60.0 * f64::from(i), |_, _| 1.0) {
                run.sweep_id = handle.id;
                results.record(&run);
            }
            results.finish_sweep(handle, 0.0);
        }
        let key = ((Backend::Thread, SyncMode::Lock), 2);
        assert!(results.alert_state().warming.len() > 3);
        let spec = sweep(0.0, |_, _| 1.0)
            .into_iter()
            .map(|r| r.spec)
            .find(|s| key_of(s) == key)
            .expect("thread/lock/2");
        let snapshot = results.snapshot(&[spec], 0.1, 1).expect("snapshot");
        assert_eq!(
            snapshot.alerts.warming,
            [Signal::Host, Signal::Workload(key), Signal::Scaling(key)]
        );
    }

    #[test]
    fn sweeps_without_rounds_are_numbered_by_their_place() {
        let mut runs = sweep(0.0, |_, round| 1.0 + 0.1 * f64::from(round));
        for run in &mut runs {
            run.round = None;
        }
        let numbered = signals(&runs);
        let recorded = signals(&sweep(0.0, |_, round| 1.0 + 0.1 * f64::from(round)));
        assert_eq!(numbered, recorded);
        assert!(numbered.host.is_some());
        assert!(
            !numbered
                .workload
                .contains_key(&((Backend::Thread, SyncMode::None), 1))
        );
    }
}
