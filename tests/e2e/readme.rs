//! The README's own commands, in the order it gives them, on a fresh directory: the quick
//! start, `run`, `check-config` on the shipped configuration, the environment override example,
//! a probe and a reload, each checked against what the README says it does. The examples are
//! read from the README itself, so an example that stops working fails here.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::util::{self, TestConfig, sample, start_daemon_in, wait_for};

const README: &str = include_str!("../../README.md");
const SHIPPED_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/copybench.toml");

/// The README's first example that starts with `prefix`, up to a backquote, an optional part in
/// brackets or a space.
fn example(prefix: &str) -> &'static str {
    let start = README
        .find(prefix)
        .unwrap_or_else(|| panic!("the README has no example starting {prefix}"));
    let rest = &README[start..];
    let end = rest
        .find(|c: char| c == '`' || c == '[' || c.is_whitespace())
        .unwrap_or(rest.len());
    &rest[..end]
}

/// `copybench_exporter ARGS` with `env`, its exit status and stdout and stderr together.
fn command(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let output = util::command()
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run the binary");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[test]
fn the_readmes_commands_do_what_it_says_in_its_order() {
    // The first screen: exactly two commands, the daemon on its defaults and every test.
    let block = README
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a first sh block");
    let commands: Vec<&str> = block
        .lines()
        .filter_map(|l| l.split('#').next().map(str::trim))
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(commands, ["cargo run --release", "scripts/test"]);
    // "documents every key with its default; no file is needed"
    let shipped = std::fs::read_to_string(SHIPPED_PATH).expect("shipped config");
    let (ok, defaults) = command(&["print-default-config"], &[]);
    assert!(
        ok && defaults == shipped,
        "the shipped config is not the defaults"
    );

    // `run`, with flags of its synopsis: a table of every combination, then the fit lines.
    let workdir = tempfile::tempdir().expect("tempdir");
    let workdir_path = workdir.path().to_str().expect("utf-8 path");
    let (ok, table) = command(
        &[
            "run",
            "--backend",
            "thread",
            "--sync",
            "none,lock",
            "--workers",
            "1,2",
            "--lines",
            "500",
            "--repeats",
            "1",
            "--workdir",
            workdir_path,
        ],
        &[],
    );
    assert!(ok, "{table}");
    let rows = table.lines().filter(|l| l.starts_with("thread ")).count();
    assert!(rows >= 4, "one row per combination:\n{table}");
    assert!(
        table.contains("no fit"),
        "fewer than 4 pool sizes give \"no fit\":\n{table}"
    );

    // `check-config` on the shipped file, alone and with the environment examples.
    let env_example = example("COPYBENCH__WORKLOAD__WORKERS=");
    let (key, value) = env_example.split_once('=').expect("KEY=VALUE");
    for env in [vec![], vec![(key, value)], vec![(key, "4")]] {
        let (ok, said) = command(&["check-config", SHIPPED_PATH], &env);
        assert!(
            ok && said.contains("configuration is valid"),
            "{env:?}: {said}"
        );
    }

    // The daemon on the shipped configuration with the environment example in force; no sweep
    // at start, so that the probe is not refused as busy; reloads over HTTP switched on.
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = start_daemon_in(
        dir,
        &shipped,
        &[
            (key, value),
            ("COPYBENCH__SCHEDULE__RUN_AT_START", "false"),
            ("COPYBENCH__WEB__ENABLE_RELOAD", "true"),
            ("NODE_NAME", "node-7"),
        ],
        &[],
    );
    let started = daemon
        .logs()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "listening")
        .expect("the listening line");
    assert_eq!(started["fields"]["node"], "node-7", "NODE_NAME is logged");
    let (status, page) = daemon.get("/");
    assert!(status == 200 && page.contains("Not run yet"), "{status}");
    let series = |sync: &str, workers: &str| {
        format!(
            r#"copybench_last_run_duration_seconds{{backend="process",sync="{sync}",workers="{workers}"}}"#
        )
    };
    let metrics = daemon.metrics();
    for workers in value.split(',') {
        assert!(
            sample(&metrics, &series("ordered", workers)).is_some(),
            "the environment's pool size {workers} is not exported"
        );
    }

    // The probe example.
    let probe = example("/probe?");
    let (status, body) = daemon.get(probe);
    assert_eq!(status, 200, "{probe}: {body}");
    assert_eq!(
        sample(&body, "copybench_probe_success"),
        Some(1.0),
        "{body}"
    );

    // Reload by SIGHUP: a combination the file no longer names disappears.
    let config = daemon.dir.path().join("copybench.toml");
    let fewer = TestConfig::from(&shipped)
        .set("workload.sync", vec!["none"])
        .text();
    assert_ne!(fewer, shipped, "the shipped sync list changed");
    std::fs::write(&config, fewer).expect("write config");
    daemon.signal(Signal::SIGHUP);
    assert!(
        wait_for(Duration::from_secs(20), || sample(
            &daemon.metrics(),
            &series("ordered", "1")
        )
        .is_none()),
        "SIGHUP did not apply the new file"
    );
    // And by `POST /-/reload`, now switched on.
    let (status, said) = util::http("POST", &daemon.url("/-/reload"), &[]);
    assert_eq!(status, 200, "{said}");
    assert_eq!(
        sample(&daemon.metrics(), "copybench_config_last_reload_successful"),
        Some(1.0)
    );
}
