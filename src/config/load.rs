//! Where settings come from: the TOML file, then `COPYBENCH__SECTION__KEY` environment
//! variables, then flags, merged by the `config` crate and read so that every bad key is
//! named at once.

use std::collections::HashMap;
use std::path::Path;

use super::file::read_settings_file;
use super::{Config, ConfigError, ENV_PREFIX, Overrides};

/// A configuration as loaded, and whether its file set anything.
#[derive(Debug)]
pub struct Loaded {
    /// The checked configuration.
    pub config: Config,
    /// The file held only comments and blank lines, so every key took its default: more
    /// often a mistake (an emptied ConfigMap, a truncated file) than meant.
    pub file_sets_nothing: bool,
}

/// Loads the file at `path` (if any: a regular file of at most 1 MiB, read once), then the
/// process environment, then `overrides`.
pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Loaded, ConfigError> {
    let text = match path {
        Some(path) => read_settings_file(path)
            .map_err(|why| ConfigError::Load(format!("{}: {why}", path.display())))?,
        None => String::new(),
    };
    let config = Config::from_sources(&text, environment()?, overrides)?;
    Ok(Loaded {
        config,
        file_sets_nothing: path.is_some() && sets_nothing(&text),
    })
}

/// The `COPYBENCH__SECTION__KEY` variables of the process environment. Other variables are
/// not looked at (they may be anything, even not UTF-8); one of ours that is not UTF-8, not of
/// that shape, or not a finite number where it looks like a number is an error naming it.
fn environment() -> Result<HashMap<String, String>, ConfigError> {
    let prefix = format!("{ENV_PREFIX}__");
    let mut found = HashMap::new();
    let mut problems = Vec::new();
    for (key, value) in std::env::vars_os() {
        if !key.as_encoded_bytes().starts_with(prefix.as_bytes()) {
            continue;
        }
        let name = key.to_string_lossy().into_owned();
        match (key.into_string(), value.into_string()) {
            (Ok(key), Ok(value)) => match env_problem(&key, &value) {
                Some(problem) => problems.push(problem),
                None => {
                    found.insert(key, value);
                }
            },
            _ => problems.push(format!("{name}: the variable is not UTF-8")),
        }
    }
    if problems.is_empty() {
        Ok(found)
    } else {
        problems.sort();
        Err(ConfigError::Invalid(problems))
    }
}

/// What is wrong with the variable `key=value`, if anything.
fn env_problem(key: &str, value: &str) -> Option<String> {
    let parts: Vec<&str> = key[ENV_PREFIX.len() + 2..].split("__").collect();
    if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
        return Some(format!(
            "{key}: not a variable of the form {ENV_PREFIX}__SECTION__KEY"
        ));
    }
    let number = value.trim().parse::<f64>();
    if number.is_ok_and(|n| !n.is_finite()) {
        return Some(format!("{key}: {value:?} is not a finite number"));
    }
    None
}

impl Config {
    /// Loads the configuration as [`load`] does.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        load(path, overrides).map(|loaded| loaded.config)
    }

    /// Parses TOML text alone, without environment or flags (handy in tests).
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Self::from_sources(text, HashMap::new(), &Overrides::default())
    }

    /// Merges TOML text < environment variables < flags and checks the result.
    pub fn from_sources(
        text: &str,
        env: HashMap<String, String>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut environment = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__")
            .list_separator(",")
            .try_parsing(true)
            .source(Some(env.into_iter().collect()));
        for key in ["workload.backends", "workload.sync", "workload.workers"] {
            environment = environment.with_list_parse_key(key);
        }
        let flags = [
            ("web.listen_address", &overrides.listen_address),
            ("log.level", &overrides.log_level),
            ("log.format", &overrides.log_format),
        ];
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .add_source(environment);
        for (key, value) in flags {
            builder = builder
                .set_override_option(key, value.clone())
                .map_err(|e| ConfigError::Load(e.to_string()))?;
        }
        let mut merged: serde_json::Value = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| {
                // An integer too large for 64 bits fails as Rust's "number too large to fit in
                // target type", without saying where; the key is the one to fix.
                let key = e
                    .to_string()
                    .contains("to fit in target type")
                    .then(|| oversized_integer_key(text))
                    .flatten();
                match key {
                    Some(key) => ConfigError::Invalid(vec![format!(
                        "{key}: integer too large (TOML integers are 64-bit)"
                    )]),
                    None => ConfigError::Load(e.to_string()),
                }
            })?;
        numbers_in_lists(&mut merged);
        deserialize_reporting_every_key(merged)
    }
}

/// The `section.key` of the first value in TOML `text` with an integer of more digits than a
/// 64-bit integer holds.
fn oversized_integer_key(text: &str) -> Option<String> {
    let mut section = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = format!("{}.", name.trim());
        } else if let Some((key, value)) = line.split_once('=') {
            let value = value.split('#').next().unwrap_or_default();
            let oversized = !value.contains('"')
                && value
                    .split(|c: char| !c.is_ascii_digit())
                    .any(|digits| !digits.is_empty() && digits.parse::<i64>().is_err());
            if oversized {
                return Some(format!("{section}{}", key.trim()));
            }
        }
    }
    None
}

/// Whether TOML `text` is only blank lines and comments: a file that leaves every key at its
/// default, which is more often a mistake (an emptied ConfigMap, a truncated file) than meant.
fn sets_nothing(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#')
    })
}

/// Environment lists arrive as strings (`COPYBENCH__WORKLOAD__WORKERS=1,2`); list items that
/// are whole numbers become numbers, as they would be in TOML.
fn numbers_in_lists(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => map.values_mut().for_each(numbers_in_lists),
        serde_json::Value::Array(items) => {
            for item in items {
                if let Some(n) = item.as_str().and_then(|s| s.trim().parse::<u64>().ok()) {
                    *item = n.into();
                }
            }
        }
        _ => {}
    }
}

/// Deserializes the merged settings and checks their values. When some keys cannot be read,
/// each key is tried alone against the defaults, so that every bad key is named (not only the
/// first), and the values of the good ones are still checked.
fn deserialize_reporting_every_key(merged: serde_json::Value) -> Result<Config, ConfigError> {
    let first_error = match serde_json::from_value::<Config>(merged.clone()) {
        Ok(config) => {
            return config.validate().map(|()| config);
        }
        Err(e) => e,
    };
    let defaults =
        serde_json::to_value(Config::default()).map_err(|e| ConfigError::Load(e.to_string()))?;
    let mut good = defaults.clone();
    let mut problems = Vec::new();
    let serde_json::Value::Object(sections) = merged else {
        return Err(ConfigError::Invalid(vec![first_error.to_string()]));
    };
    for (section, keys) in sections {
        let Some(default_section) = defaults.get(&section) else {
            problems.push(format!("{section}: unknown section"));
            continue;
        };
        let serde_json::Value::Object(keys) = keys else {
            problems.push(format!("{section}: must be a table"));
            continue;
        };
        for (key, value) in keys {
            if default_section.get(&key).is_none() {
                problems.push(format!("{section}.{key}: unknown key"));
                continue;
            }
            let mut trial = defaults.clone();
            trial[&section][&key] = value.clone();
            match serde_json::from_value::<Config>(trial) {
                Ok(_) => good[&section][&key] = value,
                Err(e) => problems.push(format!("{section}.{key}: {e}")),
            }
        }
    }
    match serde_json::from_value::<Config>(good) {
        Ok(config) => problems.extend(config.problems()),
        Err(e) => problems.push(e.to_string()),
    }
    if problems.is_empty() {
        problems.push(first_error.to_string());
    }
    problems.sort();
    Err(ConfigError::Invalid(problems))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{ListenAddress, LogFormat, Workers};

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The problems of `text`, which must be an invalid configuration.
    pub(crate) fn invalid(text: &str) -> Vec<String> {
        match Config::from_toml_str(text) {
            Err(ConfigError::Invalid(problems)) => problems,
            other => panic!("expected invalid config, got {other:?}"),
        }
    }

    #[test]
    fn integers_too_large_name_their_key_and_other_errors_keep_theirs() {
        for (text, said) in [
            (
                "[workload]\nlines = 99999999999999999999999\n",
                "workload.lines: integer too large",
            ),
            (
                "[workload]\nworkers = [1, 99999999999]\n",
                "workload.workers: 99999999999 is too large",
            ),
            // A long number in a comment is not the error; the syntax is.
            (
                "# lines = 99999999999999999999999 is too many\n[workload]\nlines 5\n",
                "TOML parse error at line 3",
            ),
        ] {
            let err = Config::from_toml_str(text).expect_err(text);
            assert!(err.to_string().contains(said), "{text}: {err}");
        }
    }

    #[test]
    fn only_comments_and_blank_lines_set_nothing() {
        assert!(sets_nothing(""));
        assert!(sets_nothing("# a comment\n\n   \n  # another\n"));
        assert!(!sets_nothing("# a comment\n[web]\n"));
    }

    #[test]
    fn workers_are_a_list_or_auto_from_the_file_and_the_environment() {
        let auto = Config::from_toml_str("[workload]\nworkers = \"auto\"\n").expect("auto");
        assert_eq!(auto.workload.workers, Workers::Auto);
        let vars = env(&[("COPYBENCH__WORKLOAD__WORKERS", "auto")]);
        let from_env = Config::from_sources("", vars, &Overrides::default()).expect("env");
        assert_eq!(from_env.workload.workers, Workers::Auto);
        // One number from the environment is a one-element list.
        let file = "[workload]\nlines = 100\n";
        let vars = env(&[("COPYBENCH__WORKLOAD__WORKERS", "4")]);
        let one = Config::from_sources(file, vars, &Overrides::default()).expect("one size");
        assert_eq!(one.workload.workers, Workers::List(vec![4]));
        for bad in ["\"many\"", "[1, \"auto\"]", "[1.5]"] {
            let problems = invalid(&format!("[workload]\nworkers = {bad}\n"));
            assert!(
                problems[0].starts_with("workload.workers"),
                "{bad}: {problems:?}"
            );
        }
        assert_eq!(Workers::Auto.sizes(2), [1, 2, 3]);
        assert_eq!(Workers::Auto.sizes(0), [1, 2], "at least one CPU");
        assert_eq!(Workers::Auto.sizes(8), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(Workers::Auto.sizes(48), [1, 2, 4, 8, 16, 32, 48, 49]);
        assert_eq!(Workers::List(vec![4]).sizes(2), [4]);
    }

    #[test]
    fn file_then_environment_then_flags() {
        let text =
            "[web]\nlisten_address = \"127.0.0.1:1111\"\n[workload]\nlines = 50\nworkers = [1]\n";
        let from_file = Config::from_toml_str(text).expect("file");
        assert_eq!(from_file.web.listen_address.to_string(), "127.0.0.1:1111");

        let vars = env(&[
            ("COPYBENCH__WEB__LISTEN_ADDRESS", "127.0.0.1:2222"),
            ("COPYBENCH__WORKLOAD__WORKERS", "2,4"),
            ("COPYBENCH__SCHEDULE__INTERVAL", "1s"),
            ("COPYBENCH__SCHEDULE__JITTER", "0s"),
        ]);
        let with_env =
            Config::from_sources(text, vars.clone(), &Overrides::default()).expect("env");
        assert_eq!(with_env.web.listen_address.to_string(), "127.0.0.1:2222");
        assert_eq!(with_env.workload.workers, Workers::List(vec![2, 4]));
        assert_eq!(with_env.workload.lines, 50, "file keys not overridden stay");
        assert_eq!(with_env.schedule.interval, Duration::from_secs(1));

        let flags = Overrides {
            listen_address: Some(":3333".into()),
            log_format: Some("json".into()),
            ..Overrides::default()
        };
        let with_flags = Config::from_sources(text, vars, &flags).expect("flags");
        assert_eq!(
            with_flags.web.listen_address,
            ListenAddress::AllInterfaces(3333)
        );
        assert_eq!(with_flags.web.listen_address.to_string(), ":3333");
        assert_eq!(with_flags.web.listen_address.candidates().len(), 2);
        assert_eq!(with_flags.log.format, LogFormat::Json);
    }

    #[test]
    fn every_bad_key_is_reported_at_once() {
        let problems = invalid(
            "[workload]\nworkers = [0, 2]\nbackends = [\"fork\"]\nlines = \"many\"\nspeed = 3\n\
             [schedule]\ninterval = \"0s\"\n[web]\nlisten_address = \"127.0.0.1:70000\"\n[extra]\nx = 1\n\
             [metrics]\ndetail = \"verbose\"\n",
        );
        let joined = problems.join("\n");
        for key in [
            "workload.backends",
            "workload.lines",
            "workload.speed: unknown key",
            "web.listen_address",
            "extra: unknown section",
            "metrics.detail",
        ] {
            assert!(joined.contains(key), "{key} not reported in:\n{joined}");
        }
    }

    #[test]
    fn bad_toml_and_bad_env_values_are_errors() {
        assert!(matches!(
            Config::from_toml_str("[web"),
            Err(ConfigError::Load(_))
        ));
        let vars = env(&[("COPYBENCH__WORKLOAD__LINES", "lots")]);
        let err = Config::from_sources("", vars, &Overrides::default()).expect_err("bad env");
        assert!(err.to_string().contains("workload.lines"), "{err}");
        let flags = Overrides {
            log_level: Some("loud".into()),
            ..Overrides::default()
        };
        let err = Config::from_sources("", HashMap::new(), &flags).expect_err("bad flag");
        assert!(err.to_string().contains("log.level"), "{err}");
    }

    mod properties {
        use super::super::*;
        use crate::config::Overrides;
        use proptest::prelude::*;

        /// A TOML-like text: known and unknown sections and keys with values of every type.
        fn text() -> impl Strategy<Value = String> {
            let section = prop_oneof![
                Just("web"),
                Just("schedule"),
                Just("workload"),
                Just("probe"),
                Just("analysis"),
                Just("metrics"),
                Just("state"),
                Just("log"),
                Just("other"),
            ];
            let key = prop_oneof![
                Just("listen_address"),
                Just("interval"),
                Just("jitter"),
                Just("workers"),
                Just("lines"),
                Just("repeats"),
                Just("max_lines"),
                Just("min_interval"),
                Just("max_cv"),
                Just("window"),
                Just("history"),
                Just("fit_sweeps"),
                Just("retention"),
                Just("level"),
                Just("per_cpu"),
                Just("detail"),
                Just("backends"),
                Just("max_connections"),
                Just("enable_reload"),
                Just("unknown"),
            ];
            let value = prop_oneof![
                "-?[0-9]{1,25}",
                "[0-9]\\.[0-9]{1,4}(e-?[0-9])?",
                "\"[0-9]{1,4}(ms|s|m|h|d|y)\"",
                "\"[ -!#-~]{0,16}\"",
                "(true|false)",
                "\\[([0-9]{1,3}, ?){0,4}\\]",
                "\\[\"(process|thread|auto|x)\"\\]",
                "[ -~]{0,10}",
            ];
            proptest::collection::vec(
                (section, proptest::collection::vec((key, value), 0..4)),
                0..5,
            )
            .prop_map(|sections| {
                sections
                    .iter()
                    .map(|(s, pairs)| {
                        let body: String =
                            pairs.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
                        format!("[{s}]\n{body}")
                    })
                    .collect()
            })
        }

        proptest! {
            #[test]
            fn any_text_loads_or_is_refused_and_what_loads_is_valid(
                text in prop_oneof![text(), "[ -~\n]{0,200}"],
            ) {
                match Config::from_sources(&text, HashMap::new(), &Overrides::default()) {
                    Ok(config) => prop_assert!(config.validate().is_ok()),
                    Err(ConfigError::Invalid(problems)) => {
                        prop_assert!(!problems.is_empty());
                        for p in problems {
                            prop_assert!(p.contains(':') && !p.contains('\n'), "{p}");
                        }
                    }
                    Err(ConfigError::Load(why)) => prop_assert!(!why.is_empty()),
                }
            }
        }
    }
}
