//! How each backend and sync mode scale: the Universal Scalability Law's parameters with
//! their intervals, the peak and the fit's quality.

use super::Sources;
use super::family::{self, Family, Gauge};
use crate::analysis::usl::Fit;

/// The gauges of the Universal Scalability Law fitted to each backend and sync mode.
const GAUGES: &[Gauge<Fit>] = &[
    (
        "copybench_usl_sigma",
        "Contention (sigma) of the Universal Scalability Law fitted to the latest sweep's median throughput by pool size (NaN when no fit: fewer than 4 pool sizes).",
        |f| Some(f.sigma.value),
    ),
    (
        "copybench_usl_sigma_lower",
        "Lower bound of the 95 % interval of sigma.",
        |f| Some(f.sigma.lower),
    ),
    (
        "copybench_usl_sigma_upper",
        "Upper bound of the 95 % interval of sigma.",
        |f| Some(f.sigma.upper),
    ),
    (
        "copybench_usl_kappa",
        "Coherency (kappa) of the fit; 0 when it fell back to Amdahl's law.",
        |f| Some(f.kappa.value),
    ),
    (
        "copybench_usl_kappa_lower",
        "Lower bound of the 95 % interval of kappa.",
        |f| Some(f.kappa.lower),
    ),
    (
        "copybench_usl_kappa_upper",
        "Upper bound of the 95 % interval of kappa.",
        |f| Some(f.kappa.upper),
    ),
    (
        "copybench_usl_lambda",
        "Throughput of one worker without contention (lambda), in lines per second.",
        |f| Some(f.lambda.value),
    ),
    (
        "copybench_usl_peak_workers",
        "Pool size of peak throughput, sqrt((1-sigma)/kappa) (NaN without a finite peak).",
        |f| f.peak_concurrency,
    ),
    (
        "copybench_usl_r_squared",
        "Share of the throughput's variance the fit explains.",
        |f| Some(f.r_squared),
    ),
];

/// The fit families of every backend and sync mode (NaN where no fit was made).
pub(super) fn collect(sources: &Sources) -> Vec<Family> {
    family::table(
        GAUGES,
        sources.snapshot.scaling.iter().map(|s| {
            (
                [("backend", s.backend.as_str()), ("sync", s.sync.as_str())],
                s.fit.as_ref().ok(),
            )
        }),
    )
}
