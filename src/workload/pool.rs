//! Starts a run's workers (threads or child processes), watches them against the timeout and
//! the cancel flag, and always cleans up: on every path out of [`execute`] the coordinator is
//! stopped, child processes are killed and reaped, threads are joined, and the scratch directory
//! is removed. The run's duration comes from the workers' own clocks: from the first task any
//! of them took to the last task any of them finished.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sys::stat::Mode;
use nix::unistd::mkfifo;

use super::aligned::AlignedBuf;
use super::coordinator::Coordinator;
use super::scratch::{self, Limits, Scratch};
use super::task::{self, Files};
use super::worker::{self, WorkerArgs};
use super::{Backend, RawRun, RunOptions, Spec, SyncMode, WorkerStats, WorkloadError};

/// How often the watcher looks at the cancel flag while workers are busy.
const POLL: Duration = Duration::from_millis(20);

/// What a worker (or the thread serving a worker process) reports when it ends.
type Report = (usize, Result<WorkerStats, WorkloadError>);

/// Runs the copy workload described by `spec` once and returns its raw output.
pub fn execute(spec: &Spec, options: &RunOptions) -> Result<RawRun, WorkloadError> {
    if options.cancel.is_cancelled() {
        return Err(WorkloadError::Cancelled);
    }
    // The timeout covers everything from here: making the input, the tasks, the clean-up.
    let limits = Limits {
        deadline: Instant::now().checked_add(options.timeout),
        timeout: options.timeout,
        cancel: &options.cancel,
    };
    let bytes = scratch::run_bytes(spec.lines, spec.backend == Backend::Process);
    scratch::remove_leftovers();
    let scratch = Scratch::create(&options.workdir, spec.lines, bytes, &limits)?;
    let coordinator = Arc::new(Coordinator::new(spec.lines));
    let (reports, inbox) = mpsc::channel();
    let mut pool = Pool {
        coordinator: Arc::clone(&coordinator),
        threads: Vec::new(),
        children: Vec::new(),
    };
    let tasks = match spec.backend {
        Backend::Thread => None,
        Backend::Process => {
            let path = scratch.path().join("tasks");
            let file = worker::write_task_file(&path, spec.lines)
                .map_err(|e| WorkloadError::io(format!("write {}", path.display()), e))?;
            Some(file)
        }
    };
    for index in 0..spec.workers as usize {
        match &tasks {
            None => pool.spawn_thread(index, spec, &scratch.files, reports.clone())?,
            Some(tasks) => pool.spawn_process(
                index,
                spec,
                &scratch,
                tasks,
                &options.worker_exe,
                reports.clone(),
            )?,
        }
    }
    drop(reports);
    let workers = pool.watch(&inbox, &limits)?;
    drop(pool);
    let done: u64 = workers.iter().map(|w| w.tasks).sum();
    if done != spec.lines {
        return Err(WorkloadError::WorkerExit(format!(
            "workers ended after {done} of {} tasks",
            spec.lines
        )));
    }
    let busy = workers.iter().filter(|w| w.tasks > 0);
    let first = busy.clone().map(|w| w.first_task_ns).min().unwrap_or(0);
    let last = busy.map(|w| w.last_done_ns).max().unwrap_or(0);
    let mut output = AlignedBuf::default();
    File::open(&scratch.files.output)
        .and_then(|mut file| output.read_file(&mut file))
        .map_err(|e| WorkloadError::io(format!("read {}", scratch.files.output.display()), e))?;
    if let Some(dir) = &options.keep_output {
        scratch.keep(dir, spec)?;
    }
    Ok(RawRun {
        output,
        duration: Duration::from_nanos(last.saturating_sub(first)),
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
        scratch: &Scratch,
        tasks: &File,
        exe: &Path,
        reports: Sender<Report>,
    ) -> Result<(), WorkloadError> {
        let io = |what: String| move |e| WorkloadError::io(what, e);
        // In ordered mode the parent answers turn requests on a FIFO per worker, opened
        // read-write here so that neither side's open blocks.
        let replies = if spec.sync == SyncMode::Ordered {
            let path = scratch.path().join(format!("replies-{index}"));
            mkfifo(&path, Mode::S_IRUSR | Mode::S_IWUSR).map_err(|e| {
                WorkloadError::io(format!("make FIFO {}", path.display()), e.into())
            })?;
            let writer = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(io(format!("open {}", path.display())))?;
            Some((path, writer))
        } else {
            None
        };
        let stdin = tasks
            .try_clone()
            .map_err(io("share the task file".to_owned()))?;
        let args = WorkerArgs::to_args(
            &scratch.files,
            spec.sync,
            spec.reread,
            replies.as_ref().map(|(path, _)| path.as_path()),
        );
        let mut child = Command::new(exe)
            // Named as the exporter in `ps`, whatever path it was started by.
            .arg0("copybench_exporter")
            .args(args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io(format!("start worker process {}", exe.display())))?;
        let requests = child.stdout.take();
        self.children.push(child);
        let Some(requests) = requests else {
            return Err(WorkloadError::WorkerExit(
                "worker process started without its pipes".to_owned(),
            ));
        };
        let coordinator = Arc::clone(&self.coordinator);
        let handle = thread::Builder::new()
            .name(format!("copybench-serve-{index}"))
            .spawn(move || {
                let replies = replies.map(|(_, writer)| writer);
                let report = worker::serve(requests, replies, &coordinator)
                    .map_err(|e| WorkloadError::WorkerExit(e.to_string()));
                let _ = reports.send((index, report));
            })
            .map_err(io("start a worker pipe thread".to_owned()))?;
        self.threads.push(handle);
        Ok(())
    }

    /// Waits for every worker's report; on the first failure, timeout or cancellation it stops
    /// the rest and returns that cause once all have ended.
    fn watch(
        &mut self,
        inbox: &Receiver<Report>,
        limits: &Limits<'_>,
    ) -> Result<Vec<WorkerStats>, WorkloadError> {
        // A timeout too large to add to the clock means no deadline.
        let deadline = limits.deadline;
        let mut stats = Vec::new();
        let mut failure = None;
        loop {
            let wait = match deadline {
                Some(deadline) if failure.is_none() => {
                    deadline.saturating_duration_since(Instant::now()).min(POLL)
                }
                _ => POLL,
            };
            let cause = match inbox.recv_timeout(wait) {
                Ok((_, Ok(worker))) => {
                    stats.push(worker);
                    continue;
                }
                Ok((index, Err(e))) if failure.is_none() => self.explain(index, e),
                // Workers stopped because of the first failure end with errors of their own.
                Ok((_, Err(_))) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => match limits.check() {
                    Ok(()) => continue,
                    Err(stop) => stop,
                },
            };
            if failure.is_none() {
                // A worker dying of the Ctrl-C that also cancelled us is a cancellation.
                let cancelled = limits.cancel.is_cancelled();
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
        let waited = child.wait();
        let io_error = matches!(&waited, Ok(s) if s.code() == Some(worker::IO_ERROR_EXIT.into()));
        let status = waited.map_or_else(|e| format!("unknown status ({e})"), |s| s.to_string());
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
        if io_error {
            return WorkloadError::io(
                format!("worker process {pid}"),
                std::io::Error::other(stderr.trim_start_matches(": ").to_owned()),
            );
        }
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
