//! Robust summaries of repeated measurements: median, minimum, median absolute deviation,
//! coefficient of variation, a distribution-free confidence interval of the median from order
//! statistics, and a bootstrap interval for the ratio of two medians (speedup).
//!
//! Pure functions over plain slices: no I/O, no clock; the bootstrap's random numbers come
//! from a fixed seed, so the same data always gives the same interval.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The confidence level every interval aims for.
pub const CONFIDENCE: f64 = 0.95;

/// Resamples the bootstrap draws.
const BOOTSTRAP_RESAMPLES: usize = 2000;

/// The bootstrap's fixed seed.
const SEED: u64 = 0x0c09_be9c;

/// Median of `values` (the mean of the middle two for an even count); `None` when empty or
/// when a value is NaN.
pub fn median(values: &[f64]) -> Option<f64> {
    let sorted = sorted(values)?;
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 0 {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

/// Median absolute deviation from the median (unscaled).
pub fn mad(values: &[f64]) -> Option<f64> {
    let center = median(values)?;
    let deviations: Vec<f64> = values.iter().map(|v| (v - center).abs()).collect();
    median(&deviations)
}

/// Sample standard deviation over the mean; `None` below two values or for a zero mean.
pub fn cv(values: &[f64]) -> Option<f64> {
    if values.len() < 2 || values.iter().any(|v| v.is_nan()) {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean != 0.0).then(|| variance.sqrt() / mean.abs())
}

/// A confidence interval and the probability that it covers the true value.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Interval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Coverage the method gives for this sample size (for order statistics, exact under any
    /// continuous distribution).
    pub coverage: f64,
}

/// The narrowest symmetric interval of order statistics `[x(k), x(n+1-k)]` that covers the
/// median with probability at least [`CONFIDENCE`]. Below six values no such interval
/// exists; the widest one, `[min, max]`, is returned with its lower coverage
/// (1 - 2^(1-n): 93.75 % for five values). `None` for no values.
pub fn median_interval(values: &[f64]) -> Option<Interval> {
    let sorted = sorted(values)?;
    let n = sorted.len();
    // Coverage of [x(k), x(n+1-k)] is P(k <= B <= n - k) for B ~ Binomial(n, 1/2).
    let coverage = |k: usize| -> f64 {
        let below: f64 = (0..k).map(|i| binomial_half(n, i)).sum();
        1.0 - 2.0 * below
    };
    let mut k = 1;
    while k < n.div_ceil(2) && coverage(k + 1) >= CONFIDENCE {
        k += 1;
    }
    Some(Interval {
        lower: sorted[k - 1],
        upper: sorted[n - k],
        coverage: coverage(k),
    })
}

/// P(B = i) for B ~ Binomial(n, 1/2), computed in logs so large n does not overflow.
fn binomial_half(n: usize, i: usize) -> f64 {
    let ln_choose = ln_factorial(n) - ln_factorial(i) - ln_factorial(n - i);
    (ln_choose - n as f64 * std::f64::consts::LN_2).exp()
}

fn ln_factorial(n: usize) -> f64 {
    (2..=n).map(|i| (i as f64).ln()).sum()
}

/// A [`CONFIDENCE`] percentile-bootstrap interval for `median(numerator) / median(denominator)`,
/// each sample resampled on its own. Its `coverage` is the nominal level; how close the real
/// coverage comes for small samples is measured by `cargo bench --bench statistics`.
pub fn ratio_interval(numerator: &[f64], denominator: &[f64]) -> Option<Interval> {
    sorted(numerator)?;
    sorted(denominator)?;
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut draw = |sample: &[f64], into: &mut Vec<f64>| {
        into.clear();
        into.extend((0..sample.len()).map(|_| sample[rng.random_range(0..sample.len())]));
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut ratios = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    for _ in 0..BOOTSTRAP_RESAMPLES {
        draw(numerator, &mut a);
        draw(denominator, &mut b);
        let ratio = median(&a)? / median(&b)?;
        if ratio.is_finite() {
            ratios.push(ratio);
        }
    }
    let ratios = sorted(&ratios)?;
    let tail = (1.0 - CONFIDENCE) / 2.0;
    let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    Some(Interval {
        lower: at(tail),
        upper: at(1.0 - tail),
        coverage: CONFIDENCE,
    })
}

/// `values` sorted, or `None` when empty or holding a NaN.
fn sorted(values: &[f64]) -> Option<Vec<f64>> {
    if values.is_empty() || values.iter().any(|v| v.is_nan()) {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(sorted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn medians_mads_and_cvs_of_known_samples() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, f64::NAN]), None);
        // Deviations from 3: 2, 1, 0, 1, 97 -> median 1.
        assert_eq!(mad(&[1.0, 2.0, 3.0, 4.0, 100.0]), Some(1.0));
        // mean 5, sample variance 32/7 * ... : values 2,4,4,4,5,5,7,9 have sum of squares 32.
        let cv_known = cv(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).expect("cv");
        assert!(close(cv_known, (32.0f64 / 7.0).sqrt() / 5.0), "{cv_known}");
        assert_eq!(cv(&[1.0]), None);
        assert_eq!(cv(&[-1.0, 1.0]), None);
    }

    #[test]
    fn order_statistic_intervals_have_their_textbook_ranks_and_coverage() {
        // n = 5: no symmetric pair reaches 95 %, so [min, max] at 1 - 2/32 = 93.75 %.
        let five = median_interval(&[5.0, 1.0, 4.0, 2.0, 3.0]).expect("interval");
        assert_eq!((five.lower, five.upper), (1.0, 5.0));
        assert!(close(five.coverage, 0.9375));
        // n = 6: [x(1), x(6)] at 1 - 2/64 = 96.875 %.
        let six: Vec<f64> = (1..=6).map(f64::from).collect();
        let i = median_interval(&six).expect("interval");
        assert_eq!((i.lower, i.upper), (1.0, 6.0));
        assert!(close(i.coverage, 0.96875));
        // n = 10: [x(2), x(9)] at 97.85 % (k = 3 would give 89.06 %).
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        let i = median_interval(&ten).expect("interval");
        assert_eq!((i.lower, i.upper), (2.0, 9.0));
        assert!(close(i.coverage, 1.0 - 2.0 * 11.0 / 1024.0));
        // n = 100: the classic ranks 40 and 61.
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        let i = median_interval(&hundred).expect("interval");
        assert_eq!((i.lower, i.upper), (40.0, 61.0));
        assert!(i.coverage >= 0.95 && i.coverage < 0.97, "{}", i.coverage);
        let one = median_interval(&[7.0]).expect("interval");
        assert_eq!((one.lower, one.upper, one.coverage), (7.0, 7.0, 0.0));
        assert_eq!(median_interval(&[]), None);
    }

    #[test]
    fn ratio_intervals_bracket_the_ratio_of_medians_and_repeat_exactly() {
        let slow = [2.0, 2.1, 1.9, 2.05, 1.95];
        let fast = [1.0, 1.05, 0.95, 1.02, 0.98];
        let i = ratio_interval(&slow, &fast).expect("interval");
        assert!(i.lower < 2.0 && 2.0 < i.upper, "{i:?}");
        assert!(i.lower > 1.7 && i.upper < 2.3, "{i:?}");
        assert_eq!(ratio_interval(&slow, &fast), Some(i), "deterministic");
        let same = ratio_interval(&[3.0], &[1.5]).expect("interval");
        assert_eq!((same.lower, same.upper), (2.0, 2.0));
        assert_eq!(ratio_interval(&[], &fast), None);
    }
}
