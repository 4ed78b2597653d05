//! Analysis of measurements: pure functions over plain numbers, with no I/O and no clock, so
//! that each can be checked against data with a known answer and serve the daemon and the
//! command line alike.
//!
//! - [`stats`]: robust summaries of repeated measurements and their intervals;
//! - [`edivisive`]: change points in a series, as Apache Otava finds them;
//! - [`tail`]: a robust test for a slowdown of the last few points;
//! - [`changes`]: both together, and whether the latest change is a regression;
//! - [`cusum`]: a sequential detector of slowdowns for one series, with persistence;
//! - [`threshold`]: its threshold for a false-alarm rate on autocorrelated noise;
//! - [`signals`]: a sweep's host, workload and scaling signals, and its contention;
//! - [`watch`]: a node's detectors over those signals, and the contention rule;
//! - [`usl`]: the Universal Scalability Law fitted to throughput at several concurrencies;
//! - [`attribution`]: what changed on the node around a change: its likely causes.

pub mod attribution;
pub mod changes;
pub mod cusum;
pub mod edivisive;
pub mod signals;
pub mod stats;
pub mod tail;
pub mod threshold;
pub mod usl;
pub mod watch;
