//! The one-shot `run` command with both backends and all sync modes.

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::util::{self, children_of, entries, exists, run_json, wait_for};

fn u(record: &serde_json::Value, key: &str) -> u64 {
    record[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {record}"))
}

#[test]
fn one_worker_copies_every_line_in_order_with_both_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (output, records, points) = run_json(
        dir.path(),
        &[
            "--workers",
            "1",
            "--sync",
            "none",
            "--lines",
            "500",
            "--repeats",
            "3",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        records.len(),
        2 * 3 + 1,
        "3 runs of each backend and a warm-up"
    );
    assert_eq!(records.iter().filter(|r| r["warmup"] == true).count(), 1);
    assert_eq!(points.len(), 2);
    for p in &points {
        // Steal on a shared host sets a run aside as disturbed; every run is one or the other.
        let (counted, disturbed) = (u(p, "runs"), u(p, "disturbed_runs"));
        assert_eq!((counted + disturbed, u(p, "failed_runs")), (3, 0), "{p}");
        if disturbed > 0 {
            assert!(p["steal_seconds"].as_f64().is_some_and(|s| s > 0.0), "{p}");
        }
        if counted == 0 {
            assert!(p["median_seconds"].is_null(), "{p}");
            continue;
        }
        let (median, lower, upper) = (
            p["median_seconds"].as_f64().expect("median"),
            p["median_interval"]["lower"].as_f64().expect("lower"),
            p["median_interval"]["upper"].as_f64().expect("upper"),
        );
        assert!(lower <= median && median <= upper, "{p}");
        // A spread needs two runs: with one counted (steal set the others aside), none.
        assert_eq!(p["cv"].as_f64().is_some(), counted >= 2, "{p}");
        assert!(p["noisy"].is_boolean(), "{p}");
    }
    for r in &records {
        assert_eq!(r["success"], true, "{r}");
        assert!(r["cpu_seconds"].as_f64().is_some_and(|s| s > 0.0), "{r}");
        assert!(r["wait_seconds"].as_f64().is_some_and(|s| s >= 0.0), "{r}");
        assert!(r["steal_seconds"].as_f64().is_some(), "{r}");
        assert!(
            r["throttled"].is_boolean() && r.get("total_periods").is_some(),
            "{r}"
        );
        assert_eq!(
            (u(r, "disorder"), u(r, "duplicates"), u(r, "missing")),
            (0, 0, 0),
            "{r}"
        );
        assert_eq!(u(r, "lines"), 500);
        assert!(
            r["duration_seconds"].as_f64().is_some_and(|s| s > 0.0),
            "{r}"
        );
        let per_cpu: u64 = r["cpu_records"]
            .as_object()
            .expect("cpu_records")
            .values()
            .filter_map(|v| v.as_u64())
            .sum();
        assert_eq!(per_cpu, 500, "{r}");
    }
    assert!(
        entries(dir.path()).is_empty(),
        "scratch left behind: {:?}",
        entries(dir.path())
    );
}

#[test]
fn lock_and_ordered_keep_order_with_three_workers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (output, records, _) = run_json(
        dir.path(),
        &[
            "--workers",
            "3",
            "--sync",
            "lock,ordered",
            "--lines",
            "600",
            "--repeats",
            "1",
            "--warmup",
            "false",
            "--reference",
            "false",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(records.len(), 4, "process and thread for lock and ordered");
    for r in &records {
        assert_eq!(r["success"], true, "{r}");
        assert_eq!(
            (u(r, "disorder"), u(r, "torn_records"), u(r, "missing")),
            (0, 0, 0),
            "{r}"
        );
    }
}

#[test]
fn process_workers_are_processes_and_thread_workers_are_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (output, records, _) = run_json(
        dir.path(),
        &[
            "--workers",
            "3",
            "--sync",
            "none",
            "--lines",
            "3000",
            "--repeats",
            "1",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let process = records
        .iter()
        .find(|r| r["backend"] == "process")
        .expect("process run");
    assert_eq!(u(process, "pids"), 3, "{process}");
    assert_eq!(
        u(process, "threads_max"),
        1,
        "each worker process is single-threaded: {process}"
    );
    let thread = records
        .iter()
        .find(|r| r["backend"] == "thread")
        .expect("thread run");
    assert_eq!(u(thread, "pids"), 1, "{thread}");
    assert!(u(thread, "threads_min") >= 3, "{thread}");
    for r in &records {
        let cpus = r["cpu_records"].as_object().expect("cpu_records").len() as u64;
        assert_eq!(u(r, "cpus_used"), cpus, "{r}");
        assert!(
            u(r, "voluntary_ctx_switches") + u(r, "involuntary_ctx_switches") > 0,
            "{r}"
        );
    }
}

#[test]
fn table_output_names_every_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = util::command()
        .args([
            "run",
            "--workers",
            "1,2",
            "--sync",
            "none",
            "--backend",
            "thread",
            "--lines",
            "200",
            "--workdir",
        ])
        .arg(dir.path())
        .arg("--svg")
        .arg(dir.path().join("scaling.svg"))
        .output()
        .expect("run");
    assert!(output.status.success());
    let table = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].contains("200 lines") && lines[0].contains("5 runs of each combination"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("backend") && lines[1].contains("speedup"),
        "{table}"
    );
    assert_eq!(lines.len(), 5, "{table}");
    let svg = std::fs::read_to_string(dir.path().join("scaling.svg")).expect("--svg file");
    assert!(
        svg.starts_with("<svg") && svg.contains("Throughput by pool size"),
        "{svg}"
    );
    assert!(
        svg.matches("<circle").count() >= 2,
        "a marker per pool size"
    );
    assert!(
        lines[4].starts_with("scaling thread/none: no fit (2 distinct concurrencies"),
        "{table}"
    );
    assert!(lines[2].contains("1.00x ±"), "{table}");
    assert!(
        lines[2].ends_with("ok") || lines[2].ends_with("NOISY"),
        "{table}"
    );
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Bad arguments exit 2, whether clap or the keys' bounds refuse them; an unusable
    // workdir is the host's problem, not the arguments': 1.
    let cases: [(&[&str], &str, i32); 5] = [
        (&["--workers", "0"], "--workers", 2),
        (&["--backend", "fork"], "fork", 2),
        (&["--lines", "0"], "--lines", 2),
        (&["--workdir", "/proc/copybench-not-writable"], "workdir", 1),
        (&["--timeout", "0s"], "schedule.run_timeout", 2),
    ];
    for (args, named, code) in cases {
        let output = util::command()
            .arg("run")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(code), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.contains("error"), "{args:?}: {stderr}");
        assert!(
            stderr.contains(named),
            "{args:?} does not name {named}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{args:?} printed results");
    }
}

/// Starts a long run, waits for its worker processes, and returns the child and their pids.
fn long_process_run(workdir: &std::path::Path) -> (std::process::Child, Vec<i32>) {
    let child = util::command()
        .args([
            "run",
            "--json",
            "--backend",
            "process",
            "--sync",
            "none",
            "--workers",
            "3",
            "--lines",
            "100000",
            "--repeats",
            "1",
            "--warmup",
            "false",
            "--reference",
            "false",
            "--workdir",
        ])
        .arg(workdir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start run");
    let mut workers = Vec::new();
    // Named as thread workers are (the kernel keeps 15 bytes), once each has started.
    let named = |pid: &i32| {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c == "copybench-worke\n")
    };
    let started = wait_for(Duration::from_secs(20), || {
        workers = children_of(child.id());
        workers.len() == 3 && workers.iter().all(named) && !entries(workdir).is_empty()
    });
    assert!(
        started,
        "three worker processes named copybench-worke did not appear"
    );
    (child, workers)
}

#[test]
fn a_killed_worker_fails_the_run_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, workers) = long_process_run(dir.path());
    kill(Pid::from_raw(workers[0]), Signal::SIGKILL).expect("kill a worker");
    let output = child.wait_with_output().expect("wait for run");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (records, _) = util::json_lines(&output.stdout);
    let [record] = &records[..] else {
        panic!("one run record expected: {records:?}")
    };
    assert_eq!(record["success"], false);
    assert_eq!(record["failure"]["reason"], "worker_exit", "{record}");
    let message = record["failure"]["message"].as_str().expect("message");
    assert!(
        message.contains(&workers[0].to_string()) && message.contains("SIGKILL"),
        "{message}"
    );
    for pid in workers {
        assert!(!exists(pid), "worker {pid} outlived the run");
    }
    assert!(
        entries(dir.path()).is_empty(),
        "scratch left behind: {:?}",
        entries(dir.path())
    );
}

#[test]
fn ctrl_c_cancels_the_run_and_cleans_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, workers) = long_process_run(dir.path());
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("interrupt");
    let output = child.wait_with_output().expect("wait for run");
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (records, _) = util::json_lines(&output.stdout);
    let [record] = &records[..] else {
        panic!("one run record expected: {records:?}")
    };
    assert_eq!(record["failure"]["reason"], "cancelled", "{record}");
    for pid in workers {
        assert!(!exists(pid), "worker {pid} outlived the run");
    }
    assert!(
        entries(dir.path()).is_empty(),
        "scratch left behind: {:?}",
        entries(dir.path())
    );
}

#[test]
fn workers_stop_when_their_parent_is_killed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, workers) = long_process_run(dir.path());
    child.kill().expect("kill the run with SIGKILL");
    child.wait().expect("reap the run");
    let gone = wait_for(Duration::from_secs(10), || {
        workers.iter().all(|&pid| !exists(pid) || is_zombie(pid))
    });
    // What the survivors are doing: their /proc stat lines and kernel wait channels.
    let states: Vec<String> = workers
        .iter()
        .map(|p| {
            let read = |file: &str| std::fs::read_to_string(format!("/proc/{p}/{file}"));
            format!("{:?} waiting in {:?}", read("stat"), read("wchan"))
        })
        .collect();
    assert!(gone, "workers outlived their killed parent: {states:#?}");
}

fn is_zombie(pid: i32) -> bool {
    procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .is_ok_and(|s| s.state == 'Z')
}

/// The original experiment's check of its output, verbatim: how many `lineK` lines are not at
/// position K.
const ORIGINAL_CHECK: &str = "cnt=0;for i in $(cat output.txt | grep line); do cnt=$(expr $cnt + 1); \
    if [ $i != line$cnt ]; then echo $i; fi; done | wc -l";

#[test]
fn kept_outputs_pass_the_original_shell_check_with_the_runs_disorder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kept = dir.path().join("kept");
    let keep = kept.display().to_string();
    let (output, records, _) = run_json(
        dir.path(),
        &[
            "--backend",
            "thread,process",
            "--sync",
            "none,lock",
            "--workers",
            "1,3",
            "--lines",
            "2000",
            "--repeats",
            "1",
            "--warmup",
            "false",
            "--keep-output",
            &keep,
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(records.len(), 8);
    let mut racy_disorder = 0;
    for record in &records {
        let name = format!(
            "{}-{}-{}-1",
            record["backend"].as_str().expect("backend"),
            record["sync"].as_str().expect("sync"),
            record["workers"]
        );
        let run_dir = kept.join(&name);
        assert_eq!(
            std::fs::read_to_string(run_dir.join("input.txt"))
                .expect("input")
                .lines()
                .count(),
            2000
        );
        let check = std::process::Command::new("bash")
            .args(["-c", ORIGINAL_CHECK])
            .current_dir(&run_dir)
            .output()
            .expect("bash");
        let counted: u64 = String::from_utf8_lossy(&check.stdout)
            .trim()
            .parse()
            .expect("count");
        assert_eq!(
            counted,
            u(record, "disorder"),
            "{name}: the shell check disagrees"
        );
        if record["sync"] == "none" && record["workers"] == 3 {
            racy_disorder += counted;
        }
    }
    assert!(
        racy_disorder > 0,
        "no race seen with 3 unsynchronised workers: a vacuous check"
    );
    let mut names = entries(&kept);
    names.sort();
    assert_eq!(names.len(), 8, "{names:?}");
}

#[test]
fn a_write_that_cannot_fit_fails_both_backends_as_io() {
    // A file size limit (with SIGXFSZ ignored, as a full disk would refuse) that a 2,000-line
    // run's output does not fit under.
    let dir = tempfile::tempdir().expect("tempdir");
    let output = std::process::Command::new("bash")
        .args([
            "-c",
            "trap '' XFSZ; exec prlimit --fsize=98304 \"$0\" \"$@\"",
            util::BIN,
        ])
        .args([
            "run",
            "--json",
            "--backend",
            "process,thread",
            "--sync",
            "none",
            "--workers",
            "2",
        ])
        .args([
            "--lines",
            "2000",
            "--repeats",
            "1",
            "--warmup",
            "false",
            "--reference",
            "false",
            "--workdir",
        ])
        .arg(dir.path())
        .output()
        .expect("run");
    let (records, _) = util::json_lines(&output.stdout);
    assert_eq!(
        records.len(),
        2,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for record in &records {
        assert_eq!(
            record["failure"]["reason"], "io",
            "{} backend: {record}",
            record["backend"]
        );
    }
    assert_eq!(output.status.code(), Some(1));
    assert!(entries(dir.path()).is_empty(), "scratch left behind");
}

/// What `run ARGS` in `workdir` leaves on a 120-column terminal (a pseudo-terminal from
/// util-linux's `script`, read back through a terminal emulator), and whether the progress
/// bar was drawn on it at all.
fn on_a_terminal(workdir: &std::path::Path, args: &str) -> (String, bool) {
    let line = format!(
        "stty cols 120 rows 40; exec {} run {args} --workdir {}",
        util::BIN,
        workdir.display()
    );
    let output = std::process::Command::new("script")
        .args(["--quiet", "--return", "--command", &line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script(1) from util-linux");
    assert!(output.status.success(), "{output:?}");
    let drawn = String::from_utf8_lossy(&output.stdout).contains("workers=");
    // Rows enough for every line: wrapped lines come back whole, nothing scrolls away.
    let rows = std::num::NonZeroU16::new(2000).expect("rows");
    let mut screen = vt100::Parser::new(rows, std::num::NonZeroU16::new(120).expect("cols"), 0);
    screen.process(&output.stdout);
    (screen.screen().contents(), drawn)
}

#[test]
fn on_a_terminal_the_progress_bar_leaves_nothing_in_the_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = "--backend thread,process --sync none --workers 1,2 --lines 3000 --repeats 2";
    let (screen, drawn) = on_a_terminal(dir.path(), &format!("{args} --json"));
    assert!(drawn, "no progress bar was drawn:\n{screen}");
    let lines: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    for line in &lines {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not a JSON line (progress bar residue?): {line:?}"
        );
    }
    // A warm-up, 2 runs of each of 4 combinations, 4 summaries and 2 fits.
    assert_eq!(lines.len(), 1 + 8 + 4 + 2, "{screen}");

    let (screen, drawn) = on_a_terminal(dir.path(), args);
    assert!(drawn, "no progress bar was drawn:\n{screen}");
    assert!(
        !screen.contains("workers="),
        "the bar is left on screen:\n{screen}"
    );
    let rows = screen
        .lines()
        .filter(|l| l.starts_with("thread ") || l.starts_with("process "))
        .count();
    assert!(rows >= 4, "a row per combination:\n{screen}");
}
