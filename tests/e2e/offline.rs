//! The offline analysis commands on files: `fit` on the published Cisco data set.

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
