//! A test aimed at the end of a series, where E-divisive sees a change late: the last `k`
//! points against the window before them, for each `k` from `min_k` to `max_k`, one-sided for
//! a slowdown (larger values).
//!
//! Each `k` is a one-sided z-test of the mean of the last `k` against the median of the window
//! before them, with the window's spread estimated robustly (1.4826 x its median absolute
//! deviation) and the last points clipped to 4 such deviations from that median, so one spike
//! cannot carry the mean. The smallest p-value is corrected for the number of `k` tried
//! (Bonferroni) and must be at most `max_pvalue`; the median of the last `k` must also exceed
//! the median before by more than `min_magnitude`, so more than half of them are slower. Pure
//! functions.

use statrs::distribution::{ContinuousCDF, Normal};

/// What the tail test looks at and how strict it is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Fewest last points tested.
    pub min_k: usize,
    /// Most last points tested.
    pub max_k: usize,
    /// Points before the last `k` to compare with (at most).
    pub window: usize,
    /// Fewest points before the last `k` for a test.
    pub min_before: usize,
    /// Largest p-value, after the correction for the number of `k` tried.
    pub max_pvalue: f64,
    /// Smallest slowdown of the medians, as a share.
    pub min_magnitude: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            min_k: 3,
            max_k: 10,
            window: 50,
            min_before: 20,
            max_pvalue: 0.001,
            min_magnitude: 0.05,
        }
    }
}

/// A slowdown of the last points of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slowdown {
    /// Index of the first of the last `k` points.
    pub index: usize,
    /// How many last points.
    pub k: usize,
    /// Median of the points before them.
    pub median_before: f64,
    /// Median of the last `k`.
    pub median_after: f64,
    /// One-sided p-value, corrected for the number of `k` tried.
    pub pvalue: f64,
}

/// The most significant slowdown at the end of `series`, if one passes the test.
pub fn slowdown(series: &[f64], settings: &Settings) -> Option<Slowdown> {
    let tried: Vec<usize> = (settings.min_k..=settings.max_k)
        .filter(|k| series.len() >= k + settings.min_before)
        .collect();
    let best = tried
        .iter()
        .filter_map(|&k| {
            let split = series.len() - k;
            let before = &series[split.saturating_sub(settings.window)..split];
            let after = &series[split..];
            let (median_before, median_after) = (median(before)?, median(after)?);
            (median_after > median_before * (1.0 + settings.min_magnitude)).then(|| Slowdown {
                index: split,
                k,
                median_before,
                median_after,
                pvalue: shift_test(before, after),
            })
        })
        .min_by(|a, b| a.pvalue.total_cmp(&b.pvalue))?;
    let pvalue = (best.pvalue * tried.len() as f64).min(1.0);
    (pvalue <= settings.max_pvalue).then_some(Slowdown { pvalue, ..best })
}

/// One-sided p-value that the mean of `after` (clipped to 4 robust deviations) lies above the
/// median of `before`, with `before`'s robust spread.
pub fn shift_test(before: &[f64], after: &[f64]) -> f64 {
    let (Some(center), Some(mad)) = (median(before), crate::analysis::stats::mad(before)) else {
        return 1.0;
    };
    let sigma = 1.4826 * mad;
    if after.is_empty() || sigma <= 0.0 {
        return 1.0;
    }
    let clip = |v: f64| v.clamp(center - 4.0 * sigma, center + 4.0 * sigma);
    let mean = after.iter().map(|v| clip(*v)).sum::<f64>() / after.len() as f64;
    let z = (mean - center) / (sigma / (after.len() as f64).sqrt());
    match Normal::new(0.0, 1.0) {
        Ok(normal) => normal.cdf(-z),
        Err(_) => 1.0,
    }
}

fn median(values: &[f64]) -> Option<f64> {
    crate::analysis::stats::median(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A steady series with a little deterministic wobble (about 1 %).
    fn steady(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 1.0 + (((i * 7919) % 13) as f64 - 6.0) / 600.0)
            .collect()
    }

    #[test]
    fn the_shift_test_has_known_values_and_clips_spikes() {
        // Before: median 0, MAD 1, so sigma 1.4826; after: mean 3 over 4 points.
        let before = [-2.0, -1.0, 0.0, 1.0, 2.0];
        let p = shift_test(&before, &[3.0, 3.0, 3.0, 3.0]);
        let z = 3.0 / (1.4826 / 2.0);
        let expected = Normal::new(0.0, 1.0).expect("normal").cdf(-z);
        assert!((p - expected).abs() < 1e-12, "{p} {expected}");
        assert!(shift_test(&before, &[-3.0, -3.0]) > 0.99);
        // One huge value counts as 4 sigma at most.
        let clipped = shift_test(&before, &[1000.0, 0.0, 0.0]);
        let z = (4.0 * 1.4826 / 3.0) / (1.4826 / 3f64.sqrt());
        assert!((clipped - Normal::new(0.0, 1.0).expect("normal").cdf(-z)).abs() < 1e-12);
        assert_eq!(shift_test(&[1.0, 1.0], &[2.0]), 1.0, "no spread");
    }

    #[test]
    fn a_sustained_slowdown_is_found_and_a_spike_or_a_speedup_is_not() {
        let mut z = steady(60);
        z.extend(steady(6).iter().map(|v| v * 1.2));
        let found = slowdown(&z, &Settings::default()).expect("slowdown");
        assert_eq!((found.index, found.k), (60, 6));
        assert!(found.median_after / found.median_before > 1.15, "{found:?}");

        let mut spike = steady(60);
        spike.extend([1.0, 3.0, 1.0]);
        assert_eq!(slowdown(&spike, &Settings::default()), None);

        let mut faster = steady(60);
        faster.extend(steady(6).iter().map(|v| v * 0.8));
        assert_eq!(slowdown(&faster, &Settings::default()), None);

        let mut small = steady(60);
        small.extend(steady(8).iter().map(|v| v * 1.03));
        assert_eq!(slowdown(&small, &Settings::default()), None, "below 5 %");
        assert_eq!(
            slowdown(&steady(8), &Settings::default()),
            None,
            "too short"
        );
    }
}
