//! The worker process: the hidden `worker` subcommand that the process backend starts once per
//! worker, and the protocol it speaks with its parent.
//!
//! Tasks come from the worker's stdin, which is the run's task file: one 8-byte record per
//! task number, opened once by the parent and inherited by every worker process. The workers
//! share that one open file description, so each `read` of a record takes the next task and
//! advances the common offset atomically: a dynamic queue (a worker that finishes takes the
//! next task) that needs no message to the parent per task.
//!
//! Over stdout the worker reports, in ordered mode, `turn N` (then reads `go` or `end` from its
//! reply FIFO) and `done N`; and, last, `stats ...`. The parent end, [`serve`], answers from the
//! run's [`Coordinator`]. A worker checks before each task that its parent is still the
//! process that started it, and stops if not, so no worker outlives its run.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::unistd::{Pid, getppid};

use super::coordinator::Coordinator;
use super::task::{self, Files, Queue};
use super::{SyncMode, WorkerStats};

/// Arguments of the hidden `worker` subcommand.
#[derive(Clone, Debug, clap::Args)]
pub struct WorkerArgs {
    /// Generated input file.
    #[arg(long)]
    pub input: PathBuf,
    /// Shared output file.
    #[arg(long)]
    pub output: PathBuf,
    /// Lock file for lock mode.
    #[arg(long)]
    pub lock: PathBuf,
    /// Sync mode of the run.
    #[arg(long)]
    pub sync: SyncMode,
    /// Whether each task re-reads the whole input.
    #[arg(long, action = clap::ArgAction::Set)]
    pub reread: bool,
    /// FIFO the parent answers turn requests on (ordered mode).
    #[arg(long)]
    pub replies: Option<PathBuf>,
    /// Pid of the process that started this worker. Passed rather than read with `getppid`
    /// at start, since the parent may already be gone by then.
    #[arg(long)]
    pub parent: i32,
}

impl WorkerArgs {
    pub(crate) fn to_args(
        files: &Files,
        sync: SyncMode,
        reread: bool,
        replies: Option<&Path>,
    ) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["worker".into()];
        for (flag, path) in [
            ("--input", &files.input),
            ("--output", &files.output),
            ("--lock", &files.lock),
        ] {
            args.push(flag.into());
            args.push(path.into());
        }
        args.extend(["--sync".into(), sync.as_str().into()]);
        args.extend(["--reread".into(), reread.to_string().into()]);
        if let Some(replies) = replies {
            args.extend(["--replies".into(), replies.into()]);
        }
        args.extend(["--parent".into(), std::process::id().to_string().into()]);
        args
    }
}

/// The exit status of a worker process whose file I/O failed (sysexits' `EX_IOERR`), so that
/// its parent reports the run's failure as `io`, as the thread backend does.
pub const IO_ERROR_EXIT: u8 = 74;

/// The exit status of a worker process that failed with `error`: [`IO_ERROR_EXIT`] when the
/// system refused its file I/O (a full disk, a file too large), 1 when the task protocol broke
/// (a short record, an unexpected reply, the parent gone), which its parent reports as
/// `worker_exit`.
pub fn exit_status(error: &io::Error) -> u8 {
    use io::ErrorKind::{InvalidData, InvalidInput, Other, UnexpectedEof};
    // The protocol's own errors have these kinds; the system's keep theirs (StorageFull,
    // FileTooLarge, ...) through the context the task adds.
    if matches!(
        error.kind(),
        InvalidData | InvalidInput | Other | UnexpectedEof
    ) {
        1
    } else {
        IO_ERROR_EXIT
    }
}

/// Entry point of a worker process: runs tasks from the shared task file on stdin.
pub fn main(args: &WorkerArgs) -> io::Result<()> {
    // Named in ps and top as the thread workers are, not "exe" after /proc/self/exe; the name
    // is only a label, so a failure to set it is no reason to stop.
    let _ = nix::sys::prctl::set_name(c"copybench-worker");
    let files = Files {
        input: args.input.clone(),
        output: args.output.clone(),
        lock: args.lock.clone(),
    };
    // An unbuffered handle on stdin: a buffered read would take other workers' tasks.
    let tasks = File::from(io::stdin().as_fd().try_clone_to_owned()?);
    let replies = match (&args.replies, args.sync) {
        (Some(path), SyncMode::Ordered) => Some(BufReader::new(File::open(path)?)),
        (None, SyncMode::Ordered) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ordered mode needs --replies",
            ));
        }
        _ => None,
    };
    let mut queue = Remote {
        tasks,
        requests: io::stdout().lock(),
        replies,
        line: String::new(),
        parent: Pid::from_raw(args.parent),
    };
    let stats = task::work(&mut queue, &files, args.sync, args.reread)?;
    let wait = stats
        .wait_ns
        .map_or_else(|| "-".to_owned(), |w| w.to_string());
    queue.send(format_args!(
        "stats {} {} {} {} {} {} {} {wait}",
        stats.tasks,
        stats.first_task_ns,
        stats.last_done_ns,
        stats.cpu_migrations,
        stats.voluntary_ctx_switches,
        stats.involuntary_ctx_switches,
        stats.cpu_ns
    ))
}

/// Writes the task file of a run over `lines` lines and returns it open for reading at its
/// start, ready to be every worker process's stdin.
pub(crate) fn write_task_file(path: &Path, lines: u64) -> io::Result<File> {
    let mut writer = io::BufWriter::new(File::create(path)?);
    for task in 1..=lines {
        writer.write_all(&task.to_le_bytes())?;
    }
    writer
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_data()?;
    File::open(path)
}

/// The worker's end of the protocol.
struct Remote<T, W, R> {
    tasks: T,
    requests: W,
    /// Answers to turn requests; only in ordered mode.
    replies: Option<R>,
    line: String,
    /// The process that started this worker: if it dies, the worker is reparented and stops.
    parent: Pid,
}

impl<T: Read, W: Write, R: BufRead> Remote<T, W, R> {
    fn send(&mut self, message: std::fmt::Arguments<'_>) -> io::Result<()> {
        writeln!(self.requests, "{message}")?;
        self.requests.flush()
    }
}

impl<T: Read, W: Write, R: BufRead> Queue for Remote<T, W, R> {
    fn next(&mut self) -> io::Result<Option<u64>> {
        if getppid() != self.parent {
            return Err(io::Error::other("the parent process exited"));
        }
        let mut record = [0u8; 8];
        // One read per record: the offset is shared, so a read that came back short and was
        // continued could take bytes of another worker's record.
        let n = loop {
            match self.tasks.read(&mut record) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        match n {
            0 => Ok(None),
            8 => Ok(Some(u64::from_le_bytes(record))),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "task file ended inside a record",
            )),
        }
    }

    fn wait_turn(&mut self, task: u64) -> io::Result<bool> {
        self.send(format_args!("turn {task}"))?;
        let Some(replies) = self.replies.as_mut() else {
            return Err(io::Error::other("no reply channel for turn requests"));
        };
        self.line.clear();
        if replies.read_line(&mut self.line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the parent closed the reply channel",
            ));
        }
        match self.line.trim_end() {
            "go" => Ok(true),
            "end" => Ok(false),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected reply {other:?}"),
            )),
        }
    }

    fn pass_turn(&mut self, task: u64) -> io::Result<()> {
        self.send(format_args!("done {task}"))
    }
}

/// How a worker process broke the protocol, as seen from the parent's end.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The worker's pipe closed before it reported its statistics (it died or exited).
    #[error("closed its pipe before finishing")]
    Closed,
    /// Reading the worker's pipe failed.
    #[error("could not be read from: {0}")]
    Read(io::Error),
    /// Writing the reply to a turn request failed.
    #[error("could not be answered: {0}")]
    Reply(io::Error),
    /// A request the protocol does not have, or with a malformed number.
    #[error("sent a bad request {0:?}")]
    BadRequest(String),
    /// A turn request outside ordered mode.
    #[error("asked for a turn without a reply channel: {0:?}")]
    NoReplyChannel(String),
    /// A `stats` line without exactly seven numbers.
    #[error("sent bad statistics {0:?}")]
    BadStats(String),
}

/// The parent's end of the protocol for one worker process: answers its turn requests from
/// `coordinator` on `replies` until it reports its statistics. An error means the worker died
/// or broke the protocol.
pub(crate) fn serve(
    requests: impl Read,
    mut replies: Option<impl Write>,
    coordinator: &Coordinator,
) -> Result<WorkerStats, ProtocolError> {
    let mut requests = BufReader::new(requests);
    let mut line = String::new();
    loop {
        line.clear();
        if requests.read_line(&mut line).map_err(ProtocolError::Read)? == 0 {
            return Err(ProtocolError::Closed);
        }
        let request = line.trim_end();
        let bad = || ProtocolError::BadRequest(request.to_owned());
        match request.split_once(' ') {
            Some(("turn", task)) => {
                let task = task.parse().map_err(|_| bad())?;
                let Some(out) = replies.as_mut() else {
                    return Err(ProtocolError::NoReplyChannel(request.to_owned()));
                };
                let reply = if coordinator.wait_turn(task) {
                    "go"
                } else {
                    "end"
                };
                writeln!(out, "{reply}")
                    .and_then(|()| out.flush())
                    .map_err(ProtocolError::Reply)?;
            }
            Some(("done", task)) => coordinator.task_done(task.parse().map_err(|_| bad())?),
            Some(("stats", fields)) => {
                return parse_stats(fields)
                    .ok_or_else(|| ProtocolError::BadStats(request.to_owned()));
            }
            _ => return Err(bad()),
        }
    }
}

/// A worker's `stats` fields: seven numbers, then its wait or `-`.
fn parse_stats(fields: &str) -> Option<WorkerStats> {
    let (fields, wait) = fields.rsplit_once(' ')?;
    let mut numbers = fields.split(' ').map(|n| n.parse::<u64>().ok());
    let stats = WorkerStats {
        tasks: numbers.next()??,
        first_task_ns: numbers.next()??,
        last_done_ns: numbers.next()??,
        cpu_migrations: numbers.next()??,
        voluntary_ctx_switches: numbers.next()??,
        involuntary_ctx_switches: numbers.next()??,
        cpu_ns: numbers.next()??,
        wait_ns: match wait {
            "-" => None,
            wait => Some(wait.parse().ok()?),
        },
    };
    numbers.next().is_none().then_some(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker's queue over `tasks`, sending into a Vec, with `replies` in ordered mode.
    fn remote<T: Read>(tasks: T, replies: Option<&[u8]>) -> Remote<T, Vec<u8>, &[u8]> {
        Remote {
            tasks,
            requests: Vec::new(),
            replies,
            line: String::new(),
            parent: getppid(),
        }
    }

    fn tasks(numbers: &[u64]) -> Vec<u8> {
        numbers.iter().flat_map(|n| n.to_le_bytes()).collect()
    }

    #[test]
    fn serve_answers_turns_and_returns_the_stats() {
        let coordinator = Coordinator::new(2);
        let script = "turn 1\ndone 1\nturn 2\ndone 2\nstats 2 10 20 1 5 3 700 40\n";
        let mut replies = Vec::new();
        let stats = serve(script.as_bytes(), Some(&mut replies), &coordinator).expect("stats");
        assert_eq!(String::from_utf8(replies).expect("utf8"), "go\ngo\n");
        let expected = WorkerStats {
            tasks: 2,
            first_task_ns: 10,
            last_done_ns: 20,
            cpu_migrations: 1,
            voluntary_ctx_switches: 5,
            involuntary_ctx_switches: 3,
            cpu_ns: 700,
            wait_ns: Some(40),
        };
        assert_eq!(stats, expected);
        // A kernel without schedstat: no wait.
        let script = "stats 2 10 20 1 5 3 700 -\n";
        let stats = serve(script.as_bytes(), Some(Vec::new()), &coordinator).expect("stats");
        assert_eq!(stats.wait_ns, None);
    }

    #[test]
    fn serve_reports_a_worker_that_vanishes_or_talks_nonsense() {
        let coordinator = Coordinator::new(5);
        let none: Option<Vec<u8>> = None;
        let eof = serve("done 1\n".as_bytes(), none.clone(), &coordinator).expect_err("eof");
        assert!(matches!(eof, ProtocolError::Closed), "{eof}");
        let junk = serve("hello\n".as_bytes(), none.clone(), &coordinator).expect_err("junk");
        assert!(matches!(junk, ProtocolError::BadRequest(_)), "{junk}");
        let short = serve("stats 1 2\n".as_bytes(), none.clone(), &coordinator).expect_err("short");
        assert!(matches!(short, ProtocolError::BadStats(_)), "{short}");
        let turn = serve("turn 1\n".as_bytes(), none, &coordinator).expect_err("no channel");
        assert!(matches!(turn, ProtocolError::NoReplyChannel(_)), "{turn}");
    }

    #[test]
    fn remote_takes_records_from_the_task_file_until_it_runs_dry() {
        let mut queue = remote(io::Cursor::new(tasks(&[3, 1])), None);
        assert_eq!(queue.next().expect("task"), Some(3));
        assert_eq!(queue.next().expect("task"), Some(1));
        assert_eq!(queue.next().expect("end"), None);
        assert!(queue.requests.is_empty(), "taking tasks sends nothing");

        let mut torn = remote(&[1u8, 0, 0][..], None);
        let broken = torn.next().expect_err("torn");
        assert_eq!(broken.kind(), io::ErrorKind::InvalidData);
        // A broken protocol is the worker's exit, a refused write the system's I/O.
        assert_eq!(exit_status(&broken), 1);
        assert_eq!(
            exit_status(&io::Error::other("the parent process exited")),
            1
        );
        let full = io::Error::from_raw_os_error(nix::libc::ENOSPC);
        let said = io::Error::new(full.kind(), format!("append to output.txt: {full}"));
        assert_eq!(exit_status(&said), IO_ERROR_EXIT);
    }

    #[test]
    fn a_worker_whose_parent_is_gone_takes_no_task() {
        // The parent named on the command line, not whoever adopted the worker since.
        let mut queue = remote(io::Cursor::new(tasks(&[1])), None);
        queue.parent = Pid::from_raw(i32::MAX);
        let err = queue.next().expect_err("orphan");
        assert!(err.to_string().contains("parent process exited"), "{err}");
    }

    #[test]
    fn remote_asks_for_turns_and_reports_done_in_ordered_mode() {
        let mut queue = remote(
            io::Cursor::new(tasks(&[1, 2])),
            Some("go\nend\n".as_bytes()),
        );
        assert_eq!(queue.next().expect("task"), Some(1));
        assert!(queue.wait_turn(1).expect("go"));
        queue.pass_turn(1).expect("done");
        assert_eq!(queue.next().expect("task"), Some(2));
        assert!(!queue.wait_turn(2).expect("end"));
        let sent = String::from_utf8(queue.requests).expect("utf8");
        assert_eq!(sent, "turn 1\ndone 1\nturn 2\n");
    }

    #[test]
    fn workers_sharing_one_task_file_take_each_task_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write_task_file(&dir.path().join("tasks"), 1000).expect("task file");
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let shared = file.try_clone().expect("dup");
                std::thread::spawn(move || {
                    let mut queue = remote(shared, None);
                    let mut taken = Vec::new();
                    while let Some(task) = queue.next().expect("read") {
                        taken.push(task);
                    }
                    taken
                })
            })
            .collect();
        let mut all: Vec<u64> = readers
            .into_iter()
            .flat_map(|r| r.join().expect("reader"))
            .collect();
        all.sort_unstable();
        assert_eq!(all, (1..=1000).collect::<Vec<u64>>());
    }
}
