//! copybench_exporter measures how a host or pod runs a parallel copy workload and exports the
//! results as Prometheus metrics.
//!
//! The folders follow the data's path:
//!
//! - [`config`]: settings from file, environment and flags, checked once;
//! - [`schedule`]: what a configuration runs ([`schedule::Setup`]), in which order, one run at
//!   a time ([`schedule::Sweeper`]) and when;
//! - [`workload`]: one run of the copy workload with real processes or threads;
//! - [`host`]: the CPU quota and cpuset, and the throttling, steal and pressure around a run;
//! - [`verify`]: judges a run's output;
//! - [`record`]: one measured run from start to [`record::RunRecord`], the one shape every
//!   consumer reads;
//! - [`results`]: what the runs said, over the SQLite run history, with the counters since
//!   start and the change-point detections, summarised with the pure functions of
//!   [`analysis`];
//! - [`render`]: the results as metrics, the landing page and its charts, and the command
//!   line's tables;
//! - [`web`]: the HTTP server, a thin edge over an [`web::Exporter`], served as the web config
//!   file says (TLS, basic auth, headers).
//!
//! [`daemon`] wires these together for the long-running exporter; [`probe`] answers `/probe`
//! as blackbox_exporter's prober does; [`cli`] serves the command line.

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
pub mod cli;
pub mod config;
pub mod daemon;
pub mod host;
pub mod probe;
pub mod record;
pub mod render;
pub mod results;
pub mod schedule;
pub mod verify;
pub mod web;
pub mod workload;
