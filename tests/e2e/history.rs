//! The run history: kept in SQLite across restarts and SIGKILLs, imported from the JSON state
//! of earlier versions, filtered by `/api/v1/runs`, and recorded by `run --record`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::daemon::SERIES;
use crate::util::{
    self, Daemon, IDLE, TINY, TestConfig, entries, start_daemon, start_daemon_in, wait_for,
};

/// Starts a daemon in `dir` whose state directory is `dir/state`.
fn start_with_state(dir: tempfile::TempDir, config: &str) -> Daemon {
    let state = dir.path().join("state").display().to_string();
    start_daemon_in(
        dir,
        config,
        &[("COPYBENCH__STATE__DIR", state.as_str())],
        &[],
    )
}

/// Takes the directory of a daemon that has exited, so the next one can start in it.
fn take_dir(daemon: &mut Daemon) -> tempfile::TempDir {
    std::mem::replace(&mut daemon.dir, tempfile::tempdir().expect("tempdir"))
}

/// `/api/v1/runs` with `query`, parsed.
fn runs(daemon: &Daemon, query: &str) -> Vec<serde_json::Value> {
    let (status, body) = daemon.get(&format!("/api/v1/runs{query}"));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("runs JSON")
}

/// What identifies a run in the history.
fn key(run: &serde_json::Value) -> String {
    format!(
        "{} {} {} {} {}",
        run["finished_at"], run["backend"], run["sync"], run["workers"], run["started_at"]
    )
}

/// `run` of thread/none pools of `workers`, 200 lines, 2 runs each, kept in the history `db`.
fn recorded_sweep(workdir: &Path, db: &Path, workers: &str) -> std::process::Command {
    let mut command = util::command();
    command
        .args([
            "run",
            "--backend",
            "thread",
            "--sync",
            "none",
            "--workers",
            workers,
        ])
        .args(["--lines", "200", "--repeats", "2", "--workdir"])
        .arg(workdir)
        .arg("--record")
        .arg(db);
    command
}

/// `PRAGMA integrity_check` and the number of runs of the database at `path`.
fn check_database(path: &Path) -> (String, i64) {
    let db = rusqlite::Connection::open(path).expect("open the history");
    let check = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    let count = db
        .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .expect("count");
    (check, count)
}

#[test]
fn the_history_survives_a_restart() {
    let run_at_start = TestConfig::from(IDLE)
        .set("schedule.run_at_start", true)
        .text();
    let mut first = start_with_state(tempfile::tempdir().expect("tempdir"), &run_at_start);
    let total = format!("copybench_runs_total{SERIES}");
    assert!(first.wait_sample(&total, 1.0), "first run never finished");
    let duration = first
        .sample(&format!("copybench_last_run_duration_seconds{SERIES}"))
        .expect("duration");
    let before = runs(&first, "");
    first.terminate();

    let second = start_with_state(take_dir(&mut first), IDLE);
    assert_eq!(
        second.sample(&format!("copybench_last_run_duration_seconds{SERIES}")),
        Some(duration),
        "the latest result is served at once after a restart"
    );
    assert_eq!(second.sample(&total), Some(0.0), "counters start again");
    assert_eq!(runs(&second, ""), before);
    assert!(second.dir.path().join("state/history.sqlite").exists());
}

#[test]
fn a_json_state_file_of_an_earlier_version_is_imported_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    // An hour ago, well within the retention period.
    let finished_at = (util::unix_now() - 3600.0).floor() + 0.5;
    let old = r#"[{"backend":"thread","sync":"none","workers":1,"lines":300,"reread":true,
        "finished_at":FINISHED,"success":true,"duration_seconds":0.125,
        "lines_per_second":2400.0,"disorder":0,"duplicates":0,"missing":0,"torn_records":0,
        "pids":1,"threads_min":3,"threads_max":3,"cpu_records":{"0":300},"cpus_used":1,
        "cpu_migrations":0,"voluntary_ctx_switches":4,"involuntary_ctx_switches":0}]"#;
    let old = util::replaced(old, "FINISHED", &finished_at.to_string());
    std::fs::write(state.join("runs.json"), old).expect("old state");
    let mut daemon = start_with_state(dir, IDLE);
    let imported = runs(&daemon, "");
    assert_eq!(imported.len(), 1, "{imported:?}");
    assert_eq!(imported[0]["duration_seconds"], 0.125);
    assert_eq!(imported[0]["started_at"], finished_at - 0.125);
    assert_eq!(
        daemon.sample(&format!("copybench_last_run_duration_seconds{SERIES}")),
        Some(0.125)
    );
    let files = entries(&state);
    assert!(
        files.contains(&"runs.json.imported".to_owned())
            && !files.contains(&"runs.json".to_owned()),
        "{files:?}"
    );
    daemon.terminate();

    let again = start_with_state(take_dir(&mut daemon), IDLE);
    assert_eq!(runs(&again, "").len(), 1, "imported twice");
}

#[test]
fn corrupt_state_is_set_aside_not_fatal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    std::fs::write(state.join("runs.json"), "[{\"backend\":").expect("corrupt JSON");
    std::fs::write(state.join("history.sqlite"), vec![b'x'; 4096]).expect("corrupt database");
    let daemon = start_with_state(dir, IDLE);
    assert_eq!(daemon.get("/api/v1/runs"), (200, "[]".to_owned()));
    let logs = daemon.logs();
    assert!(
        logs.iter().any(|l| l.contains("damaged")) && logs.iter().any(|l| l.contains("corrupt")),
        "{logs:?}"
    );
    let files = entries(&state);
    for prefix in ["runs.json.corrupt-", "history.sqlite.corrupt-"] {
        assert!(
            files.iter().any(|n| n.starts_with(prefix)),
            "{prefix}* missing: {files:?}"
        );
    }
}

#[test]
fn an_unusable_state_directory_stops_the_daemon_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, "").expect("file");
    let output = util::command()
        .args(["--web.listen-address", "127.0.0.1:0"])
        .env("COPYBENCH__STATE__DIR", &file)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("run history") && stderr.contains("not-a-directory"),
        "{stderr}"
    );
}

/// Kills the daemon with SIGKILL at random moments while it sweeps without pause, 22 times,
/// and checks after every restart that each run it had reported is still there, unchanged,
/// and at the end that SQLite finds the database intact. The moments come from a seed, printed
/// and taken from `COPYBENCH_TEST_SEED` when set, so a failure can be replayed.
#[test]
fn sigkill_at_random_moments_loses_no_completed_run() {
    use rand::{RngExt, SeedableRng};
    let seed = std::env::var("COPYBENCH_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("sigkill_at_random_moments_loses_no_completed_run: COPYBENCH_TEST_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let config = TestConfig::from(TINY)
        .set("schedule.interval", "20ms")
        .text();
    let mut dir = tempfile::tempdir().expect("tempdir");
    let mut seen: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let kills = 22;
    for round in 0..kills {
        let mut daemon = start_with_state(dir, &config);
        let now: BTreeMap<String, serde_json::Value> = runs(&daemon, "?limit=10000")
            .into_iter()
            .map(|run| (key(&run), run))
            .collect();
        for (key, run) in &seen {
            assert_eq!(
                now.get(key),
                Some(run),
                "round {round} (seed {seed}): run {key} lost or changed"
            );
        }
        // Each round lets at least one more run complete, then waits a random while more.
        let before = now.len();
        assert!(
            wait_for(Duration::from_secs(30), || runs(&daemon, "?limit=10000")
                .len()
                > before),
            "round {round}: no run completed"
        );
        std::thread::sleep(Duration::from_millis(rng.random_range(0..300)));
        seen.extend(
            runs(&daemon, "?limit=10000")
                .into_iter()
                .map(|run| (key(&run), run)),
        );
        // The kill lands a random moment after the last answer: mid-run or mid-write.
        std::thread::sleep(Duration::from_micros(rng.random_range(0..30_000)));
        daemon.signal(Signal::SIGKILL);
        assert_eq!(daemon.wait_exit(Duration::from_secs(10)), None, "killed");
        dir = take_dir(&mut daemon);
    }
    let (check, count) = check_database(&dir.path().join("state/history.sqlite"));
    assert_eq!(check, "ok");
    assert!(
        count as usize >= seen.len() && seen.len() >= kills,
        "{count} runs in the database, {} seen",
        seen.len()
    );
    let last = start_with_state(dir, &config);
    assert!(
        wait_for(Duration::from_secs(20), || entries(&last.scratch()).len()
            <= 1),
        "scratch directories of killed daemons left: {:?}",
        entries(&last.scratch())
    );
}

#[test]
fn the_runs_api_filters_and_refuses_bad_filters_in_one_line() {
    let daemon = start_daemon(TINY, &[]);
    assert!(daemon.wait_for_sweep(), "no sweep completed");
    let all = runs(&daemon, "?limit=10000");
    assert!(all.len() >= 8, "{all:?}");
    let finished: Vec<f64> = all
        .iter()
        .map(|r| r["finished_at"].as_f64().expect("time"))
        .collect();
    assert!(
        finished.windows(2).all(|w| w[0] >= w[1]),
        "not newest first: {finished:?}"
    );
    assert!(all.iter().all(|r| r["sweep_id"].as_i64().is_some()));

    let process = runs(&daemon, "?backend=process&limit=10000");
    assert!(!process.is_empty() && process.iter().all(|r| r["backend"] == "process"));
    let one = runs(&daemon, "?backend=thread&sync=lock&workers=2");
    assert!(!one.is_empty());
    assert!(
        one.iter()
            .all(|r| r["backend"] == "thread" && r["sync"] == "lock" && r["workers"] == 2),
        "{one:?}"
    );
    assert_eq!(runs(&daemon, "?limit=3").len(), 3);
    // A millisecond early: a time read back from JSON can be one ulp off.
    let oldest = finished.last().expect("a run") - 0.001;
    let since = runs(&daemon, &format!("?since={oldest}&limit=10000"));
    assert!(since.len() >= all.len(), "since the oldest run: every run");
    assert!(runs(&daemon, "?since=4102444800").is_empty(), "since 2100");
    assert!(!runs(&daemon, "?since=2020-01-01T00:00:00Z").is_empty());

    assert_eq!(
        daemon.get("/api/v1/changes?workers=2"),
        (200, "[]".to_owned())
    );
    let (status, body) = daemon.get("/api/v1/changes?colour=red");
    assert_eq!(status, 400, "{body}");
    for (query, needle) in [
        ("backend=fork", "backend"),
        ("workers=two", "workers"),
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("since=yesterday", "since"),
        ("colour=red", "colour"),
    ] {
        let (status, body) = daemon.get(&format!("/api/v1/runs?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body.contains(needle) && body.trim_end().lines().count() == 1,
            "{query}: {body}"
        );
    }
}

#[test]
fn series_of_a_spec_removed_by_a_reload_disappear_and_its_history_stays() {
    let config = TestConfig::from(IDLE)
        .set("schedule.run_at_start", true)
        .set("workload.workers", vec![1, 2])
        .text();
    let daemon = start_daemon(&config, &[]);
    let two = r#"{backend="thread",sync="none",workers="2"}"#;
    assert!(
        daemon.wait_sample(&format!("copybench_runs_total{two}"), 1.0),
        "the 2-worker run never finished"
    );
    std::fs::write(daemon.dir.path().join("copybench.toml"), IDLE).expect("rewrite");
    assert_eq!(util::http("POST", &daemon.url("/-/reload"), &[]).0, 200);
    let text = daemon.metrics();
    assert!(
        !text.contains(r#"workers="2""#),
        "series of the removed spec:\n{text}"
    );
    assert!(text.contains(&format!("copybench_runs_total{SERIES}")));
    assert_eq!(runs(&daemon, "?workers=2").len(), 1, "history kept");
}

#[test]
fn the_run_command_records_each_sweep_into_a_history_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("records/history.sqlite");
    let record = |json: bool| {
        let mut command = recorded_sweep(dir.path(), &db, "1,2");
        if json {
            command.arg("--json");
        }
        let output = command.output().expect("run");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).expect("utf8")
    };
    let table = record(false);
    assert_eq!(
        table.lines().count(),
        5,
        "legend, header, two rows, scaling: {table}"
    );
    let json = record(true);
    let (printed, points) = util::json_lines(json.as_bytes());
    assert_eq!(
        (printed.len(), points.len()),
        (5, 2),
        "2 x 2 runs and a warm-up"
    );
    let (check, count) = check_database(&db);
    assert_eq!((check.as_str(), count), ("ok", 10));
    let conn = rusqlite::Connection::open(&db).expect("open");
    let sweeps: i64 = conn
        .query_row("SELECT count(DISTINCT sweep_id) FROM runs", [], |r| {
            r.get(0)
        })
        .expect("sweeps");
    assert_eq!(sweeps, 2);
    let newest: f64 = conn
        .query_row(
            "SELECT finished_at FROM runs ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("newest");
    let last = printed[4]["finished_at"].as_f64().expect("finished_at");
    assert!((last - newest).abs() < 1e-3, "{last} vs {newest}");
}

#[test]
fn the_changes_command_finds_change_points_in_a_csv_series_and_a_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Apache Otava's reference series: changes at rows 40 and 75.
    let mut csv = "# three levels\ntime,value\n".to_owned();
    for i in 0..120u32 {
        let base = if i < 40 {
            10.0
        } else if i < 75 {
            12.0
        } else {
            9.0
        };
        let value = base + f64::from((i * 7919) % 13) / 13.0 - 0.5;
        csv.push_str(&format!("t{i},{value}\n"));
    }
    let path = dir.path().join("series.csv");
    std::fs::write(&path, csv).expect("write");
    let output = util::succeeds(&["changes", "--json", "--csv"], &path);
    let (changes, _) = util::json_lines(&output.stdout);
    let found: Vec<(u64, &str)> = changes
        .iter()
        .map(|c| {
            (
                c["index"].as_u64().expect("index"),
                c["time"].as_str().expect("time"),
            )
        })
        .collect();
    assert_eq!(found, [(40, "t40"), (75, "t75")]);
    for key in ["mean_before", "mean_after", "ratio", "pvalue"] {
        assert!(
            changes[0][key].as_f64().is_some(),
            "{key} in {}",
            changes[0]
        );
    }
    assert!((changes[0]["ratio"].as_f64().expect("ratio") - 1.2015).abs() < 1e-3);

    let text = util::command()
        .args(["changes", "--csv"])
        .arg(&path)
        .output()
        .expect("changes");
    assert_eq!(String::from_utf8_lossy(&text.stdout).lines().count(), 2);

    let missing = util::command()
        .args(["changes", "--db"])
        .arg(dir.path().join("nope.sqlite"))
        .output()
        .expect("changes");
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such run history"));

    let no_value = dir.path().join("bad.csv");
    std::fs::write(&no_value, "time,latency\n1,2\n").expect("write");
    let bad = util::command()
        .args(["changes", "--csv"])
        .arg(&no_value)
        .output()
        .expect("changes");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no column named \"value\""));

    // A recorded history (its schema made by `run --record`), then 60 sweeps of one
    // combination whose median doubles at the 31st.
    let db = dir.path().join("history.sqlite");
    let run = recorded_sweep(dir.path(), &db, "1").output().expect("run");
    assert!(run.status.success(), "{run:?}");
    {
        let conn = rusqlite::Connection::open(&db).expect("open");
        conn.execute("DELETE FROM runs", []).expect("empty");
        for i in 0..60u32 {
            let start = 1_800_000_000.0 + f64::from(i) * 300.0;
            conn.execute(
                "INSERT INTO sweeps (id, started_at, finished_at) VALUES (?1, ?2, ?2 + 10)",
                rusqlite::params![1000 + i, start],
            )
            .expect("sweep");
            let seconds = if i < 30 { 0.10 } else { 0.20 } * (1.0 + f64::from(i % 7) / 100.0);
            conn.execute(
                "INSERT INTO runs (sweep_id, backend, sync, workers, lines, reread, started_at, \
                 finished_at, success, duration_seconds, lines_per_second, disorder, duplicates, \
                 missing, torn_records, pids, threads_min, threads_max, cpu_records, cpus_used, \
                 cpu_migrations, voluntary_ctx_switches, involuntary_ctx_switches) VALUES \
                 (?1, 'thread', 'none', 2, 200, 1, ?2, ?2 + ?3, 1, ?3, 200 / ?3, 0, 0, 0, 0, 1, \
                 3, 3, '{\"0\":200}', 1, 0, 0, 0)",
                rusqlite::params![1000 + i, start, seconds],
            )
            .expect("run");
        }
    }
    let history = util::succeeds(&["changes", "--json", "--db"], &db);
    let (found, _) = util::json_lines(&history.stdout);
    let [change] = &found[..] else {
        panic!("one change point expected: {found:?}")
    };
    assert_eq!(
        (&change["backend"], &change["workers"], &change["index"]),
        (
            &serde_json::json!("thread"),
            &serde_json::json!(2),
            &serde_json::json!(30)
        )
    );
    assert!(
        change["ratio"].as_f64().is_some_and(|r| r > 1.8),
        "{change}"
    );
    assert_eq!(change["time"], "1800009000");
    // Replayed through the node's watch it raises nothing, and says why: without single-worker
    // runs the host's detector has nothing to build its baseline from.
    let replay = util::succeeds(&["changes", "--replay", "--db"], &db);
    assert_eq!(
        String::from_utf8_lossy(&replay.stdout).trim(),
        "Detectors still building their baselines from uncontended sweeps, which cannot alert \
         yet: 1 (the host signal's among them)."
    );
}
