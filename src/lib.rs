//! copybench_exporter measures how a host or pod runs a parallel copy workload and exports the
//! results as Prometheus metrics.
//!
//! Data flows through the modules in this order:
//!
//! - [`config`]: settings from file, environment and flags, checked once;
//! - [`daemon`]: the schedule, probes, reloads and shutdown of the long-running exporter;
//! - [`sweep`]: which runs one sweep makes;
//! - [`workload`]: one run of the copy workload with real processes or threads;
//! - [`verify`]: judges a run's output;
//! - [`run`]: the record of a run, the one shape every consumer reads;
//! - [`state`]: recent runs kept across restarts;
//! - [`metrics`]: every published metric, declared once;
//! - [`http`]: `/metrics`, `/probe`, the landing page and the rest of the HTTP surface.
//!
//! [`cli`] and [`report`] serve the command line and the one-shot `run` command.

#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod daemon;
pub mod http;
pub mod metrics;
pub mod report;
pub mod run;
pub mod state;
pub mod sweep;
pub mod verify;
pub mod workload;
