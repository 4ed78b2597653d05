//! E-divisive means with a Student's t-test, as Apache Otava (formerly Hunter) finds change
//! points in performance series (its `docs/MATH.md`; Matteson and James, arXiv:1306.4933).
//!
//! - **Candidates.** In an interval `[s, e)` every split `τ` and segment end `κ` is scored by the
//!   energy statistic `Q(τ, κ) = 2/(n+m)·Σ|X−Y| − 2m/((n+m)(n−1))·Σ|X−X'| −
//!   2n/((n+m)(m−1))·Σ|Y−Y'|` with `X = z[s..τ)`, `Y = z[τ..κ)`; the best `τ` is the candidate.
//! - **Significance.** A candidate splits its interval into two segments whose means are
//!   compared by a two-sided pooled Student's t-test (population standard deviations, as
//!   Otava). Candidates are added, best first, until one is not significant.
//! - **Windows.** The divisive search runs in windows of `window` points that advance by half
//!   a window (or to the last change found), with a looser p-value (10x below 0.05), and the
//!   candidates of all windows are re-tested against their neighbours over the whole series.
//! - **Merge.** The change point with the highest p-value is dropped while it is at or above
//!   `max_pvalue`, then the smallest change while it is at or below `min_magnitude`; after each
//!   drop both neighbours are re-tested (Otava re-tests only the right one, which can keep
//!   stale statistics on the left).
//!
//! Two additions keep one spike from being a change: no segment shorter than `min_segment`
//! points is made, and a change smaller than `min_magnitude` (relative change of the means) is
//! dropped. Pure functions: no I/O, no clock, no randomness.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// How change points are searched for and judged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Points per window of the divisive search (Otava: 50).
    pub window: usize,
    /// A change point is kept only below this p-value (Otava: 0.001).
    pub max_pvalue: f64,
    /// A change point is kept only if the means differ by more than this share.
    pub min_magnitude: f64,
    /// No segment shorter than this is made.
    pub min_segment: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            window: 50,
            max_pvalue: 0.001,
            min_magnitude: 0.05,
            min_segment: 3,
        }
    }
}

/// A change in the mean of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChangePoint {
    /// Index of the first point after the change.
    pub index: usize,
    /// Mean of the segment before it (back to the previous change point).
    pub mean_before: f64,
    /// Mean of the segment after it (up to the next change point).
    pub mean_after: f64,
    /// Two-sided p-value of the t-test between the two segments.
    pub pvalue: f64,
}

impl ChangePoint {
    /// Mean after over mean before (NaN when the mean before is 0).
    pub fn ratio(&self) -> f64 {
        if self.mean_before == 0.0 {
            f64::NAN
        } else {
            self.mean_after / self.mean_before
        }
    }

    /// The larger of the forward and backward relative changes, as Otava measures size.
    pub fn magnitude(&self) -> f64 {
        let relative = |a: f64, b: f64| if a == 0.0 { 0.0 } else { (b / a - 1.0).abs() };
        relative(self.mean_before, self.mean_after).max(relative(self.mean_after, self.mean_before))
    }
}

/// The change points of `series`, in order.
pub fn change_points(series: &[f64], settings: &Settings) -> Vec<ChangePoint> {
    let weak = split(series, settings);
    merge(series, weak, settings)
}

/// The p-value of the search within windows: looser than the final one, as Otava's.
fn first_pass_pvalue(max_pvalue: f64) -> f64 {
    if max_pvalue < 0.05 {
        max_pvalue * 10.0
    } else if max_pvalue < 0.5 {
        max_pvalue * 2.0
    } else {
        max_pvalue
    }
}

/// Candidates from the divisive search in overlapping windows, re-tested over the whole
/// series against their neighbours.
fn split(series: &[f64], settings: &Settings) -> Vec<ChangePoint> {
    let window = settings.window.max(2);
    let step = window / 2;
    let pvalue = first_pass_pvalue(settings.max_pvalue);
    let mut found: Vec<usize> = Vec::new();
    let mut start = 0;
    while start < series.len() {
        let end = (start + window).min(series.len());
        let new: Vec<usize> = divisive(&series[start..end], pvalue, settings.min_segment)
            .into_iter()
            .map(|i| i + start)
            .collect();
        start = new.last().copied().unwrap_or(0).max(start + step);
        for index in new {
            if !found.contains(&index) {
                found.push(index);
            }
        }
    }
    found.sort_unstable();
    (0..found.len())
        .map(|k| tested(series, &found, k))
        .collect()
}

/// The divisive search over one window: the best candidate of every interval between the
/// change points so far is added while the best of them is significant.
fn divisive(z: &[f64], max_pvalue: f64, min_segment: usize) -> Vec<usize> {
    let distances = Distances::new(z);
    let mut found: Vec<usize> = Vec::new();
    loop {
        let bounds = bounds(&found, z.len());
        let best = bounds
            .windows(2)
            .filter_map(|w| Some((w[0], w[1], distances.best_split(w[0], w[1], min_segment)?)))
            .fold(
                None,
                |best: Option<(usize, usize, (usize, f64))>, c| match best {
                    Some(b) if b.2.1 >= c.2.1 => Some(b),
                    _ => Some(c),
                },
            );
        let Some((s, e, (tau, _))) = best else {
            return found;
        };
        let p = ttest(&z[s..tau], &z[tau..e]);
        if p.is_nan() || p > max_pvalue {
            return found;
        }
        found.push(tau);
        found.sort_unstable();
    }
}

/// `0`, the change points, and `len`.
fn bounds(points: &[usize], len: usize) -> Vec<usize> {
    std::iter::once(0)
        .chain(points.iter().copied())
        .chain(std::iter::once(len))
        .collect()
}

/// Change point `k` of the sorted `points`, tested between its neighbouring segments.
fn tested(series: &[f64], points: &[usize], k: usize) -> ChangePoint {
    let bounds = bounds(points, series.len());
    let (before, after) = (
        &series[bounds[k]..bounds[k + 1]],
        &series[bounds[k + 1]..bounds[k + 2]],
    );
    ChangePoint {
        index: points[k],
        mean_before: mean(before),
        mean_after: mean(after),
        pvalue: ttest(before, after),
    }
}

/// Drops insignificant and small change points, re-testing the neighbours of each.
fn merge(series: &[f64], mut points: Vec<ChangePoint>, settings: &Settings) -> Vec<ChangePoint> {
    // NaN p-values (two constant segments with equal means) count as insignificant.
    let p = |c: &ChangePoint| if c.pvalue.is_nan() { 1.0 } else { c.pvalue };
    while !points.is_empty() {
        let mut weakest =
            (0..points.len()).fold(0, |w, i| if p(&points[i]) > p(&points[w]) { i } else { w });
        if p(&points[weakest]) < settings.max_pvalue {
            weakest = (0..points.len()).fold(0, |w, i| {
                if points[i].magnitude() < points[w].magnitude() {
                    i
                } else {
                    w
                }
            });
            if points[weakest].magnitude() > settings.min_magnitude {
                return points;
            }
        }
        points.remove(weakest);
        let indices: Vec<usize> = points.iter().map(|c| c.index).collect();
        for k in [weakest.checked_sub(1), Some(weakest)]
            .into_iter()
            .flatten()
        {
            if k < points.len() {
                points[k] = tested(series, &indices, k);
            }
        }
    }
    points
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Two-sided p-value of the pooled Student's t-test of the means of `a` and `b`, fed with
/// population standard deviations as Otava's is; 1 when there are only two points.
pub fn ttest(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() || n1 + n2 <= 2.0 {
        return 1.0;
    }
    let variance = |v: &[f64], m: f64| {
        if v.len() < 2 {
            0.0
        } else {
            v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64
        }
    };
    let (m1, m2) = (mean(a), mean(b));
    let df = n1 + n2 - 2.0;
    let pooled = ((n1 - 1.0) * variance(a, m1) + (n2 - 1.0) * variance(b, m2)) / df;
    let t = (m1 - m2) / (pooled * (1.0 / n1 + 1.0 / n2)).sqrt();
    if t.is_nan() {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    match StudentsT::new(0.0, 1.0, df) {
        // The lower tail, computed directly: 1 - cdf(|t|) would cancel to 0 for tiny p.
        Ok(dist) => 2.0 * dist.cdf(-t.abs()),
        Err(_) => 1.0,
    }
}

/// Prefix sums of the pairwise distances `|z_i − z_j|` of one window, so that the sum over any
/// rectangle of pairs costs O(1).
struct Distances {
    /// `sums[i][j]` = sum of `|z_a − z_b|` over `a < i`, `b < j`.
    sums: Vec<Vec<f64>>,
}

impl Distances {
    fn new(z: &[f64]) -> Distances {
        let n = z.len();
        let mut sums = vec![vec![0.0; n + 1]; n + 1];
        for i in 0..n {
            for j in 0..n {
                sums[i + 1][j + 1] =
                    sums[i][j + 1] + sums[i + 1][j] - sums[i][j] + (z[i] - z[j]).abs();
            }
        }
        Distances { sums }
    }

    /// Sum of distances between `[a0, a1)` and `[b0, b1)`.
    fn block(&self, a0: usize, a1: usize, b0: usize, b1: usize) -> f64 {
        self.sums[a1][b1] - self.sums[a0][b1] - self.sums[a1][b0] + self.sums[a0][b0]
    }

    /// The split `τ` of `[s, e)` with the highest `Q(τ, κ)` over segment ends `κ`, leaving at
    /// least `min_segment` points on each side, and that score; ties go to the smallest `τ`.
    fn best_split(&self, s: usize, e: usize, min_segment: usize) -> Option<(usize, f64)> {
        let min = min_segment.max(1);
        let mut best: Option<(usize, f64)> = None;
        for tau in (s + min)..=e.checked_sub(min)? {
            for kappa in (tau + min)..=e {
                let (n, m) = ((tau - s) as f64, (kappa - tau) as f64);
                let cross = self.block(s, tau, tau, kappa);
                let within_x = self.block(s, tau, s, tau) / 2.0;
                let within_y = self.block(tau, kappa, tau, kappa) / 2.0;
                let mut q = 2.0 / (n + m) * cross;
                if n > 1.0 {
                    q -= 2.0 * m / ((n + m) * (n - 1.0)) * within_x;
                }
                if m > 1.0 {
                    q -= 2.0 * n / ((n + m) * (m - 1.0)) * within_y;
                }
                if best.is_none_or(|(_, b)| q > b) {
                    best = Some((tau, q));
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Otava's settings: no minimum segment or magnitude beyond its own.
    fn otava() -> Settings {
        Settings {
            window: 50,
            max_pvalue: 0.001,
            min_magnitude: 0.0,
            min_segment: 1,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs()
    }

    /// Within the 6 significant digits Otava's figures were noted with.
    fn near(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-5 * b.abs()
    }

    #[test]
    fn the_energy_statistic_matches_otavas_on_its_reference_series() {
        // Otava's whole-series candidate: τ = 5 with Q = 761.2821428571428 (at κ = 14).
        let z = [
            0.3, 2.4, 1.5, -0.9, -0.5, 99.7, 98.3, 99.1, 149.0, 149.7, 149.5, 149.1, 148.8, 150.0,
        ];
        let (tau, q) = Distances::new(&z)
            .best_split(0, z.len(), 1)
            .expect("candidate");
        assert_eq!(tau, 5);
        assert!(close(q, 761.2821428571428), "{q}");
        // With κ searched, the first block of 5s is found at 3 (κ = 6), as Otava finds it.
        let z = [1.0, 1.0, 1.0, 5.0, 5.0, 5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        assert_eq!(
            Distances::new(&z).best_split(0, z.len(), 1).map(|b| b.0),
            Some(3)
        );
    }

    #[test]
    fn the_t_test_is_otavas_pooled_test_with_population_deviations() {
        // Otava: 0.07924 for these (scipy's ttest_ind would say 0.11739, Welch 0.09600).
        let p = ttest(&[1.0, 2.0, 3.0], &[2.0, 4.0, 5.0, 7.0]);
        assert!((p - 0.07924).abs() < 1e-5, "{p}");
        assert_eq!(ttest(&[1.0], &[2.0]), 1.0);
        assert_eq!(ttest(&[1.0], &[2.0, 2.0]), 0.0);
        assert!(ttest(&[1.0, 1.0], &[1.0, 1.0]).is_nan());
    }

    #[test]
    fn otavas_reference_series_give_its_change_points_and_p_values() {
        let z = [
            0.3, 2.4, 1.5, -0.9, -0.5, 99.7, 98.3, 99.1, 149.0, 149.7, 149.5, 149.1, 148.8, 150.0,
        ];
        let found = change_points(&z, &otava());
        let got: Vec<(usize, f64)> = found.iter().map(|c| (c.index, c.pvalue)).collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!((got[0].0, got[1].0), (5, 8));
        assert!(
            near(got[0].1, 1.58425e-11) && near(got[1].1, 1.41657e-13),
            "{got:?}"
        );

        let drop = [
            1.02, 0.95, 0.99, 1.00, 1.12, 0.90, 0.50, 0.51, 0.48, 0.48, 0.55,
        ];
        let found = change_points(&drop, &otava());
        assert_eq!(found.iter().map(|c| c.index).collect::<Vec<_>>(), [6]);
        assert!(near(found[0].pvalue, 9.47044e-08), "{found:?}");

        let steps: Vec<f64> = (0..120)
            .map(|i| {
                let base = if i < 40 {
                    10.0
                } else if i < 75 {
                    12.0
                } else {
                    9.0
                };
                base + ((i * 7919) % 13) as f64 / 13.0 - 0.5
            })
            .collect();
        let found = change_points(&steps, &otava());
        assert_eq!(found.iter().map(|c| c.index).collect::<Vec<_>>(), [40, 75]);
    }

    #[test]
    fn one_spike_is_not_a_change_and_a_small_shift_is_dropped_by_magnitude() {
        let mut z: Vec<f64> = (0..60)
            .map(|i| 1.0 + ((i * 7919) % 13) as f64 / 1300.0)
            .collect();
        z[30] = 3.0;
        assert!(change_points(&z, &Settings::default()).is_empty());
        let shifted: Vec<f64> = z
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if i == 30 {
                    1.0
                } else if i >= 30 {
                    v * 1.03
                } else {
                    *v
                }
            })
            .collect();
        assert!(
            change_points(&shifted, &Settings::default()).is_empty(),
            "a 3 % change is below the 5 % minimum"
        );
        let big: Vec<f64> = shifted
            .iter()
            .enumerate()
            .map(|(i, v)| if i >= 30 { v * 1.1 } else { *v })
            .collect();
        let found = change_points(&big, &Settings::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].index, 30);
        assert!(found[0].ratio() > 1.1 && found[0].magnitude() > 0.1);
    }
}
