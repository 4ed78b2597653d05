//! Presentation: the same results shown to Prometheus ([`metrics`]), to people in a browser
//! ([`page`], drawn with [`chart`]) and on the command line ([`report`]). Reads the results
//! model; changes nothing.

pub mod chart;
pub mod metrics;
pub mod page;
pub mod report;
