//! The command line: [`flags`] parses it; each subcommand's body has a file of its own:
//! [`run`] (one sweep, printed), [`check`] (`check-config`, `print-default-config`),
//! [`changes`] and [`fit`] (the analysis over data sets read by [`table`], and by
//! [`range_query`] from a Prometheus-compatible API). The daemon itself
//! starts in [`crate::daemon::run`]; the hidden `worker` is [`crate::workload::worker`].

pub mod changes;
pub mod check;
pub mod fit;
pub mod flags;
pub mod range_query;
pub mod run;
pub mod table;

pub use flags::{ChangesArgs, Cli, Command, FitArgs, RunArgs};
