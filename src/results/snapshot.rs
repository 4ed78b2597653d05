//! The state of every configured combination at one moment, as the metrics and the landing
//! page publish it: newest run, last success, latest sweep's summary, detections and counts.

use super::alerts::{AlertState, key_of};
use super::counters::{Tally, Totals};
use super::history::History;
use super::point::{self, Point, Scaling};
use super::{Detection, Results, RunFilter, StoreError};
use crate::host::facts::Facts;
use crate::record::RunRecord;
use crate::workload::Spec;

/// What is known of one configured spec.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesState {
    /// The spec.
    pub spec: Spec,
    /// Its newest run in the history.
    pub latest: Option<RunRecord>,
    /// When its newest successful run ended.
    pub last_success_at: Option<f64>,
    /// Its runs in the newest finished sweep that ran it, summarised.
    pub point: Option<Point>,
    /// What the change-point detectors said after its latest sweep.
    pub detection: Option<Detection>,
    /// Its counts since start.
    pub tally: Tally,
}

/// The state of every configured spec and of the sweeps, as the metrics publish it.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// One entry per configured spec, in the order asked for.
    pub series: Vec<SeriesState>,
    /// How each backend and sync mode scale, as `[analysis] fit_sweeps` asks.
    pub scaling: Vec<Scaling>,
    /// The sweeps' and the history's counts since start.
    pub totals: Totals,
    /// What the node's watch says: the host, workload, scaling and contention alerts.
    pub alerts: AlertState,
    /// What the node was at the latest sweep that kept its facts.
    pub host: Option<Facts>,
}

impl Results {
    /// The newest run, last success, latest summary, detection and counts of each of
    /// `specs`, and their scaling fitted to the latest sweep (`fit_sweeps` 1) or the runs of
    /// the last `fit_sweeps` sweeps.
    pub fn snapshot(
        &self,
        specs: &[Spec],
        max_cv: f64,
        fit_sweeps: usize,
    ) -> Result<Snapshot, StoreError> {
        let (mut series, host) = {
            let history = self.history();
            let series = specs
                .iter()
                .map(|spec| series_state(&history, spec, max_cv))
                .collect::<Result<Vec<_>, StoreError>>()?;
            (series, history.latest_facts()?)
        };
        let scaling = if fit_sweeps > 1 {
            self.scaling_over(specs, fit_sweeps)?
        } else {
            point::scaling(series.iter().filter_map(|s| s.point.as_ref()))
        };
        let detections = self.detections();
        for state in &mut series {
            state.detection = detections.get(&state.spec).cloned();
        }
        drop(detections);
        let unsaved_runs = self.unsaved().runs() as u64;
        // Attributing the alerts reads the history: before the counters are held.
        let mut alerts = self.alert_state();
        // The watch also holds the combinations of the history a reload left out.
        alerts.warming.retain(|signal| {
            (signal.key()).is_none_or(|key| specs.iter().any(|s| key_of(s) == *key))
        });
        let counters = self.counters();
        for state in &mut series {
            state.tally = counters.tally(&state.spec);
        }
        Ok(Snapshot {
            series,
            scaling,
            totals: Totals {
                unsaved_runs,
                ..counters.totals()
            },
            alerts,
            host,
        })
    }
}

/// What the history says of `spec`: its newest run, last success and latest summary.
fn series_state(history: &History, spec: &Spec, max_cv: f64) -> Result<SeriesState, StoreError> {
    let latest = history.runs(&RunFilter::series(spec, 1))?.pop();
    let last_success_at = match &latest {
        Some(run) if run.success => Some(run.finished_at),
        _ => history
            .runs(&RunFilter {
                success_only: true,
                ..RunFilter::series(spec, 1)
            })?
            .pop()
            .map(|run| run.finished_at),
    };
    let point = match history.latest_sweep_of(spec)? {
        Some(id) => Some(history.point(*spec, id, max_cv)?),
        None => None,
    };
    Ok(SeriesState {
        spec: *spec,
        latest,
        last_success_at,
        point,
        detection: None,
        tally: Tally::new(spec),
    })
}
