//! How often the published intervals cover the truth: on samples drawn from log-normal
//! distributions with a known median (run durations are skewed to the right), the share of
//! order-statistic intervals of the median that contain it, and the share of bootstrap
//! intervals of a ratio of medians (a speedup) that contain the true ratio, for the sample
//! sizes and spreads a sweep produces.
//!
//! `cargo bench --bench statistics` (COPYBENCH_BENCH_TRIALS, default 2000).

use copybench_exporter::analysis::stats;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// A log-normal draw with median `median` and log-space standard deviation `sigma`
/// (Box-Muller for the normal).
fn lognormal(rng: &mut StdRng, median: f64, sigma: f64) -> f64 {
    let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
    let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    median * (sigma * normal).exp()
}

/// The log-space sigma whose log-normal has coefficient of variation `cv`.
fn sigma_for(cv: f64) -> f64 {
    (1.0 + cv * cv).ln().sqrt()
}

fn main() {
    let trials: usize = std::env::var("COPYBENCH_BENCH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let mut rng = StdRng::seed_from_u64(2026);

    println!("median intervals (order statistics), {trials} trials each");
    println!(
        "{:>4} {:>6} {:>16} {:>10} {:>16}",
        "n", "cv", "stated coverage", "observed", "mean width/median"
    );
    for n in [3, 5, 10, 20] {
        for cv in [0.05, 0.2] {
            let (mut covered, mut width, mut stated) = (0, 0.0, 0.0);
            for _ in 0..trials {
                let sample: Vec<f64> = (0..n)
                    .map(|_| lognormal(&mut rng, 1.0, sigma_for(cv)))
                    .collect();
                let interval = stats::median_interval(&sample).expect("interval");
                covered += usize::from(interval.lower <= 1.0 && 1.0 <= interval.upper);
                width += interval.upper - interval.lower;
                stated = interval.coverage;
            }
            println!(
                "{n:>4} {:>5.0}% {:>15.1}% {:>9.1}% {:>16.3}",
                cv * 100.0,
                stated * 100.0,
                covered as f64 / trials as f64 * 100.0,
                width / trials as f64
            );
        }
    }

    println!();
    println!(
        "speedup intervals (bootstrap of the ratio of medians, 95 % stated), {trials} trials each"
    );
    println!(
        "{:>4} {:>6} {:>10} {:>20}",
        "n", "cv", "observed", "mean width/speedup"
    );
    for n in [3, 5, 10] {
        for cv in [0.05, 0.1, 0.2] {
            let truth = 1.8;
            let (mut covered, mut width) = (0, 0.0);
            for _ in 0..trials {
                let one: Vec<f64> = (0..n)
                    .map(|_| lognormal(&mut rng, truth, sigma_for(cv)))
                    .collect();
                let many: Vec<f64> = (0..n)
                    .map(|_| lognormal(&mut rng, 1.0, sigma_for(cv)))
                    .collect();
                let interval = stats::ratio_interval(&one, &many).expect("interval");
                covered += usize::from(interval.lower <= truth && truth <= interval.upper);
                width += (interval.upper - interval.lower) / truth;
            }
            println!(
                "{n:>4} {:>5.0}% {:>9.1}% {:>20.3}",
                cv * 100.0,
                covered as f64 / trials as f64 * 100.0,
                width / trials as f64
            );
        }
    }
}
