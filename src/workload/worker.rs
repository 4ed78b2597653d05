//! The worker process: the hidden `worker` subcommand that the process backend starts once per
//! worker, and the line protocol it speaks with its parent over stdin/stdout.
//!
//! The worker asks `next` and gets `task N` or `end`; in ordered mode it asks `turn N` and
//! gets `go` or `end`; it reports `done N` after each append and, last, `stats ...`. The parent
//! end of the protocol, [`serve`], answers from the run's [`Coordinator`]. A worker whose stdin
//! closes (its parent died) stops at once, so no worker outlives its run.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;

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
    #[arg(long, value_enum)]
    pub sync: SyncMode,
    /// Whether each task re-reads the whole input.
    #[arg(long, action = clap::ArgAction::Set)]
    pub reread: bool,
}

impl WorkerArgs {
    pub(crate) fn to_args(files: &Files, sync: SyncMode, reread: bool) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec!["worker".into()];
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
        args
    }
}

/// Entry point of a worker process: runs tasks handed out over stdin until told to end.
pub fn main(args: &WorkerArgs) -> io::Result<()> {
    let files = Files {
        input: args.input.clone(),
        output: args.output.clone(),
        lock: args.lock.clone(),
    };
    let mut queue = Remote::new(
        BufReader::new(io::stdin().lock()),
        io::stdout().lock(),
        args.sync,
    );
    let stats = task::work(&mut queue, &files, args.sync, args.reread)?;
    queue.push(format_args!(
        "stats {} {} {} {}",
        stats.tasks,
        stats.cpu_migrations,
        stats.voluntary_ctx_switches,
        stats.involuntary_ctx_switches
    ));
    queue.flush()
}

/// The worker's end of the protocol.
///
/// Like an executor's call queue, it asks for its next task before starting the current one,
/// so the parent's answer arrives while the worker is busy; and it batches a `done` with the
/// following request. Neither applies where order needs them off: in lock mode a task may
/// only be taken under the lock, and in ordered mode `done` passes the turn on at once.
struct Remote<R, W> {
    replies: R,
    requests: W,
    line: String,
    /// Requests written but not yet sent.
    outbox: Vec<u8>,
    /// Whether a `next` has been sent whose answer is still to be read.
    asked: bool,
    /// An answer to `next` read early, while waiting for a turn.
    ahead: Option<Option<u64>>,
    prefetch: bool,
    eager_done: bool,
}

impl<R: BufRead, W: Write> Remote<R, W> {
    fn new(replies: R, requests: W, sync: SyncMode) -> Self {
        Remote {
            replies,
            requests,
            line: String::new(),
            outbox: Vec::new(),
            asked: false,
            ahead: None,
            prefetch: sync != SyncMode::Lock,
            eager_done: sync == SyncMode::Ordered,
        }
    }

    fn push(&mut self, message: std::fmt::Arguments<'_>) {
        // Writing to a Vec cannot fail.
        let _ = writeln!(self.outbox, "{message}");
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.outbox.is_empty() {
            self.requests.write_all(&self.outbox)?;
            self.outbox.clear();
        }
        self.requests.flush()
    }

    /// Reads the answer to a `next`: a task, or `None` for the end of the work.
    fn read_task(&mut self) -> io::Result<Option<u64>> {
        self.asked = false;
        let reply = self.reply()?;
        if reply == "end" {
            return Ok(None);
        }
        reply
            .strip_prefix("task ")
            .and_then(|n| n.parse().ok())
            .map(Some)
            .ok_or_else(|| protocol_error(reply))
    }

    fn reply(&mut self) -> io::Result<&str> {
        self.line.clear();
        if self.replies.read_line(&mut self.line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the parent closed the task pipe",
            ));
        }
        Ok(self.line.trim_end())
    }
}

impl<R: BufRead, W: Write> Queue for Remote<R, W> {
    fn next(&mut self) -> io::Result<Option<u64>> {
        let task = match self.ahead.take() {
            Some(task) => task,
            None => {
                if !self.asked {
                    self.push(format_args!("next"));
                    self.flush()?;
                }
                self.read_task()?
            }
        };
        match task {
            None => self.flush()?,
            Some(_) if self.prefetch => {
                self.push(format_args!("next"));
                self.flush()?;
                self.asked = true;
            }
            Some(_) => {}
        }
        Ok(task)
    }

    fn wait_turn(&mut self, task: u64) -> io::Result<bool> {
        if self.asked {
            // Answers come in the order asked: the early `next` first.
            self.ahead = Some(self.read_task()?);
        }
        self.push(format_args!("turn {task}"));
        self.flush()?;
        match self.reply()? {
            "go" => Ok(true),
            "end" => Ok(false),
            other => Err(protocol_error(other)),
        }
    }

    fn done(&mut self, task: u64) -> io::Result<()> {
        self.push(format_args!("done {task}"));
        if self.eager_done {
            self.flush()
        } else {
            Ok(())
        }
    }
}

fn protocol_error(message: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected message {message:?}"),
    )
}

/// The parent's end of the protocol for one worker process: answers its requests from
/// `coordinator` until it reports its statistics. An error means the worker died or broke the
/// protocol; the message says which.
pub(crate) fn serve(
    requests: impl Read,
    mut replies: impl Write,
    coordinator: &Coordinator,
) -> Result<WorkerStats, String> {
    let mut requests = BufReader::new(requests);
    let mut line = String::new();
    loop {
        line.clear();
        match requests.read_line(&mut line) {
            Ok(0) => return Err("closed its pipe before finishing".to_owned()),
            Ok(_) => {}
            Err(e) => return Err(format!("could not be read from: {e}")),
        }
        let request = line.trim_end();
        let reply = match request.split_once(' ') {
            None if request == "next" => match coordinator.next_task() {
                Some(task) => format!("task {task}"),
                None => "end".to_owned(),
            },
            Some(("turn", task)) => match task.parse() {
                Ok(task) if coordinator.wait_turn(task) => "go".to_owned(),
                Ok(_) => "end".to_owned(),
                Err(_) => return Err(format!("sent a bad request {request:?}")),
            },
            Some(("done", task)) => match task.parse() {
                Ok(task) => {
                    coordinator.task_done(task);
                    continue;
                }
                Err(_) => return Err(format!("sent a bad request {request:?}")),
            },
            Some(("stats", fields)) => {
                return parse_stats(fields)
                    .ok_or_else(|| format!("sent bad statistics {request:?}"));
            }
            _ => return Err(format!("sent an unknown request {request:?}")),
        };
        if let Err(e) = writeln!(replies, "{reply}").and_then(|()| replies.flush()) {
            return Err(format!("could not be written to: {e}"));
        }
    }
}

fn parse_stats(fields: &str) -> Option<WorkerStats> {
    let mut numbers = fields.split(' ').map(|n| n.parse::<u64>().ok());
    let stats = WorkerStats {
        tasks: numbers.next()??,
        cpu_migrations: numbers.next()??,
        voluntary_ctx_switches: numbers.next()??,
        involuntary_ctx_switches: numbers.next()??,
    };
    numbers.next().is_none().then_some(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_answers_a_scripted_worker_and_returns_its_stats() {
        let coordinator = Coordinator::new(2);
        let script = "next\nturn 1\ndone 1\nnext\nturn 2\ndone 2\nnext\nstats 2 1 5 3\n";
        let mut replies = Vec::new();
        let stats = serve(script.as_bytes(), &mut replies, &coordinator).expect("stats");
        assert_eq!(
            String::from_utf8(replies).expect("utf8"),
            "task 1\ngo\ntask 2\ngo\nend\n"
        );
        assert_eq!(
            stats,
            WorkerStats {
                tasks: 2,
                cpu_migrations: 1,
                voluntary_ctx_switches: 5,
                involuntary_ctx_switches: 3
            }
        );
        assert!(coordinator.elapsed().is_some());
    }

    #[test]
    fn serve_reports_a_worker_that_vanishes_or_talks_nonsense() {
        let coordinator = Coordinator::new(5);
        let eof = serve("next\n".as_bytes(), Vec::new(), &coordinator).expect_err("eof");
        assert!(eof.contains("closed its pipe"), "{eof}");
        let junk = serve("hello\n".as_bytes(), Vec::new(), &coordinator).expect_err("junk");
        assert!(junk.contains("unknown request"), "{junk}");
        let stats = serve("stats 1 2\n".as_bytes(), Vec::new(), &coordinator).expect_err("short");
        assert!(stats.contains("bad statistics"), "{stats}");
    }

    #[test]
    fn remote_queue_parses_replies_and_fails_on_eof() {
        let mut queue = Remote::new("task 7\ngo\nend\n".as_bytes(), Vec::new(), SyncMode::Lock);
        assert_eq!(queue.next().expect("task"), Some(7));
        assert!(queue.wait_turn(7).expect("go"));
        queue.done(7).expect("done");
        assert_eq!(queue.next().expect("end"), None);
        assert_eq!(
            queue.next().expect_err("eof").kind(),
            io::ErrorKind::UnexpectedEof
        );
        let sent = String::from_utf8(queue.requests).expect("utf8");
        assert_eq!(sent, "next\nturn 7\ndone 7\nnext\nnext\n");
    }

    #[test]
    fn remote_queue_asks_ahead_and_batches_done_without_lock() {
        let mut queue = Remote::new(
            "task 1\ntask 2\nend\n".as_bytes(),
            Vec::new(),
            SyncMode::None,
        );
        assert_eq!(queue.next().expect("task"), Some(1));
        queue.done(1).expect("done");
        assert_eq!(queue.next().expect("task"), Some(2));
        queue.done(2).expect("done");
        assert_eq!(queue.next().expect("end"), None);
        let sent = String::from_utf8(queue.requests).expect("utf8");
        assert_eq!(sent, "next\nnext\ndone 1\nnext\ndone 2\n");
    }

    #[test]
    fn remote_queue_keeps_an_early_answer_while_waiting_for_its_turn() {
        let mut queue = Remote::new(
            "task 1\ntask 2\ngo\nend\n".as_bytes(),
            Vec::new(),
            SyncMode::Ordered,
        );
        assert_eq!(queue.next().expect("task"), Some(1));
        assert!(queue.wait_turn(1).expect("go"));
        queue.done(1).expect("done");
        assert_eq!(queue.next().expect("early answer"), Some(2));
        let sent = String::from_utf8(queue.requests).expect("utf8");
        assert_eq!(sent, "next\nnext\nturn 1\ndone 1\nnext\n");
    }
}
