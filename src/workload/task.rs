//! What a worker does: take tasks from a queue and, for each, append a record of itself and
//! the task's input line to the shared output, exactly as the original experiment did.
//!
//! The same loop serves both backends; only the [`Queue`] differs (an in-process coordinator
//! for threads, a pipe to the parent for processes).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use nix::sys::resource::{UsageWho, getrusage};
use nix::time::{ClockId, clock_gettime};

use super::aligned::AlignedBuf;
use super::{SyncMode, WorkerStats};

/// Where the tasks come from and how appends are sequenced.
pub(crate) trait Queue {
    /// The next task (a 1-based input line number), or `None` when there is no more work.
    fn next(&mut self) -> io::Result<Option<u64>>;
    /// Ordered mode: blocks until `task` may append; `false` means the run is stopping.
    fn wait_turn(&mut self, task: u64) -> io::Result<bool>;
    /// Ordered mode: reports `task` as appended, passing the turn to the next task.
    fn pass_turn(&mut self, task: u64) -> io::Result<()>;
}

/// The files one run shares between its workers.
#[derive(Clone, Debug)]
pub(crate) struct Files {
    /// The generated input, `line1` .. `lineN`.
    pub input: PathBuf,
    /// The shared output every task appends to.
    pub output: PathBuf,
    /// The file whose exclusive `flock` serialises tasks in lock mode.
    pub lock: PathBuf,
}

/// Runs tasks from `queue` until it is empty and returns this worker's statistics.
pub(crate) fn work(
    queue: &mut impl Queue,
    files: &Files,
    sync: SyncMode,
    reread: bool,
) -> io::Result<WorkerStats> {
    let mut copier = Copier::open(files, reread)?;
    // Each worker holds its own open file description, so flock excludes threads as well as
    // processes.
    let lock = File::open(&files.lock).map_err(|e| context(e, "open lock file", &files.lock))?;
    let mut stats = WorkerStats::default();
    let waited = run_delay_ns();
    loop {
        if sync == SyncMode::Lock {
            lock.lock().map_err(|e| context(e, "lock", &files.lock))?;
        }
        let Some(task) = queue.next()? else { break };
        if stats.tasks == 0 {
            stats.first_task_ns = monotonic_ns()?;
        }
        match sync {
            SyncMode::None | SyncMode::Lock => copier.copy(task)?,
            SyncMode::Ordered => {
                let line = copier.read_line(task)?;
                if !queue.wait_turn(task)? {
                    break;
                }
                copier.append(task, line)?;
                queue.pass_turn(task)?;
            }
        }
        if sync == SyncMode::Lock {
            lock.unlock()
                .map_err(|e| context(e, "unlock", &files.lock))?;
        }
        stats.tasks += 1;
        stats.last_done_ns = monotonic_ns()?;
    }
    let usage = getrusage(UsageWho::RUSAGE_THREAD).map_err(io::Error::from)?;
    stats.cpu_migrations = copier.writer.migrations;
    stats.voluntary_ctx_switches = usage.voluntary_context_switches().try_into().unwrap_or(0);
    stats.involuntary_ctx_switches = usage.involuntary_context_switches().try_into().unwrap_or(0);
    let nanos = |t: nix::sys::time::TimeVal| {
        u64::try_from(i128::from(t.tv_sec()) * 1_000_000_000 + i128::from(t.tv_usec()) * 1000)
            .unwrap_or(0)
    };
    stats.cpu_ns = nanos(usage.user_time()) + nanos(usage.system_time());
    stats.wait_ns = waited.zip(run_delay_ns()).map(|(a, b)| b.saturating_sub(a));
    Ok(stats)
}

/// Nanoseconds the calling thread has waited on a run queue for a CPU (schedstat run_delay);
/// `None` where the kernel keeps no schedstat.
fn run_delay_ns() -> Option<u64> {
    let tid = nix::unistd::gettid().as_raw();
    let task = procfs::process::Process::myself()
        .ok()?
        .task_from_tid(tid)
        .ok()?;
    task.schedstat().ok().map(|s| s.run_delay)
}

/// Nanoseconds on the machine-wide monotonic clock, comparable between processes.
fn monotonic_ns() -> io::Result<u64> {
    let now = clock_gettime(ClockId::CLOCK_MONOTONIC).map_err(io::Error::from)?;
    let ns = i128::from(now.tv_sec()) * 1_000_000_000 + i128::from(now.tv_nsec());
    u64::try_from(ns).map_err(io::Error::other)
}

/// Per-worker state for the task body: the input as this worker reads it, what it says of
/// itself in each record, and a reusable buffer for the appends.
struct Copier {
    files: Files,
    input: Input,
    writer: Writer,
    buf: Vec<u8>,
}

/// The input as one worker reads it.
struct Input {
    reread: bool,
    /// Read buffer for the input (every task when re-reading, once otherwise), page-aligned
    /// so the kernel's copy into it costs the same in every process and run.
    text: AlignedBuf,
    /// Start offset of each line in `text` when not re-reading, so a lookup is O(1).
    line_starts: Vec<usize>,
}

/// What a worker writes of itself in each record, and the CPU migrations it saw doing so.
struct Writer {
    /// `/proc/self/stat`, kept open and re-read from the start for a fresh thread count.
    stat: File,
    stat_buf: Vec<u8>,
    pid: u32,
    last_cpu: Option<usize>,
    migrations: u64,
}

impl Copier {
    fn open(files: &Files, reread: bool) -> io::Result<Self> {
        let stat = File::open("/proc/self/stat")
            .map_err(|e| context(e, "open", Path::new("/proc/self/stat")))?;
        let mut copier = Copier {
            files: files.clone(),
            input: Input {
                reread,
                text: AlignedBuf::default(),
                line_starts: Vec::new(),
            },
            writer: Writer {
                stat,
                stat_buf: vec![0; 4096],
                pid: std::process::id(),
                last_cpu: None,
                migrations: 0,
            },
            buf: Vec::with_capacity(64),
        };
        if !reread {
            copier.load_input()?;
            copier.input.line_starts = std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', &copier.input.text).map(|end| end + 1))
                .collect();
        }
        Ok(copier)
    }

    /// The faithful task: open the output for append, write the record, re-read the input,
    /// append the line and a blank line, close.
    fn copy(&mut self, task: u64) -> io::Result<()> {
        let mut out = self.open_output()?;
        self.write_record(&mut out)?;
        let line = self.read_line(task)?;
        self.write_line(&mut out, task, line)
    }

    /// The append half of a task whose line was read beforehand (ordered mode).
    fn append(&mut self, task: u64, line: LineRef) -> io::Result<()> {
        let mut out = self.open_output()?;
        self.write_record(&mut out)?;
        self.write_line(&mut out, task, line)
    }

    fn open_output(&self) -> io::Result<File> {
        OpenOptions::new()
            .append(true)
            .open(&self.files.output)
            .map_err(|e| context(e, "open for append", &self.files.output))
    }

    /// Writes `current pid`, `total threads` and `CPU number`, one write call each, as the
    /// original did, so that records of concurrent writers can interleave.
    fn write_record(&mut self, out: &mut File) -> io::Result<()> {
        let threads = self.writer.thread_count()?;
        let cpu = nix::sched::sched_getcpu().map_err(io::Error::from)?;
        let w = &mut self.writer;
        if w.last_cpu.is_some_and(|last| last != cpu) {
            w.migrations += 1;
        }
        w.last_cpu = Some(cpu);
        let pid = w.pid;
        self.write_field(out, format_args!("current pid:{pid}\n"))?;
        self.write_field(out, format_args!("total threads:{threads}\n"))?;
        self.write_field(out, format_args!("CPU number:{cpu}\n"))
    }

    fn write_field(&mut self, out: &mut File, field: std::fmt::Arguments<'_>) -> io::Result<()> {
        self.buf.clear();
        self.buf.write_fmt(field)?;
        out.write_all(&self.buf)
            .map_err(|e| context(e, "append to", &self.files.output))
    }

    fn write_line(&mut self, out: &mut File, task: u64, line: LineRef) -> io::Result<()> {
        let Some(text) = self.input.text.get(line.0..line.1) else {
            return Err(missing_line(task, &self.files.input));
        };
        self.buf.clear();
        self.buf.extend_from_slice(text);
        self.buf.extend_from_slice(b"\n\n");
        out.write_all(&self.buf)
            .map_err(|e| context(e, "append to", &self.files.output))
    }

    /// Finds line `task` (1-based), re-reading the whole input first when so configured.
    fn read_line(&mut self, task: u64) -> io::Result<LineRef> {
        let index = task
            .checked_sub(1)
            .and_then(|i| usize::try_from(i).ok())
            .ok_or_else(|| missing_line(task, &self.files.input))?;
        if self.input.reread {
            self.load_input()?;
            return nth_line(&self.input.text, index)
                .ok_or_else(|| missing_line(task, &self.files.input));
        }
        let starts = &self.input.line_starts;
        match (starts.get(index), starts.get(index + 1)) {
            (Some(&start), Some(&next)) => Ok(LineRef(start, next - 1)),
            _ => Err(missing_line(task, &self.files.input)),
        }
    }

    /// Reads the whole input into the reused buffer: after the first task, one `read` plus
    /// the one that finds the end.
    fn load_input(&mut self) -> io::Result<()> {
        File::open(&self.files.input)
            .and_then(|mut f| self.input.text.read_file(&mut f))
            .map(drop)
            .map_err(|e| context(e, "read", &self.files.input))
    }
}

impl Writer {
    /// Threads of this process right now, as the kernel reports them in `/proc/self/stat`
    /// (re-read from offset 0 with one `pread`, which makes the kernel render it afresh).
    fn thread_count(&mut self) -> io::Result<i64> {
        let n = self.stat.read_at(&mut self.stat_buf, 0)?;
        num_threads(&self.stat_buf[..n])
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unreadable /proc/self/stat"))
    }
}

/// `num_threads`, the 20th field of a `/proc/PID/stat` line, read on its own: a task needs
/// only this one field, and parsing all fifty-two costs it several percent. The second field
/// (the command name, in parentheses) may hold spaces and parentheses, so fields are counted
/// from the last `)`.
fn num_threads(stat: &[u8]) -> Option<i64> {
    let after = &stat[memchr::memrchr(b')', stat)? + 1..];
    std::str::from_utf8(after)
        .ok()?
        .split_ascii_whitespace()
        .nth(17)?
        .parse()
        .ok()
}

/// Byte range of one line (without its newline) in the worker's input buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LineRef(usize, usize);

/// Finds line `index` (0-based) of `input`.
fn nth_line(input: &[u8], index: usize) -> Option<LineRef> {
    let start = if index == 0 {
        0
    } else {
        after_newline(input, index)?
    };
    let end = start + memchr::memchr(b'\n', input.get(start..)?)?;
    Some(LineRef(start, end))
}

/// The offset just past the `n`th newline (`n` >= 1). Newlines are counted a block at a time
/// with SIMD and only the last block is searched one by one: lines are short, so a search per
/// newline would spend its time starting searches rather than scanning.
fn after_newline(input: &[u8], n: usize) -> Option<usize> {
    const BLOCK: usize = 4096;
    let (mut seen, mut offset) = (0, 0);
    for block in input.chunks(BLOCK) {
        let here = bytecount::count(block, b'\n');
        if seen + here >= n {
            let pos = memchr::memchr_iter(b'\n', block).nth(n - seen - 1)?;
            return Some(offset + pos + 1);
        }
        seen += here;
        offset += block.len();
    }
    None
}

fn missing_line(task: u64, input: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{} has no line {task}", input.display()),
    )
}

/// Adds what was being done, and to which file, to an I/O error.
pub(crate) fn context(err: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("{what} {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
    use nix::unistd::Pid;
    use std::time::{Duration, Instant};

    #[test]
    fn a_thread_that_shares_its_cpu_with_a_busy_one_waits_for_it() {
        let allowed = sched_getaffinity(Pid::from_raw(0)).expect("affinity");
        let cpu = (0..CpuSet::count())
            .find(|c| allowed.is_set(*c).unwrap_or(false))
            .expect("a CPU");
        let pin = move || {
            let mut one = CpuSet::new();
            one.set(cpu).expect("cpu");
            sched_setaffinity(Pid::from_raw(0), &one).expect("pin");
        };
        let spin = |wall: Duration| {
            let start = Instant::now();
            while start.elapsed() < wall {}
        };
        let busy = std::thread::spawn(move || {
            pin();
            spin(Duration::from_millis(400));
        });
        pin();
        let before = run_delay_ns().expect("schedstat");
        spin(Duration::from_millis(200));
        let waited = run_delay_ns().expect("schedstat") - before;
        busy.join().expect("busy thread");
        // Two busy threads on one CPU: each runs about half the time.
        assert!(waited > 40_000_000, "waited {waited} ns in 200 ms");
    }

    #[test]
    fn the_thread_count_agrees_with_procfs_and_survives_odd_command_names() {
        let own = std::fs::read("/proc/self/stat").expect("stat");
        let parsed =
            <procfs::process::Stat as procfs::FromRead>::from_read(&own[..]).expect("procfs");
        assert_eq!(num_threads(&own), Some(parsed.num_threads));
        let odd = b"42 (a) b (c) S 1 42 42 0 -1 4194560 10 0 0 0 1 2 0 0 20 0 7 0 99 1000 10";
        assert_eq!(num_threads(odd), Some(7));
        assert_eq!(num_threads(b"42 (x) S 1"), None);
    }

    #[test]
    fn nth_line_finds_every_line_across_block_boundaries() {
        let input: String = (1..=3000).map(|i| format!("line{i}\n")).collect();
        let bytes = input.as_bytes();
        for index in [0, 1, 2, 584, 585, 586, 1000, 2998, 2999] {
            let LineRef(start, end) = nth_line(bytes, index).expect("line");
            assert_eq!(
                &input[start..end],
                format!("line{}", index + 1),
                "index {index}"
            );
        }
        assert_eq!(nth_line(bytes, 3000), None);
        assert_eq!(nth_line(b"", 0), None);
        assert_eq!(nth_line(b"no newline", 0), None);
    }
}
