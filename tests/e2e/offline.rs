//! The offline analysis commands on files: `fit` on the published Cisco data set, `changes`
//! on histories it cannot read.

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
