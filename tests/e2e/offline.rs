//! The offline analysis commands on files: `fit` on the published Cisco data set, `changes`
//! on histories it cannot read, and `changes --replay` on a history of an earlier version.

use crate::util;

const CISCO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/usl-cisco.csv");

#[test]
fn fit_gives_the_books_parameters_for_the_cisco_data_and_refuses_too_few_points() {
    let output = util::command()
        .args(["fit", "--json", "--csv", CISCO])
        .output()
        .expect("fit");
    assert!(output.status.success(), "{output:?}");
    let fit: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    for (key, expected) in [
        ("sigma", 0.02671591),
        ("kappa", 7.690945e-4),
        ("lambda", 995.6486),
        ("peak_throughput", 12341.0),
    ] {
        let value = fit[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} in {fit}"));
        assert!(
            ((value - expected) / expected).abs() < 0.001,
            "{key} = {value}"
        );
    }
    assert!(fit["r_squared"].as_f64().is_some_and(|r| r > 0.99));
    assert!(
        fit["peak_concurrency"]
            .as_f64()
            .is_some_and(|n| (35.0..36.0).contains(&n))
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let few = dir.path().join("few.csv");
    std::fs::write(
        &few,
        "# three worker counts\nconcurrency,throughput\n1,10\n2,19\n3,27\n",
    )
    .expect("write");
    let refused = util::command()
        .args(["fit", "--csv"])
        .arg(&few)
        .output()
        .expect("fit");
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("3 distinct concurrencies") && stderr.contains("at least 4"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("distinct concurrencies").count(),
        1,
        "the cause is said once: {stderr}"
    );
    // Values at the ends of the floating-point range are refused, not "fitted".
    let extreme = dir.path().join("extreme.csv");
    std::fs::write(
        &extreme,
        "concurrency,throughput\n1,1e-300\n2,2e-300\n3,3e-300\n4,4e-300\n",
    )
    .expect("write");
    let refused = util::command()
        .args(["fit", "--csv"])
        .arg(&extreme)
        .output()
        .expect("fit");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("throughput 1e-300 from 1e-30 to 1e30"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let amdahl = dir.path().join("amdahl.csv");
    let rows: String = (1..=8)
        .map(|n| {
            format!(
                "{n},{}\n",
                500.0 * f64::from(n) / (1.0 + 0.1 * f64::from(n - 1))
            )
        })
        .collect();
    std::fs::write(&amdahl, format!("concurrency,throughput\n{rows}")).expect("write");
    let text = util::command()
        .args(["fit", "--csv"])
        .arg(&amdahl)
        .output()
        .expect("fit");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Amdahl") && text.contains("peak     none"),
        "{text}"
    );
}

#[test]
fn changes_on_a_history_of_a_newer_version_says_to_use_a_newer_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("history.sqlite");
    drop(
        copybench_exporter::results::Results::open(Some(&path), std::time::Duration::MAX)
            .expect("history"),
    );
    rusqlite::Connection::open(&path)
        .and_then(|db| db.pragma_update(None, "user_version", 99))
        .expect("a newer schema version");
    let output = util::command()
        .args(["changes", "--db"])
        .arg(&path)
        .output()
        .expect("changes");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("schema version 99, newer than")
            && stderr.contains("run a newer copybench_exporter"),
        "{stderr}"
    );
    assert!(!stderr.contains("migrate"), "{stderr}");
}

/// A history of schema version 4 (before runs kept their round and sweeps the node's
/// facts): 200 sweeps a minute apart
/// of 5 rounds of thread and process, none and lock, 1 and 2 workers, with a steady wobble;
/// process/lock/2 is 30 % slower from sweep 150 on.
fn history_of_version_4(path: &std::path::Path) {
    drop(
        copybench_exporter::results::Results::open(Some(path), std::time::Duration::MAX)
            .expect("history"),
    );
    let mut db = rusqlite::Connection::open(path).expect("open");
    let tx = db.transaction().expect("transaction");
    for sweep in 0..200_i64 {
        let start = 1_700_000_000.0 + 60.0 * sweep as f64;
        tx.execute(
            "INSERT INTO sweeps (id, started_at, finished_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![sweep + 1, start, start + 20.0],
        )
        .expect("sweep");
        let mut at = start;
        for round in 0..5_i64 {
            for (backend, sync, workers) in ["thread", "process"].iter().flat_map(|b| {
                ["none", "lock"]
                    .iter()
                    .flat_map(move |s| [(*b, *s, 1_i64), (*b, *s, 2)])
            }) {
                let wobble = 0.96 + 0.009 * ((sweep * 7 + round * 3 + workers * 5) % 11) as f64;
                let slow = sweep >= 150 && (backend, sync, workers) == ("process", "lock", 2);
                let seconds = 0.2 * wobble * if slow { 1.3 } else { 1.0 };
                tx.execute(
                    "INSERT INTO runs (sweep_id, backend, sync, workers, lines, reread, \
                     started_at, finished_at, success, duration_seconds, lines_per_second, \
                     disorder, duplicates, missing, torn_records, pids, threads_min, \
                     threads_max, cpu_records, cpus_used, cpu_migrations, \
                     voluntary_ctx_switches, involuntary_ctx_switches) \
                     VALUES (?1, ?2, ?3, ?4, 1000, 1, ?5, ?6, 1, ?7, 1000.0 / ?7, \
                     0, 0, 0, 0, 1, 1, 3, '{\"0\":1000}', 1, 0, 10, 1)",
                    rusqlite::params![sweep + 1, backend, sync, workers, at, at + seconds, seconds],
                )
                .expect("run");
                at += seconds;
            }
        }
    }
    tx.commit().expect("commit");
    // Back to version 4: without the runs' round (5) and CPUs allowed (7), and whatever
    // sweeps columns came after it (6 on: the node's facts).
    let version_4 = [
        "id",
        "started_at",
        "finished_at",
        "calibration_seconds",
        "cpu_seconds",
    ];
    let later: Vec<String> = db
        .prepare("SELECT name FROM pragma_table_info('sweeps')")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("sweeps columns");
    let drops: String = later
        .iter()
        .filter(|c| !version_4.contains(&c.as_str()))
        .map(|c| format!("ALTER TABLE sweeps DROP COLUMN {c};"))
        .collect();
    db.execute_batch(&format!(
        "ALTER TABLE runs DROP COLUMN round; ALTER TABLE runs DROP COLUMN cpus_allowed; \
         ALTER TABLE runs DROP COLUMN wait_seconds; \
         {drops} PRAGMA user_version = 4;"
    ))
    .expect("back to version 4");
}

#[test]
fn replay_walks_a_history_of_an_earlier_version_and_prints_the_alerts_it_raises() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("history.sqlite");
    history_of_version_4(&path);
    let replay = |json: bool| {
        let mut command = util::command();
        command.args(["changes", "--replay", "--db"]).arg(&path);
        if json {
            command.arg("--json");
        }
        let output = command.output().expect("changes --replay");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).expect("UTF-8")
    };
    let alerts: Vec<serde_json::Value> = replay(true)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    let slowed_from = 1_700_000_000.0 + 60.0 * 150.0;
    assert!(
        alerts.iter().any(|a| a["signal"] == "workload"),
        "{alerts:?}"
    );
    for alert in &alerts {
        // Only the combination that changed, from when it changed, and still firing.
        assert!(
            ["workload", "scaling"].contains(&alert["signal"].as_str().unwrap_or_default()),
            "{alert}"
        );
        assert_eq!(
            (&alert["backend"], &alert["sync"], &alert["workers"]),
            (&"process".into(), &"lock".into(), &2.into()),
            "{alert}"
        );
        let started = alert["started_at"].as_f64().expect("started_at");
        assert!(started >= slowed_from - 180.0, "{alert}");
        assert!(alert["ended_at"].is_null(), "{alert}");
        let ratio = alert["ratio"].as_f64().expect("ratio");
        assert!(ratio > 1.15 && ratio < 1.4, "{alert}");
    }
    let text = replay(false);
    assert!(
        text.lines()
            .any(|l| l.starts_with("workload process/lock workers=2") && l.contains("firing")),
        "{text}"
    );
    // And what the detectors can see at the history's end: every one has its baseline.
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("Within 5 usable sweeps the detectors find a slowdown of 10 % on ")
            && last.contains(" series; the least sensitive ("),
        "{text}"
    );
    assert!(!text.contains("cannot alert yet"), "{text}");
    // Read from a copy: the file keeps its version.
    let version: i64 = rusqlite::Connection::open(&path)
        .and_then(|db| db.query_row("PRAGMA user_version", [], |r| r.get(0)))
        .expect("version");
    assert_eq!(version, 4);
}
