//! End-to-end tests: they run the real `copybench_exporter` binary, with real worker
//! processes, real files and signals.

mod alertmanager;
mod alerts;
mod cgroup;
mod daemon;
mod faults;
mod history;
mod offline;
mod prometheus;
mod quota;
mod readme;
mod run_command;
mod series;
mod tls;
mod util;
