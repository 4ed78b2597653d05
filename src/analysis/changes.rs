//! Regression detection over a series of per-sweep medians: E-divisive ([`edivisive`]) finds
//! and locates changes anywhere in the series, and the tail test ([`tail`]) sees a slowdown
//! of the last few sweeps before E-divisive can. A tail slowdown that E-divisive already
//! locates (within `min_segment` points) is reported once, as E-divisive's. Pure functions.

use serde::Serialize;

use super::edivisive::{self, ChangePoint};
use super::tail;

/// Settings of both detectors.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Settings {
    /// E-divisive's.
    pub edivisive: edivisive::Settings,
    /// The tail test's.
    pub tail: tail::Settings,
}

impl Settings {
    /// Both detectors with `max_pvalue`, `min_magnitude` and E-divisive's `window`.
    pub fn new(window: usize, max_pvalue: f64, min_magnitude: f64) -> Settings {
        Settings {
            edivisive: edivisive::Settings {
                window,
                max_pvalue,
                min_magnitude,
                ..edivisive::Settings::default()
            },
            tail: tail::Settings {
                window,
                max_pvalue,
                min_magnitude,
                ..tail::Settings::default()
            },
        }
    }
}

/// Which detector found a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Detector {
    /// E-divisive means with a t-test.
    Edivisive,
    /// The robust test of the last sweeps.
    Tail,
}

/// A change in a series.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Change {
    /// Index of the first point after the change.
    pub index: usize,
    /// Mean (E-divisive) or median (tail) before.
    pub mean_before: f64,
    /// Mean (E-divisive) or median (tail) after.
    pub mean_after: f64,
    /// After over before.
    pub ratio: f64,
    /// The detector's p-value.
    pub pvalue: f64,
    /// Which detector.
    pub detector: Detector,
}

impl From<ChangePoint> for Change {
    fn from(c: ChangePoint) -> Self {
        Change {
            index: c.index,
            mean_before: c.mean_before,
            mean_after: c.mean_after,
            ratio: c.ratio(),
            pvalue: c.pvalue,
            detector: Detector::Edivisive,
        }
    }
}

/// Every change in `series`, in order, from either detector.
pub fn changes(series: &[f64], settings: &Settings) -> Vec<Change> {
    changes_by(series, settings, true, true)
}

/// The changes that E-divisive (`edivisive`) and the tail test (`tail`) find.
pub fn changes_by(series: &[f64], settings: &Settings, edivisive: bool, tail: bool) -> Vec<Change> {
    let mut found: Vec<Change> = if edivisive {
        edivisive::change_points(series, &settings.edivisive)
            .into_iter()
            .map(Change::from)
            .collect()
    } else {
        Vec::new()
    };
    // The tail test looks only at the segment since the last change E-divisive found.
    let since = found.last().map_or(0, |c| c.index);
    if tail && let Some(s) = tail::slowdown(&series[since..], &settings.tail) {
        let index = s.index + since;
        let located = found.iter().any(|c| {
            c.index.abs_diff(index) < settings.edivisive.min_segment.max(1) && c.ratio > 1.0
        });
        if !located {
            found.push(Change {
                index,
                mean_before: s.median_before,
                mean_after: s.median_after,
                ratio: s.median_after / s.median_before,
                pvalue: s.pvalue,
                detector: Detector::Tail,
            });
            found.sort_by_key(|c| c.index);
        }
    }
    found
}

/// The regression among `changes`, if any: the latest change, when it is a slowdown by more
/// than `min_magnitude` (a later speedup undoes an earlier slowdown).
pub fn regression(changes: &[Change], min_magnitude: f64) -> Option<&Change> {
    changes.last().filter(|c| c.ratio > 1.0 + min_magnitude)
}

/// The regression of `series` if the series without its last point shows it too (at an index
/// within `min_segment`): one sweep's confirmation, which keeps a change that appears for a
/// single sweep and is gone at the next from raising an alarm.
pub fn confirmed_regression(
    series: &[f64],
    settings: &Settings,
    edivisive: bool,
    tail: bool,
) -> Option<Change> {
    let min_magnitude = settings.edivisive.min_magnitude;
    let now = *regression(
        &changes_by(series, settings, edivisive, tail),
        min_magnitude,
    )?;
    let before = series.len().checked_sub(1)?;
    let earlier = changes_by(&series[..before], settings, edivisive, tail);
    let earlier = regression(&earlier, min_magnitude)?;
    (earlier.index.abs_diff(now.index) < settings.edivisive.min_segment.max(1)).then_some(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The detectors as the daemon ships them.
    fn shipped() -> Settings {
        crate::config::Analysis::default().detectors()
    }

    fn wobble(n: usize, level: f64) -> Vec<f64> {
        (0..n)
            .map(|i| level * (1.0 + (((i * 7919) % 13) as f64 - 6.0) / 600.0))
            .collect()
    }

    #[test]
    fn a_fresh_slowdown_is_seen_by_the_tail_test_and_later_located_by_e_divisive() {
        let settings = shipped();
        let mut series = wobble(80, 1.0);
        series.extend(wobble(4, 1.2));
        let fresh = changes(&series, &settings);
        let latest = regression(&fresh, 0.05).expect("regression");
        assert_eq!(latest.index, 80);
        series.extend(wobble(30, 1.2));
        let later = changes(&series, &settings);
        assert_eq!(later.len(), 1, "{later:?}");
        assert_eq!(
            (later[0].index, later[0].detector),
            (80, Detector::Edivisive)
        );
        assert!(regression(&later, 0.05).is_some());
    }

    #[test]
    fn a_slowdown_that_was_undone_is_no_regression() {
        let mut series = wobble(60, 1.0);
        series.extend(wobble(30, 1.3));
        series.extend(wobble(30, 1.0));
        let found = changes(&series, &shipped());
        assert_eq!(found.iter().map(|c| c.index).collect::<Vec<_>>(), [60, 90]);
        assert!(regression(&found, 0.05).is_none());
        assert!(changes(&wobble(100, 1.0), &shipped()).is_empty());
    }
}
