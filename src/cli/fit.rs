//! `fit`: the Universal Scalability Law fitted to measured throughput by concurrency, from a
//! CSV data set.

use std::io::{self, Write};
use std::process::ExitCode;

use super::flags::FitArgs;
use super::table::Table;
use crate::analysis::usl;
use crate::render::report;

/// Why `fit` made no fit.
#[derive(Debug, thiserror::Error)]
pub enum FitCommandError {
    /// The CSV data set.
    #[error(transparent)]
    Table(#[from] super::table::TableError),
    /// The data do not allow a fit.
    #[error(transparent)]
    Fit(#[from] usl::FitError),
    /// Writing the answer.
    #[error(transparent)]
    Output(#[from] io::Error),
}

/// Runs `fit`: prints σ, κ, λ with their intervals, R², and the peak.
pub fn command(args: &FitArgs) -> Result<ExitCode, FitCommandError> {
    let table = Table::read(&args.csv)?;
    let points: Vec<(f64, f64)> = table
        .numbers("concurrency")?
        .into_iter()
        .zip(table.numbers("throughput")?)
        .collect();
    let fit = usl::fit(&points)?;
    let mut out = io::stdout().lock();
    if args.json {
        let line = report::fit_json(&fit);
        writeln!(out, "{line}")?;
    } else {
        let p = |name: &str, v: &usl::Parameter| {
            format!(
                "{name:<8} {:<12.6e} 95 % interval [{:.6e}, {:.6e}]",
                v.value, v.lower, v.upper
            )
        };
        writeln!(out, "model    {}", fit.model)?;
        writeln!(out, "{}", p("sigma", &fit.sigma))?;
        writeln!(out, "{}", p("kappa", &fit.kappa))?;
        writeln!(out, "{}", p("lambda", &fit.lambda))?;
        writeln!(out, "r2       {:.6}", fit.r_squared)?;
        match (fit.peak_concurrency, fit.peak_throughput) {
            (Some(n), Some(x)) => writeln!(out, "peak     {x:.6} at concurrency {n:.2}")?,
            _ => writeln!(out, "peak     none within range (throughput keeps rising)")?,
        }
        for warning in &fit.warnings {
            writeln!(out, "warning  {warning}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
