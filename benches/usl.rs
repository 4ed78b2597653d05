//! Time to fit the Universal Scalability Law to 32 points, as `fit --csv` and the daemon do.
//!
//! `cargo bench --bench usl` (COPYBENCH_BENCH_FITS, default 1000).

use std::time::Instant;

use copybench_exporter::analysis::usl;

fn main() {
    let fits: usize = std::env::var("COPYBENCH_BENCH_FITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    // Known parameters with about 1 % deterministic noise, concurrencies 1 to 32.
    let (lambda, sigma, kappa) = (1000.0, 0.05, 0.002);
    let points: Vec<(f64, f64)> = (1..=32)
        .map(|n| {
            let n = f64::from(n);
            let x = lambda * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0));
            (n, x * (1.0 + ((n * 7919.0) % 13.0 - 6.0) / 600.0))
        })
        .collect();
    let mut seconds = Vec::with_capacity(fits);
    let mut fit = None;
    for _ in 0..fits {
        let started = Instant::now();
        fit = Some(std::hint::black_box(usl::fit(&points).expect("fit")));
        seconds.push(started.elapsed().as_secs_f64());
    }
    seconds.sort_by(f64::total_cmp);
    let fit = fit.expect("a fit");
    println!("USL fit of 32 points, {fits} fits");
    println!(
        "  median {:.1} us, p99 {:.1} us; sigma {:.4}, kappa {:.5}, lambda {:.1} (true 0.05, 0.002, 1000)",
        seconds[fits / 2] * 1e6,
        seconds[(fits * 99) / 100] * 1e6,
        fit.sigma.value,
        fit.kappa.value,
        fit.lambda.value
    );
}
