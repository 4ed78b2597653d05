//! copybench_exporter measures how a host or pod runs a parallel copy workload and exports the
//! results as Prometheus metrics.
//!
//! Data flows through the modules in this order: [`config`] (settings) -> [`sweep`] (which
//! runs) -> [`workload`] (one run of real processes or threads) -> [`verify`] (judge its
//! output) -> [`run`] (the record of a run) -> [`report`] (for the one-shot `run` command).
//! [`cli`] holds the command line.

pub mod cli;
pub mod config;
pub mod report;
pub mod run;
pub mod sweep;
pub mod verify;
pub mod workload;
