//! The Universal Scalability Law (N. Gunther) fitted to throughput at several concurrencies:
//! `X(N) = λN / (1 + σ(N−1) + κN(N−1))`, where σ is contention (the serial share) and κ
//! coherency (the cost of keeping workers consistent, which makes throughput fall past a peak
//! at `N* = sqrt((1−σ)/κ)`). Amdahl's law is the `κ = 0` case.
//!
//! The fit is bounded nonlinear least squares on throughput (σ and κ in [0, 1], λ > 0 and
//! free, not pinned to the 1-worker point) by Levenberg-Marquardt with the steps projected
//! onto the bounds; the intervals are 95 % Student-t intervals from the Jacobian at the
//! optimum. When κ cannot be told from 0 (at its bound, or its interval covers 0 and Amdahl
//! fits as well) the fit falls back to Amdahl and says so. Pure functions.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Fewest distinct concurrencies a fit is made with.
pub const MIN_POINTS: usize = 4;

/// Below this many distinct concurrencies the fit carries a warning.
pub const FEW_POINTS: usize = 6;

/// The concurrencies a fit takes.
pub const CONCURRENCIES: std::ops::RangeInclusive<f64> = 1.0..=1e6;

/// The throughputs a fit takes.
pub const THROUGHPUTS: std::ops::RangeInclusive<f64> = 1e-30..=1e30;

/// A peak beyond this many times the largest measured concurrency is not reported.
const MAX_PEAK_FACTOR: f64 = 100.0;

/// Why no fit was made.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FitError {
    /// Too few distinct concurrencies to tell three parameters apart.
    #[error("{found} distinct concurrencies; a fit needs at least {MIN_POINTS}")]
    TooFewPoints {
        /// How many there were.
        found: usize,
    },
    /// A concurrency outside [`CONCURRENCIES`] or a throughput outside [`THROUGHPUTS`]:
    /// beyond them the least squares lose their precision (squares overflow or vanish) and a
    /// "fit" would only be the search's starting point.
    #[error(
        "point {index}: concurrency {concurrency:e} must be from 1 to 1e6 and throughput {throughput:e} from 1e-30 to 1e30"
    )]
    BadPoint {
        /// Its position.
        index: usize,
        /// Its concurrency.
        concurrency: f64,
        /// Its throughput.
        throughput: f64,
    },
    /// The fit did not converge to finite parameters.
    #[error("the fit did not converge")]
    NoConvergence,
}

/// Which model the parameters are of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// The full law.
    Usl,
    /// κ = 0: the data do not show coherency.
    Amdahl,
}

impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Model::Usl => "USL",
            Model::Amdahl => "Amdahl",
        })
    }
}

/// A fitted parameter with its 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Parameter {
    /// The estimate.
    pub value: f64,
    /// Lower bound (clipped to the parameter's range).
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

/// A fit of the law to measured throughput.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fit {
    /// Which model.
    pub model: Model,
    /// Contention.
    pub sigma: Parameter,
    /// Coherency (0 for Amdahl).
    pub kappa: Parameter,
    /// Throughput of one worker with no contention.
    pub lambda: Parameter,
    /// Share of the throughput's variance the model explains.
    pub r_squared: f64,
    /// The concurrency of peak throughput, when κ > 0 and it lies within 100 times the largest
    /// measured concurrency.
    pub peak_concurrency: Option<f64>,
    /// The throughput there.
    pub peak_throughput: Option<f64>,
    /// What to be careful about (few points, the Amdahl fallback).
    pub warnings: Vec<String>,
    /// Covariance of the fitted parameters (λ, σ and, for the full law, κ), scaled by the
    /// Student-t quantile squared: what the curve's band is drawn from.
    #[serde(skip)]
    scaled_covariance: Vec<Vec<f64>>,
}

impl Fit {
    /// The model's throughput at concurrency `n`.
    pub fn throughput(&self, n: f64) -> f64 {
        predict(&self.params(), n)
    }

    /// The 95 % confidence band of the fitted curve at concurrency `n` (lower, upper), by
    /// the delta method from the parameters' covariance.
    pub fn band(&self, n: f64) -> (f64, f64) {
        let params = self.params();
        let gradient = gradient(&params[..self.scaled_covariance.len()], n);
        let variance: f64 = gradient
            .iter()
            .zip(&self.scaled_covariance)
            .map(|(gi, row)| gi * row.iter().zip(&gradient).map(|(c, gj)| c * gj).sum::<f64>())
            .sum();
        let half = variance.max(0.0).sqrt();
        let x = predict(&params, n);
        ((x - half).max(0.0), x + half)
    }

    fn params(&self) -> [f64; 3] {
        [self.lambda.value, self.sigma.value, self.kappa.value]
    }
}

/// The derivatives of `X(n)` by each of the parameters `p` (`[λ, σ]` or `[λ, σ, κ]`).
fn gradient(p: &[f64], n: f64) -> Vec<f64> {
    let kappa = p.get(2).copied().unwrap_or(0.0);
    let d = 1.0 + p[1] * (n - 1.0) + kappa * n * (n - 1.0);
    let mut row = vec![n / d, -p[0] * n * (n - 1.0) / (d * d)];
    if p.len() == 3 {
        row.push(-p[0] * n * n * (n - 1.0) / (d * d));
    }
    row
}

/// `X(n)` for parameters `[λ, σ, κ]`.
fn predict(p: &[f64], n: f64) -> f64 {
    p[0] * n / (1.0 + p[1] * (n - 1.0) + p.get(2).copied().unwrap_or(0.0) * n * (n - 1.0))
}

/// Fits the law to `points` of (concurrency, throughput).
pub fn fit(points: &[(f64, f64)]) -> Result<Fit, FitError> {
    for (index, &(concurrency, throughput)) in points.iter().enumerate() {
        if !(CONCURRENCIES.contains(&concurrency) && THROUGHPUTS.contains(&throughput)) {
            return Err(FitError::BadPoint {
                index,
                concurrency,
                throughput,
            });
        }
    }
    let mut distinct: Vec<f64> = points.iter().map(|p| p.0).collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() < MIN_POINTS {
        return Err(FitError::TooFewPoints {
            found: distinct.len(),
        });
    }
    let mut warnings = Vec::new();
    if distinct.len() < FEW_POINTS {
        warnings.push(format!(
            "only {} distinct concurrencies: the parameters are poorly determined",
            distinct.len()
        ));
    }
    let usl = least_squares(points, 3)?;
    let amdahl = least_squares(points, 2)?;
    // Amdahl when kappa is at 0, or its interval covers 0 and dropping it costs the fit
    // next to nothing (R squared within 0.01).
    let kappa_unclear =
        usl.params[2] <= 0.0 || (usl.lower(2) <= 0.0 && amdahl.r_squared >= usl.r_squared - 0.01);
    let (model, solution) = if kappa_unclear {
        warnings.push("coherency (kappa) cannot be told from 0: fitted Amdahl's law".to_owned());
        (Model::Amdahl, amdahl)
    } else {
        (Model::Usl, usl)
    };
    let parameter = |i: usize, max: f64| Parameter {
        value: solution.params.get(i).copied().unwrap_or(0.0),
        lower: if i < solution.params.len() {
            solution.lower(i).max(0.0)
        } else {
            0.0
        },
        upper: if i < solution.params.len() {
            solution.upper(i).min(max)
        } else {
            0.0
        },
    };
    let mut fit = Fit {
        model,
        lambda: parameter(0, f64::INFINITY),
        sigma: parameter(1, 1.0),
        kappa: parameter(2, 1.0),
        r_squared: solution.r_squared,
        peak_concurrency: None,
        peak_throughput: None,
        warnings,
        scaled_covariance: solution.scaled_covariance,
    };
    let largest = distinct.last().copied().unwrap_or(1.0);
    if fit.kappa.value > 0.0 {
        let peak = ((1.0 - fit.sigma.value) / fit.kappa.value).sqrt();
        if peak.is_finite() && (1.0..=largest * MAX_PEAK_FACTOR).contains(&peak) {
            fit.peak_concurrency = Some(peak);
            fit.peak_throughput = Some(fit.throughput(peak));
        }
    }
    Ok(fit)
}

/// The result of one least-squares fit of the first `k` of `[λ, σ, κ]`.
struct Solution {
    params: Vec<f64>,
    /// The parameters' covariance times the 95 % Student-t quantile squared.
    scaled_covariance: Vec<Vec<f64>>,
    r_squared: f64,
}

impl Solution {
    /// Half-width of parameter `i`'s 95 % interval.
    fn half_width(&self, i: usize) -> f64 {
        self.scaled_covariance[i][i].max(0.0).sqrt()
    }

    fn lower(&self, i: usize) -> f64 {
        self.params[i] - self.half_width(i)
    }

    fn upper(&self, i: usize) -> f64 {
        self.params[i] + self.half_width(i)
    }
}

/// Levenberg-Marquardt on the first `k` parameters (3: USL; 2: Amdahl), steps projected onto
/// σ, κ in [0, 1] and λ > 0.
fn least_squares(points: &[(f64, f64)], k: usize) -> Result<Solution, FitError> {
    let rss = |p: &[f64]| -> f64 {
        points
            .iter()
            .map(|&(n, x)| (x - predict(p, n)).powi(2))
            .sum()
    };
    // Start: λ from the best per-worker throughput, a little contention and coherency.
    let lambda0 = points.iter().map(|&(n, x)| x / n).fold(0.0, f64::max);
    let mut p = vec![lambda0, 0.01, 1e-4];
    p.truncate(k);
    let mut cost = rss(&p);
    let mut damping = 1e-3;
    for _ in 0..1000 {
        let (jtj, jtr) = normal_equations(points, &p);
        let mut a = jtj.clone();
        for i in 0..k {
            a[i][i] += damping * jtj[i][i].max(1e-300);
        }
        let Some(step) = solve(a, jtr) else {
            damping *= 10.0;
            continue;
        };
        let mut trial: Vec<f64> = p.iter().zip(&step).map(|(v, s)| v + s).collect();
        trial[0] = trial[0].max(f64::MIN_POSITIVE);
        for v in trial.iter_mut().skip(1) {
            *v = v.clamp(0.0, 1.0);
        }
        let trial_cost = rss(&trial);
        if trial_cost < cost {
            let improvement = (cost - trial_cost) / cost.max(f64::MIN_POSITIVE);
            p = trial;
            cost = trial_cost;
            damping = (damping / 3.0).max(1e-12);
            if improvement < 1e-14 {
                break;
            }
        } else {
            damping *= 2.0;
            if damping > 1e12 {
                break;
            }
        }
    }
    if p.iter().any(|v| !v.is_finite()) {
        return Err(FitError::NoConvergence);
    }
    let n = points.len() as f64;
    let mean = points.iter().map(|p| p.1).sum::<f64>() / n;
    let total: f64 = points.iter().map(|p| (p.1 - mean).powi(2)).sum();
    let dof = (points.len() - k).max(1) as f64;
    let (jtj, _) = normal_equations(points, &p);
    let t = StudentsT::new(0.0, 1.0, dof)
        .map(|d| d.inverse_cdf(0.975))
        .unwrap_or(f64::NAN);
    // Columns of (JᵀJ)⁻¹, scaled by the residual variance and t².
    let scale = t * t * cost / dof;
    let columns: Vec<Vec<f64>> = (0..k)
        .map(|i| {
            let mut unit = vec![0.0; k];
            unit[i] = 1.0;
            solve(jtj.clone(), unit).unwrap_or_else(|| vec![f64::NAN; k])
        })
        .collect();
    let scaled_covariance = (0..k)
        .map(|i| (0..k).map(|j| scale * columns[j][i]).collect())
        .collect();
    Ok(Solution {
        params: p,
        scaled_covariance,
        r_squared: if total > 0.0 { 1.0 - cost / total } else { 1.0 },
    })
}

/// `JᵀJ` and `Jᵀr` of the residuals `r = x − X(n)` at `p`.
fn normal_equations(points: &[(f64, f64)], p: &[f64]) -> (Vec<Vec<f64>>, Vec<f64>) {
    let k = p.len();
    let mut jtj = vec![vec![0.0; k]; k];
    let mut jtr = vec![0.0; k];
    for &(n, x) in points {
        let row = gradient(p, n);
        let r = x - predict(p, n);
        for i in 0..k {
            jtr[i] += row[i] * r;
            for j in 0..k {
                jtj[i][j] += row[i] * row[j];
            }
        }
    }
    (jtj, jtr)
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting; `None` if singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (top, rest) = a.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for (offset, row) in rest.iter_mut().enumerate() {
            let factor = row[col] / pivot_row[col];
            for (cell, above) in row.iter_mut().zip(pivot_row).skip(col) {
                *cell -= factor * above;
            }
            b[col + 1 + offset] -= factor * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let sum: f64 = (row + 1..n).map(|c| a[row][c] * x[c]).sum();
        x[row] = (b[row] - sum) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(value: f64, expected: f64, share: f64) -> bool {
        ((value - expected) / expected).abs() <= share
    }

    #[test]
    fn the_cisco_data_give_the_books_parameters_within_a_tenth_of_a_percent() {
        let text = include_str!("../../tests/fixtures/usl-cisco.csv");
        let table = crate::cli::table::Table::parse("usl-cisco.csv", text).expect("csv");
        let n = table.numbers("concurrency").expect("concurrency");
        let x = table.numbers("throughput").expect("throughput");
        let points: Vec<(f64, f64)> = n.into_iter().zip(x).collect();
        let fit = fit(&points).expect("fit");
        assert_eq!(fit.model, Model::Usl);
        assert!(within(fit.sigma.value, 0.02671591, 0.001), "{fit:?}");
        assert!(within(fit.kappa.value, 7.690945e-4, 0.001), "{fit:?}");
        assert!(within(fit.lambda.value, 995.6486, 0.001), "{fit:?}");
        // The book gives the peak as a whole number of workers: 35 (sqrt((1-σ)/κ) = 35.57).
        let peak = fit.peak_concurrency.expect("peak");
        assert_eq!(peak.floor(), 35.0, "{peak}");
        assert!(
            within(fit.peak_throughput.expect("peak"), 12341.0, 0.001),
            "{fit:?}"
        );
        assert!(fit.r_squared > 0.99);
        assert!(fit.sigma.lower < fit.sigma.value && fit.sigma.value < fit.sigma.upper);
        assert!(fit.warnings.is_empty(), "{:?}", fit.warnings);
    }

    /// Throughput at 1..=24 workers of the law with known parameters, with deterministic noise
    /// of about 1 %.
    fn noisy() -> ([f64; 3], Vec<(f64, f64)>) {
        let truth = [1000.0, 0.05, 0.002];
        let points = (1..=24)
            .map(|n| {
                let n = f64::from(n);
                let noise = 1.0 + ((n * 7919.0) % 13.0 - 6.0) / 600.0;
                (n, predict(&truth, n) * noise)
            })
            .collect();
        (truth, points)
    }

    #[test]
    fn known_parameters_are_recovered_from_noisy_data() {
        let (truth, points) = noisy();
        let fit = fit(&points).expect("fit");
        assert_eq!(fit.model, Model::Usl);
        for (p, t) in [
            (fit.lambda, truth[0]),
            (fit.sigma, truth[1]),
            (fit.kappa, truth[2]),
        ] {
            assert!(p.lower <= t && t <= p.upper, "{t} outside {p:?}");
        }
        assert!(within(fit.kappa.value, truth[2], 0.1), "{fit:?}");
    }

    #[test]
    fn the_band_holds_the_true_curve_and_narrows_where_the_data_are() {
        let (truth, points) = noisy();
        let fit = fit(&points).expect("fit");
        for n in [1.0, 4.0, 12.0, 24.0] {
            let (lower, upper) = fit.band(n);
            let x = fit.throughput(n);
            assert!(lower < x && x < upper, "n={n}: {lower} {x} {upper}");
            assert!(
                lower <= predict(&truth, n) && predict(&truth, n) <= upper,
                "n={n}"
            );
        }
        let width = |n: f64| fit.band(n).1 - fit.band(n).0;
        assert!(width(100.0) > 3.0 * width(12.0), "extrapolation is wider");
    }

    #[test]
    fn amdahl_data_fall_back_to_amdahl_and_say_so() {
        let points: Vec<(f64, f64)> = (1..=8)
            .map(|n| (f64::from(n), predict(&[500.0, 0.1, 0.0], f64::from(n))))
            .collect();
        let fit = fit(&points).expect("fit");
        assert_eq!(fit.model, Model::Amdahl);
        assert_eq!(fit.kappa.value, 0.0);
        assert!(within(fit.sigma.value, 0.1, 0.001), "{fit:?}");
        assert_eq!((fit.peak_concurrency, fit.peak_throughput), (None, None));
        assert!(fit.warnings.iter().any(|w| w.contains("Amdahl")));
    }

    #[test]
    fn falling_throughput_keeps_its_coherency_even_from_few_points() {
        // Serial work that gets slower with every worker (a lock): sigma near 1, kappa > 0.
        let points: Vec<(f64, f64)> = (1..=4)
            .map(|n| {
                (
                    f64::from(n),
                    predict(&[1000.0, 1.0, 0.1], f64::from(n)) * 1.0,
                )
            })
            .collect();
        let fit = fit(&points).expect("fit");
        assert_eq!(fit.model, Model::Usl, "{fit:?}");
        assert!(fit.r_squared > 0.99 && fit.kappa.value > 0.05, "{fit:?}");
    }

    #[test]
    fn too_few_or_bad_points_are_refused_and_few_points_warned_about() {
        let three = [(1.0, 10.0), (2.0, 19.0), (3.0, 27.0), (3.0, 26.0)];
        assert_eq!(fit(&three), Err(FitError::TooFewPoints { found: 3 }));
        let bad = [(0.0, 10.0), (2.0, 19.0), (3.0, 27.0), (4.0, 30.0)];
        assert!(matches!(
            fit(&bad),
            Err(FitError::BadPoint { index: 0, .. })
        ));
        // Near the ends of the floating-point range the least squares cannot move: refused,
        // not "fitted" with R squared 1 at the starting point.
        for scale in [1e300, 1e-300] {
            let extreme: Vec<(f64, f64)> = (1..=6)
                .map(|n| {
                    (
                        f64::from(n),
                        scale * predict(&[1.0, 0.05, 0.01], f64::from(n)),
                    )
                })
                .collect();
            assert!(
                matches!(fit(&extreme), Err(FitError::BadPoint { index: 0, .. })),
                "{scale}"
            );
        }
        let huge = [(1e300, 1.0), (2.0, 2.0), (3.0, 3.0), (4.0, 4.0)];
        assert!(matches!(
            fit(&huge),
            Err(FitError::BadPoint { index: 0, .. })
        ));
        let four: Vec<(f64, f64)> = (1..=4)
            .map(|n| (f64::from(n), predict(&[100.0, 0.05, 0.01], f64::from(n))))
            .collect();
        let fit = fit(&four).expect("fit");
        assert!(
            fit.warnings.iter().any(|w| w.contains("4 distinct")),
            "{fit:?}"
        );
    }
}
