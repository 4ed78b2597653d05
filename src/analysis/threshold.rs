//! How high a CUSUM must climb before it speaks, on noise that remembers.
//!
//! A one-sided CUSUM's threshold `h` sets its false-alarm rate: on average one alarm every
//! ARL sweeps while nothing changed. Set for independent noise, it alarms several times too
//! often on positively autocorrelated noise (a slow sweep is followed by slow sweeps), which
//! is what sweeps on a shared machine are. So `h` comes from a table in the noise's
//! *effective* AR(1) coefficient ([`phi_eff`]) and the ARL, simulated for the detector
//! exactly as [`super::cusum`] runs it: reference value k = 0.75, z clipped at 3, its baseline
//! estimated (winsorized, 96 sweeps before a guard of 8) rather than known.

/// The effective AR(1) coefficients the table has rows for.
const PHIS: [f64; 8] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
/// The in-control average run lengths (sweeps between false alarms) it has columns for.
const ARLS: [f64; 8] = [
    500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0, 20_000.0, 50_000.0, 100_000.0,
];
/// `h` for each (φ, ARL): AR(1) Gaussian noise, 800 series × 2,500 sweeps per φ, the
/// baseline estimated as the detector does, restarted after each alarm. The last two
/// columns are extrapolated in ln ARL.
const H: [[f64; 8]; 8] = [
    [3.29, 3.83, 4.38, 5.11, 5.68, 6.37, 7.19, 7.80],
    [3.77, 4.45, 5.14, 6.07, 6.78, 7.41, 8.29, 8.95],
    [4.32, 5.11, 6.01, 7.20, 8.12, 9.13, 10.39, 11.33],
    [5.08, 6.07, 7.11, 8.50, 9.54, 10.53, 11.76, 12.73],
    [5.93, 7.16, 8.40, 10.01, 11.24, 12.61, 14.17, 15.44],
    [7.24, 8.83, 10.48, 12.78, 14.57, 16.14, 18.27, 19.87],
    [9.06, 11.20, 13.32, 16.09, 17.98, 20.01, 22.69, 24.74],
    [11.64, 14.53, 17.35, 21.02, 23.84, 26.69, 29.99, 32.16],
];

/// The largest effective φ the table covers; noisier memory is treated as this.
pub const PHI_MAX: f64 = 0.7;

/// The threshold for a series whose noise has effective AR(1) coefficient `phi` (clamped to
/// 0..=0.7), for one false alarm per `arl` sweeps: linear in φ, linear in ln ARL between the
/// table's columns and beyond them.
pub fn threshold(phi: f64, arl: f64) -> f64 {
    let phi = phi.clamp(0.0, PHI_MAX);
    let row = ((phi / 0.1).floor() as usize).min(PHIS.len() - 2);
    let t = (phi - PHIS[row]) / 0.1;
    let at = |r: usize| along_arl(&H[r], arl.max(2.0));
    at(row) * (1.0 - t) + at(row + 1) * t
}

/// One row of the table at `arl`, linear in ln ARL (extrapolated past either end).
fn along_arl(row: &[f64; 8], arl: f64) -> f64 {
    let x = arl.ln();
    let column = ARLS
        .windows(2)
        .position(|w| x <= w[1].ln())
        .unwrap_or(ARLS.len() - 2);
    let (x0, x1) = (ARLS[column].ln(), ARLS[column + 1].ln());
    let t = (x - x0) / (x1 - x0);
    row[column] + t * (row[column + 1] - row[column])
}

/// The long-run variance ratio of `values` over `lags` lags: 1 + 2 Σ (1 − l/(lags+1)) r_l
/// with r_l the lag-l autocorrelation (Bartlett weights), at least 1. `None` with fewer than
/// `4 × lags` values or none that differ.
pub fn long_run_ratio(values: &[f64], lags: usize) -> Option<f64> {
    if values.len() < 4 * lags.max(1) {
        return None;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let centred: Vec<f64> = values.iter().map(|v| v - mean).collect();
    let variance: f64 = centred.iter().map(|v| v * v).sum();
    if variance <= 0.0 {
        return None;
    }
    let ratio = (1..=lags).fold(1.0, |sum, lag| {
        let r: f64 = centred
            .iter()
            .zip(&centred[lag..])
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / variance;
        sum + 2.0 * (1.0 - lag as f64 / (lags + 1) as f64) * r
    });
    Some(ratio.max(1.0))
}

/// The AR(1) coefficient with long-run variance ratio `ratio`, (λ − 1)/(λ + 1), clamped to
/// the table's range: the φ whose (1 + φ)/(1 − φ) is λ.
pub fn phi_eff(ratio: f64) -> f64 {
    ((ratio - 1.0) / (ratio + 1.0)).clamp(0.0, PHI_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn the_tables_points_are_returned_as_they_are() {
        for (r, phi) in PHIS.iter().enumerate() {
            for (c, arl) in ARLS.iter().enumerate() {
                assert!(
                    (threshold(*phi, *arl) - H[r][c]).abs() < 1e-9,
                    "{phi} {arl}"
                );
            }
        }
    }

    #[test]
    fn the_threshold_rises_with_memory_and_with_the_run_length() {
        let mut last = 0.0;
        for step in 0..=70 {
            let h = threshold(step as f64 / 100.0, 40_000.0);
            assert!(h > last, "not rising at phi {}", step as f64 / 100.0);
            last = h;
        }
        assert!(threshold(0.3, 400_000.0) > threshold(0.3, 100_000.0));
        assert!(threshold(0.3, 300.0) < threshold(0.3, 500.0));
        // Beyond the table's memory, the last row.
        assert_eq!(threshold(0.95, 1_000.0), threshold(0.7, 1_000.0));
    }

    /// AR(1) noise with coefficient `phi` and unit marginal variance.
    fn ar1(rng: &mut StdRng, phi: f64, n: usize) -> Vec<f64> {
        let innovation = (1.0 - phi * phi).sqrt();
        let mut x = 0.0;
        (0..n)
            .map(|_| {
                let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                x = phi * x + innovation * z;
                x
            })
            .collect()
    }

    #[test]
    fn phi_eff_recovers_the_coefficient_of_ar1_noise() {
        let mut rng = StdRng::seed_from_u64(7);
        for phi in [0.0, 0.3, 0.5] {
            let estimates: Vec<f64> = (0..40)
                .map(|_| phi_eff(long_run_ratio(&ar1(&mut rng, phi, 2_000), 8).unwrap()))
                .collect();
            let mean = estimates.iter().sum::<f64>() / estimates.len() as f64;
            // Bartlett weights over 8 lags under-state a long memory a little (0.44 for 0.5).
            assert!(
                mean > phi - 0.1 && mean < phi + 0.03,
                "phi {phi}: estimated {mean:.3}"
            );
        }
        assert_eq!(long_run_ratio(&[1.0; 100], 8), None);
        assert_eq!(long_run_ratio(&[1.0, 2.0], 8), None);
    }
}
