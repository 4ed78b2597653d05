//! The copy workload: the measured experiment itself.
//!
//! An input of `lines` lines (`line1` .. `lineN`) is generated in a fresh scratch directory, and
//! one task per line is handed out dynamically to a pool of workers (OS processes or threads).
//! Each task appends a record of its writer (pid, thread count, CPU) and the line it re-read
//! from the input to a shared output file. [`execute`] runs the pool and returns the raw output;
//! judging that output is [`crate::verify`]'s job.
//!
//! Layout: [`task`] is what one worker does per task, [`coordinator`] hands out tasks and keeps
//! the turnstile, [`pool`] starts, watches and stops the workers of either backend,
//! [`worker`] is the entry point of a worker process, and [`aligned`] is the page-aligned
//! buffer every file read of a run goes into.

pub mod aligned;
mod coordinator;
mod pool;
mod scratch;
mod task;
pub mod worker;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use pool::execute;

/// How workers are made: separate OS processes or threads of this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Single-threaded child processes, like Python's `ProcessPoolExecutor`.
    Process,
    /// Threads in one process, like Python's `ThreadPoolExecutor`.
    Thread,
}

/// How workers coordinate their appends to the shared output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// No coordination: the original experiment's race.
    None,
    /// One exclusive lock around each whole task: in order, but serial.
    Lock,
    /// Re-reads overlap, appends go in task order through a turnstile.
    Ordered,
}

names!(Backend, "backend", Process => "process", Thread => "thread");
names!(SyncMode, "sync mode", None => "none", Lock => "lock", Ordered => "ordered");

/// One run's parameters: which pool, how it synchronises, how big the input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Spec {
    /// Processes or threads.
    pub backend: Backend,
    /// Coordination of the appends.
    pub sync: SyncMode,
    /// Number of workers in the pool (at least 1).
    pub workers: u32,
    /// Number of input lines, and so of tasks (at least 1).
    pub lines: u64,
    /// Whether each task re-reads the whole input (the original's quadratic cost).
    pub reread: bool,
}

impl Spec {
    /// The host reference on `lines` lines: the workload's own file operations, one thread,
    /// no coordination. Run in every round of a sweep, its time says how fast the host did
    /// the workload's basic work just then, apart from how the workload scales: the
    /// yardstick the sweep's other combinations are measured against.
    pub fn reference(lines: u64, reread: bool) -> Spec {
        Spec {
            backend: Backend::Thread,
            sync: SyncMode::None,
            workers: 1,
            lines,
            reread,
        }
    }

    /// Whether this is a host reference (of any size).
    pub fn is_reference(&self) -> bool {
        (self.backend, self.sync, self.workers) == (Backend::Thread, SyncMode::None, 1)
    }
}

/// This program as the kernel runs it: what worker processes execute, so that they are the
/// same program as their parent even after its file is replaced (an upgrade) or deleted.
pub const SELF_EXE: &str = "/proc/self/exe";

/// Where and how a run executes, apart from what it measures.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Directory in which a fresh scratch directory is made for each run.
    pub workdir: PathBuf,
    /// Executable started (with the hidden `worker` subcommand) for each worker process.
    pub worker_exe: PathBuf,
    /// A run still going after this long is stopped and its workers killed.
    pub timeout: Duration,
    /// Cancelled from outside to stop the run early (shutdown, Ctrl-C, a probe's scraper
    /// hanging up).
    pub cancel: CancellationToken,
    /// When set, a copy of each completed run's input and output is kept in a directory of
    /// its own under this one (`run --keep-output`).
    pub keep_output: Option<PathBuf>,
}

/// What one worker reports about itself when it finishes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Tasks this worker completed.
    pub tasks: u64,
    /// When it took its first task (CLOCK_MONOTONIC, nanoseconds; the clock is shared by
    /// every process of the machine).
    pub first_task_ns: u64,
    /// When it finished its last task (CLOCK_MONOTONIC, nanoseconds).
    pub last_done_ns: u64,
    /// Consecutive tasks of this worker that ran on different CPUs.
    pub cpu_migrations: u64,
    /// Voluntary context switches of the worker (getrusage).
    pub voluntary_ctx_switches: u64,
    /// Involuntary context switches of the worker (getrusage).
    pub involuntary_ctx_switches: u64,
    /// CPU time the worker used, user and system, in nanoseconds (getrusage).
    pub cpu_ns: u64,
    /// Time the worker waited on a run queue for a CPU during its tasks, in nanoseconds
    /// (schedstat run_delay); `None` where the kernel keeps no schedstat.
    pub wait_ns: Option<u64>,
}

/// The raw result of a completed run, before verification.
#[derive(Debug)]
pub struct RawRun {
    /// The whole output file.
    pub output: aligned::AlignedBuf,
    /// From the first task handed out to the last task done (monotonic clock).
    pub duration: Duration,
    /// One entry per worker.
    pub workers: Vec<WorkerStats>,
}

/// Why a run did not complete; each variant maps to one bounded failure reason.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// A file operation of the run failed.
    #[error("{what}: {error}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The operating system's error.
        error: io::Error,
    },
    /// A worker died, exited non-zero or broke the task protocol.
    #[error("{0}")]
    WorkerExit(String),
    /// The run exceeded its time limit and was stopped.
    #[error("run exceeded its timeout of {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The run was cancelled from outside (shutdown or Ctrl-C).
    #[error("run was cancelled")]
    Cancelled,
}

impl WorkloadError {
    pub(crate) fn io(what: impl Into<String>, error: io::Error) -> Self {
        WorkloadError::Io {
            what: what.into(),
            error,
        }
    }
}

/// Removes scratch directories in `workdir` left by processes that are no longer running
/// (killed before they could clean up), and returns them.
pub fn remove_stale_scratch(workdir: &std::path::Path) -> io::Result<Vec<PathBuf>> {
    scratch::remove_stale(workdir)
}

/// Checks that scratch directories can be made in `workdir` by making and removing one.
pub fn check_workdir(workdir: &std::path::Path) -> Result<(), WorkloadError> {
    let cancel = CancellationToken::new();
    let limits = scratch::Limits {
        deadline: None,
        timeout: Duration::MAX,
        cancel: &cancel,
    };
    scratch::Scratch::create(workdir, 1, 0, &limits).map(drop)
}
