//! Starts a run's workers (threads or child processes), watches them against the timeout and
//! the cancel flag, and always cleans up: on every path out of [`execute`] the coordinator is
//! stopped, child processes are killed and reaped, threads are joined, and the scratch directory
//! is removed.

use std::io::Read;
use std::panic::{self, AssertUnwindSafe};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::coordinator::Coordinator;
use super::scratch::Scratch;
use super::task::{self, Files};
use super::worker::{self, WorkerArgs};
use super::{Backend, RawRun, RunOptions, Spec, WorkerStats, WorkloadError};

/// How often the watcher looks at the cancel flag while workers are busy.
const POLL: Duration = Duration::from_millis(20);

/// What a worker (or the thread serving a worker process) reports when it ends.
type Report = (usize, Result<WorkerStats, WorkloadError>);

/// Runs the copy workload described by `spec` once and returns its raw output.
pub fn execute(spec: &Spec, options: &RunOptions) -> Result<RawRun, WorkloadError> {
    let scratch = Scratch::create(&options.workdir, spec.lines)?;
    let coordinator = Arc::new(Coordinator::new(spec.lines));
    let (reports, inbox) = mpsc::channel();
    let mut pool = Pool {
        coordinator: Arc::clone(&coordinator),
        threads: Vec::new(),
        children: Vec::new(),
    };
    for index in 0..spec.workers as usize {
        match spec.backend {
            Backend::Thread => pool.spawn_thread(index, spec, &scratch.files, reports.clone())?,
            Backend::Process => pool.spawn_process(
                index,
                spec,
                &scratch.files,
                &options.worker_exe,
                reports.clone(),
            )?,
        }
    }
    drop(reports);
    let workers = pool.watch(&inbox, options)?;
    drop(pool);
    let duration = coordinator.elapsed().ok_or_else(|| {
        WorkloadError::WorkerExit("workers ended before every task was done".to_owned())
    })?;
    let output = std::fs::read(&scratch.files.output)
        .map_err(|e| WorkloadError::io(format!("read {}", scratch.files.output.display()), e))?;
    Ok(RawRun {
        output,
        duration,
        workers,
    })
}

/// The live workers of one run. Dropping it stops and reaps them all.
struct Pool {
    coordinator: Arc<Coordinator>,
    threads: Vec<JoinHandle<()>>,
    children: Vec<Child>,
}

impl Pool {
    fn spawn_thread(
        &mut self,
        index: usize,
        spec: &Spec,
        files: &Files,
        reports: Sender<Report>,
    ) -> Result<(), WorkloadError> {
        let coordinator = Arc::clone(&self.coordinator);
        let files = files.clone();
        let (sync, reread) = (spec.sync, spec.reread);
        let handle = thread::Builder::new()
            .name(format!("copybench-worker-{index}"))
            .spawn(move || {
                let result = panic::catch_unwind(AssertUnwindSafe(|| {
                    task::work(&mut &*coordinator, &files, sync, reread)
                }));
                let report = match result {
                    Ok(Ok(stats)) => Ok(stats),
                    Ok(Err(e)) => Err(WorkloadError::io(format!("worker thread {index}"), e)),
                    Err(_) => Err(WorkloadError::WorkerExit(format!(
                        "worker thread {index} panicked"
                    ))),
                };
                // The watcher may have given up on this run already; nothing is lost then.
                let _ = reports.send((index, report));
            })
            .map_err(|e| WorkloadError::io("start a worker thread", e))?;
        self.threads.push(handle);
        Ok(())
    }

    fn spawn_process(
        &mut self,
        index: usize,
        spec: &Spec,
        files: &Files,
        exe: &std::path::Path,
        reports: Sender<Report>,
    ) -> Result<(), WorkloadError> {
        let mut child = Command::new(exe)
            .args(WorkerArgs::to_args(files, spec.sync, spec.reread))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| WorkloadError::io(format!("start worker process {}", exe.display()), e))?;
        let pipes = (child.stdout.take(), child.stdin.take());
        self.children.push(child);
        let (Some(requests), Some(replies)) = pipes else {
            return Err(WorkloadError::WorkerExit(
                "worker process started without its pipes".to_owned(),
            ));
        };
        let coordinator = Arc::clone(&self.coordinator);
        let handle = thread::Builder::new()
            .name(format!("copybench-serve-{index}"))
            .spawn(move || {
                let report = worker::serve(requests, replies, &coordinator)
                    .map_err(WorkloadError::WorkerExit);
                let _ = reports.send((index, report));
            })
            .map_err(|e| WorkloadError::io("start a worker pipe thread", e))?;
        self.threads.push(handle);
        Ok(())
    }

    /// Waits for every worker's report; on the first failure, timeout or cancellation it stops
    /// the rest and returns that cause once all have ended.
    fn watch(
        &mut self,
        inbox: &Receiver<Report>,
        options: &RunOptions,
    ) -> Result<Vec<WorkerStats>, WorkloadError> {
        let deadline = Instant::now() + options.timeout;
        let mut stats = Vec::new();
        let mut failure = None;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now()).min(POLL);
            let cause = match inbox.recv_timeout(wait) {
                Ok((_, Ok(worker))) => {
                    stats.push(worker);
                    continue;
                }
                Ok((index, Err(e))) => self.explain(index, e),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) if options.cancel.is_cancelled() => {
                    WorkloadError::Cancelled
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                    WorkloadError::Timeout(options.timeout)
                }
                Err(RecvTimeoutError::Timeout) => continue,
            };
            if failure.is_none() {
                // A worker dying of the Ctrl-C that also cancelled us is a cancellation.
                let cancelled = options.cancel.is_cancelled();
                failure = Some(if cancelled {
                    WorkloadError::Cancelled
                } else {
                    cause
                });
                self.stop();
            }
        }
        failure.map_or(Ok(stats), Err)
    }

    /// Adds the exit status and stderr of a failed worker process to its error.
    fn explain(&mut self, index: usize, error: WorkloadError) -> WorkloadError {
        let WorkloadError::WorkerExit(detail) = &error else {
            return error;
        };
        let Some(child) = self.children.get_mut(index) else {
            return error;
        };
        let pid = child.id();
        // A worker that already died keeps its own status; a live one that broke the
        // protocol is killed here.
        let _ = child.kill();
        let status = child
            .wait()
            .map_or_else(|e| format!("unknown status ({e})"), |s| s.to_string());
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        let stderr = stderr.trim();
        let stderr = if stderr.is_empty() {
            String::new()
        } else {
            format!(": {stderr}")
        };
        WorkloadError::WorkerExit(format!("worker process {pid} {detail} ({status}){stderr}"))
    }

    /// Stops handing out tasks and kills every worker process.
    fn stop(&mut self) {
        self.coordinator.stop();
        for child in &mut self.children {
            let _ = child.kill();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // After a normal end every worker has already finished; this only matters on early
        // returns, and makes sure nothing outlives the run.
        self.stop();
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
        for child in &mut self.children {
            let _ = child.wait();
        }
    }
}
