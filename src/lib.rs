//! copybench_exporter measures how a host or pod runs a parallel copy workload and exports the
//! results as Prometheus metrics.
//!
//! Data flows through the modules in this order:
//!
//! - [`config`]: settings from file, environment and flags, checked once;
//! - [`schedule`]: which runs a sweep makes, the sweep loop, and when sweeps start;
//! - [`workload`]: one run of the copy workload with real processes or threads;
//! - [`host`]: the CPU quota and cpuset, and the throttling, steal and pressure around a run;
//! - [`verify`]: judges a run's output;
//! - [`run`]: the record of a run, the one shape every consumer reads;
//! - [`results`]: what the runs said, over the SQLite run history ([`results::store`]),
//!   summarised with the pure functions of [`analysis`];
//! - [`metrics`]: every published metric, declared once, rendered from the results;
//! - [`http`]: `/metrics`, `/probe`, the landing page and the rest of the HTTP surface, a thin
//!   edge over an [`http::Exporter`], served as [`webconfig`] says (TLS, basic auth, headers).
//!
//! [`daemon`] wires these together for the long-running exporter; [`page`] lays out the
//! landing page and [`chart`] draws its SVG charts; [`cli`] and [`report`]
//! serve the command line, with [`table`] reading the offline commands' CSV data sets;
//! [`probe`] and [`query`] read what HTTP requests ask for.

#![warn(missing_docs)]

/// Implements the label string, `Display` and `FromStr` of a closed set of names.
macro_rules! names {
    ($type:ident, $what:literal, $($variant:ident => $name:literal),+) => {
        impl $type {
            /// Every value, in label order.
            pub const ALL: &[$type] = &[$($type::$variant),+];

            /// The label value used in metrics, JSON, flags and queries.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($type::$variant => $name),+
                }
            }
        }

        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $type {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    format!("unknown {} {s:?}; expected one of {}", $what, names.join(", "))
                })
            }
        }
    };
}

pub mod analysis;
pub mod chart;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod host;
pub mod http;
pub mod metrics;
pub mod page;
pub mod probe;
pub mod query;
pub mod report;
pub mod results;
pub mod run;
pub mod schedule;
pub mod table;
pub mod verify;
pub mod webconfig;
pub mod workload;
