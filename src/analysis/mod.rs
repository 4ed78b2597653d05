//! Analysis of measurements: pure functions over plain numbers, with no I/O and no clock, so
//! that each can be checked against data with a known answer and serve the daemon and the
//! command line alike.
//!
//! - [`stats`]: robust summaries of repeated measurements and their intervals.

pub mod stats;
