//! The daemon's settings: one TOML file, environment overrides and command-line flags, merged
//! in that order of precedence over built-in defaults, then checked once.
//!
//! Every problem (unknown key, wrong type, impossible value) is reported at once, each naming
//! its key, so one edit fixes a bad file. The rest of the code only ever sees a checked
//! [`Config`].

use std::collections::HashMap;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::workload::{Backend, SyncMode};

/// The documented default configuration, as shipped in `config/copybench.toml`.
pub const DEFAULT_TOML: &str = include_str!("../config/copybench.toml");

/// Prefix of environment overrides: `COPYBENCH__SECTION__KEY`.
pub const ENV_PREFIX: &str = "COPYBENCH";

/// Longest duration accepted for any setting: beyond it, clock arithmetic could overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// Largest pool size accepted anywhere.
pub const MAX_WORKERS: u32 = 1024;

/// Most runs of one combination per sweep.
pub const MAX_REPEATS: u32 = 100;

/// Most sweeps of one combination the change-point detectors look at.
pub const MAX_HISTORY: usize = 2000;

/// The most connections `[web] max_connections` allows.
pub const MAX_CONNECTIONS: usize = 65_536;

/// The most input lines of a run (`[workload] lines`, `[probe] max_lines`, `run --lines`): a
/// run of this size writes about 80 MB and holds its output in memory to verify it.
pub const MAX_LINES: u64 = 1_000_000;

/// The most sweeps `[analysis] fit_sweeps` fits the scalability law to.
pub const MAX_FIT_SWEEPS: usize = 100;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed as TOML.
    #[error("cannot load configuration: {0}")]
    Load(String),
    /// One or more keys are unknown or hold impossible values; every one is listed.
    #[error("invalid configuration:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
}

/// Flag values that override the file and the environment.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--web.listen-address`
    pub listen_address: Option<String>,
    /// `--log.level`
    pub log_level: Option<String>,
    /// `--log.format`
    pub log_format: Option<String>,
}

/// The checked configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP server settings.
    pub web: Web,
    /// When sweeps run.
    pub schedule: Schedule,
    /// What each sweep measures.
    pub workload: Workload,
    /// The `/probe` endpoint.
    pub probe: Probe,
    /// Optional metric families.
    pub metrics: Metrics,
    /// Thresholds of the statistics.
    pub analysis: Analysis,
    /// Persistence of recent runs.
    pub state: State,
    /// Logging.
    pub log: Log,
}

/// `[web]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Web {
    /// Address to listen on; `:PORT` means every interface.
    pub listen_address: ListenAddress,
    /// Connections served at once; more wait in the listen backlog, so that they cannot use
    /// up the file descriptors runs need.
    pub max_connections: usize,
    /// Whether `POST /-/reload` reloads the configuration (SIGHUP always does).
    pub enable_reload: bool,
}

/// `[schedule]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Schedule {
    /// Time between sweep starts.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Uniform random offset within +-jitter added to each interval.
    #[serde(with = "humantime_serde")]
    pub jitter: Duration,
    /// Whether the first sweep starts at once.
    pub run_at_start: bool,
    /// A run is stopped and failed after this long.
    #[serde(with = "humantime_serde")]
    pub run_timeout: Duration,
    /// How long a run in progress may finish after SIGTERM.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// The most CPU the workload may use on average, in CPUs (0.02: 2 % of one CPU): when
    /// the last sweep cost more, the next one waits longer than `interval`.
    pub max_duty_cycle: f64,
}

/// `[workload]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    /// Worker pools to measure.
    pub backends: Vec<Backend>,
    /// Sync modes to measure.
    pub sync: Vec<SyncMode>,
    /// Pool sizes to measure.
    pub workers: Workers,
    /// Input lines per run.
    pub lines: u64,
    /// Whether each task re-reads the whole input.
    pub reread: bool,
    /// Runs of each combination per sweep.
    pub repeats: u32,
    /// Whether each sweep starts with one run that is recorded but not counted.
    pub warmup: bool,
    /// Where scratch directories go; empty means the system temp dir.
    pub workdir: PathBuf,
}

/// `[analysis]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Analysis {
    /// A combination whose runs of one sweep vary more than this (coefficient of variation)
    /// is flagged noisy.
    pub max_cv: f64,
    /// A run throttled by the CPU quota in more than this share of its periods is marked.
    pub max_throttled_ratio: f64,
    /// A run that lost more than this share of its wall time, per host CPU, to steal is
    /// marked.
    pub max_steal_ratio: f64,
    /// Sweeps per window of the E-divisive change-point search.
    pub window: usize,
    /// A change point is kept only below this p-value.
    pub max_pvalue: f64,
    /// A change smaller than this share of the mean is not a change.
    pub min_magnitude: f64,
    /// The most recent sweeps of each combination the detectors look at.
    pub history: usize,
    /// Sweeps the Universal Scalability Law is fitted to: 1 fits the latest sweep's medians,
    /// more fits every counted run of the last this many sweeps.
    pub fit_sweeps: usize,
}

impl Analysis {
    /// The change-point detectors' settings.
    pub fn detectors(&self) -> crate::analysis::changes::Settings {
        crate::analysis::changes::Settings::new(self.window, self.max_pvalue, self.min_magnitude)
    }
}

/// Pool sizes: a list, or `"auto"` for 1 up to the usable CPUs plus one oversubscribed size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Workers {
    /// Sized from the CPU quota and cpuset at each sweep.
    Auto,
    /// These sizes.
    List(Vec<u32>),
}

/// The most pool sizes `"auto"` makes below the oversubscribed one.
pub const MAX_AUTO_SIZES: usize = 8;

impl Workers {
    /// The pool sizes for a host with `usable` CPUs (the lower of quota and cpuset).
    pub fn sizes(&self, usable: u32) -> Vec<u32> {
        match self {
            Workers::List(sizes) => sizes.clone(),
            Workers::Auto => {
                let usable = usable.clamp(1, MAX_WORKERS - 1);
                let mut sizes: Vec<u32> = if usable as usize <= MAX_AUTO_SIZES {
                    (1..=usable).collect()
                } else {
                    // Doublings, then the usable count itself.
                    let mut sizes: Vec<u32> = std::iter::successors(Some(1u32), |n| {
                        n.checked_mul(2).filter(|n| *n < usable)
                    })
                    .collect();
                    sizes.truncate(MAX_AUTO_SIZES - 1);
                    sizes.push(usable);
                    sizes
                };
                sizes.push(usable + 1);
                sizes
            }
        }
    }
}

impl Serialize for Workers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Workers::Auto => s.serialize_str("auto"),
            Workers::List(sizes) => sizes.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Workers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// `n` as a pool size, if it can be one (the range is checked with the other values).
        fn size<E: serde::de::Error>(n: u64) -> Result<u32, E> {
            u32::try_from(n).map_err(|_| {
                E::custom(format!(
                    "{n} is too large for a pool size (at most {MAX_WORKERS})"
                ))
            })
        }
        /// A list item: a size, or the word `auto` (an environment variable's one-item list).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Item {
            Size(u64),
            Word(String),
        }
        /// A list, a word, or one size (what an environment variable of one number becomes).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Size(u64),
            Word(String),
            List(Vec<Item>),
        }
        let expected = "a list of pool sizes or \"auto\"";
        match Raw::deserialize(d)
            .map_err(|_| serde::de::Error::custom(format!("expected {expected}")))?
        {
            Raw::Size(n) => size(n).map(|n| Workers::List(vec![n])),
            Raw::Word(word) if word == "auto" => Ok(Workers::Auto),
            Raw::List(items) => match &items[..] {
                [Item::Word(word)] if word == "auto" => Ok(Workers::Auto),
                _ => items
                    .into_iter()
                    .map(|item| match item {
                        Item::Size(n) => size(n),
                        Item::Word(w) => Err(serde::de::Error::custom(format!(
                            "{w:?} is not a pool size; expected {expected}"
                        ))),
                    })
                    .collect::<Result<_, _>>()
                    .map(Workers::List),
            },
            Raw::Word(word) => Err(serde::de::Error::custom(format!(
                "{word:?}: expected {expected}"
            ))),
        }
    }
}

/// `[probe]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Probe {
    /// Whether `/probe` runs workloads.
    pub enabled: bool,
    /// Largest pool a probe may ask for.
    pub max_workers: u32,
    /// Largest input a probe may ask for.
    pub max_lines: u64,
    /// Longest a probe run may take.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Least time between the starts of two probe runs; sooner ones are refused (429).
    #[serde(with = "humantime_serde")]
    pub min_interval: Duration,
}

/// `[metrics]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// Whether to export `copybench_cpu_records{cpu}`.
    pub per_cpu: bool,
}

/// `[state]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct State {
    /// Where the run history database is kept; empty means `$STATE_DIRECTORY`, or nowhere.
    pub dir: PathBuf,
    /// Runs older than this are deleted from the history.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

/// `[log]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// Least severe level logged.
    pub level: LogLevel,
    /// Line format.
    pub format: LogFormat,
}

/// Log verbosity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Normal operation.
    Info,
    /// Per-run detail.
    Debug,
    /// Everything.
    Trace,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where to listen: node_exporter's `:PORT` form (every interface) or one socket address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenAddress {
    /// `:PORT`: every interface, IPv6 as well as IPv4 where the host has IPv6.
    AllInterfaces(u16),
    /// `HOST:PORT`: that address only.
    Socket(SocketAddr),
}

impl ListenAddress {
    /// The addresses to try binding, in order. For `:PORT`: the IPv6 wildcard, which on Linux
    /// takes IPv4 connections too, then the IPv4 one for hosts without IPv6.
    pub fn candidates(&self) -> Vec<SocketAddr> {
        match *self {
            ListenAddress::AllInterfaces(port) => vec![
                SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)),
                SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, port)),
            ],
            ListenAddress::Socket(addr) => vec![addr],
        }
    }
}

impl FromStr for ListenAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(port) = s.strip_prefix(':') {
            return port
                .parse()
                .map(ListenAddress::AllInterfaces)
                .map_err(|e| format!("{s:?} is not :PORT with a port from 0 to 65535 ({e})"));
        }
        let mut addrs = s
            .to_socket_addrs()
            .map_err(|e| format!("{s:?} is not a host:port address ({e})"))?;
        addrs
            .next()
            .map(ListenAddress::Socket)
            .ok_or_else(|| format!("{s:?} resolves to no address"))
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::AllInterfaces(port) => write!(f, ":{port}"),
            ListenAddress::Socket(addr) => addr.fmt(f),
        }
    }
}

impl Serialize for ListenAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ListenAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Default for Web {
    fn default() -> Self {
        Web {
            listen_address: ListenAddress::AllInterfaces(10720),
            max_connections: 256,
            enable_reload: false,
        }
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            interval: Duration::from_secs(300),
            jitter: Duration::from_secs(30),
            run_at_start: true,
            run_timeout: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(30),
            max_duty_cycle: 0.02,
        }
    }
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            backends: Backend::ALL.to_vec(),
            sync: SyncMode::ALL.to_vec(),
            workers: Workers::List(vec![1, 2, 3]),
            lines: 5_000,
            reread: true,
            repeats: 5,
            warmup: true,
            workdir: PathBuf::new(),
        }
    }
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            enabled: true,
            max_workers: 8,
            max_lines: 20_000,
            timeout: Duration::from_secs(30),
            min_interval: Duration::from_secs(1),
        }
    }
}

impl Default for Analysis {
    fn default() -> Self {
        Analysis {
            max_cv: 0.10,
            max_throttled_ratio: 0.01,
            max_steal_ratio: 0.05,
            window: 50,
            max_pvalue: 0.0001,
            min_magnitude: 0.05,
            history: 200,
            fit_sweeps: 1,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics { per_cpu: true }
    }
}

impl Default for State {
    fn default() -> Self {
        State {
            dir: PathBuf::new(),
            retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: LogLevel::Info,
            format: LogFormat::Text,
        }
    }
}

impl Workload {
    /// The scratch directory parent: the configured one, or the system temp dir.
    pub fn workdir(&self) -> PathBuf {
        if self.workdir.as_os_str().is_empty() {
            std::env::temp_dir()
        } else {
            self.workdir.clone()
        }
    }
}

impl State {
    /// Where to keep state, if anywhere: the configured dir, else `$STATE_DIRECTORY`.
    pub fn resolved_dir(&self, state_directory: Option<&str>) -> Option<PathBuf> {
        if !self.dir.as_os_str().is_empty() {
            return Some(self.dir.clone());
        }
        // systemd may pass several colon-separated directories; the first is ours.
        let first = state_directory?.split(':').next()?;
        (!first.is_empty()).then(|| PathBuf::from(first))
    }
}

impl Config {
    /// Loads the file at `path` (if any), then the process environment, then `overrides`.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let text = match path {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| ConfigError::Load(format!("{}: {e}", path.display())))?,
            None => String::new(),
        };
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(key, _)| key.starts_with(&format!("{ENV_PREFIX}__")))
            .collect();
        Self::from_sources(&text, env, overrides)
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

    /// Checks every value, as loading does: an error lists each impossible one by key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Every impossible value, each naming its key.
    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let mut check = |ok: bool, key: &str, why: &str| {
            if !ok {
                p.push(format!("{key}: {why}"));
            }
        };
        let s = &self.schedule;
        for (key, value) in [
            ("schedule.interval", s.interval),
            ("schedule.jitter", s.jitter),
            ("schedule.run_timeout", s.run_timeout),
            ("schedule.shutdown_grace", s.shutdown_grace),
            ("probe.timeout", self.probe.timeout),
            ("probe.min_interval", self.probe.min_interval),
            ("state.retention", self.state.retention),
        ] {
            check(value <= MAX_DURATION, key, "must be at most 366 days");
        }
        check(
            !s.interval.is_zero(),
            "schedule.interval",
            "must be greater than 0",
        );
        check(
            s.jitter < s.interval || s.interval.is_zero(),
            "schedule.jitter",
            "must be less than schedule.interval",
        );
        check(
            !s.run_timeout.is_zero(),
            "schedule.run_timeout",
            "must be greater than 0",
        );
        let w = &self.workload;
        check(
            !w.backends.is_empty(),
            "workload.backends",
            "must name at least one of process, thread",
        );
        check(
            !w.sync.is_empty(),
            "workload.sync",
            "must name at least one of none, lock, ordered",
        );
        if let Workers::List(sizes) = &w.workers {
            check(
                !sizes.is_empty(),
                "workload.workers",
                "must list at least one pool size, or be \"auto\"",
            );
            check(
                sizes.iter().all(|&n| (1..=MAX_WORKERS).contains(&n)),
                "workload.workers",
                &format!("every pool size must be between 1 and {MAX_WORKERS}"),
            );
        }
        check(
            (1..=MAX_REPEATS).contains(&w.repeats),
            "workload.repeats",
            &format!("must be between 1 and {MAX_REPEATS}"),
        );
        check(
            s.max_duty_cycle > 0.0 && s.max_duty_cycle <= 1.0,
            "schedule.max_duty_cycle",
            "must be above 0 and at most 1 (one whole CPU)",
        );
        check(
            (1..=MAX_CONNECTIONS).contains(&self.web.max_connections),
            "web.max_connections",
            &format!("must be between 1 and {MAX_CONNECTIONS}"),
        );
        let a = &self.analysis;
        check(
            (4..=1000).contains(&a.window),
            "analysis.window",
            "must be between 4 and 1000 sweeps",
        );
        check(
            (a.window..=MAX_HISTORY).contains(&a.history),
            "analysis.history",
            &format!("must be between analysis.window and {MAX_HISTORY} sweeps"),
        );
        check(
            (1..=MAX_FIT_SWEEPS).contains(&a.fit_sweeps),
            "analysis.fit_sweeps",
            &format!("must be between 1 and {MAX_FIT_SWEEPS} sweeps"),
        );
        for (key, value) in [
            ("analysis.max_cv", a.max_cv),
            ("analysis.max_throttled_ratio", a.max_throttled_ratio),
            ("analysis.max_steal_ratio", a.max_steal_ratio),
            ("analysis.max_pvalue", a.max_pvalue),
            ("analysis.min_magnitude", a.min_magnitude),
        ] {
            check((0.0..=1.0).contains(&value), key, "must be between 0 and 1");
        }
        check(
            (1..=MAX_LINES).contains(&w.lines),
            "workload.lines",
            &format!("must be between 1 and {MAX_LINES}"),
        );
        let pr = &self.probe;
        check(
            (1..=MAX_WORKERS).contains(&pr.max_workers),
            "probe.max_workers",
            &format!("must be between 1 and {MAX_WORKERS}"),
        );
        check(
            (1..=MAX_LINES).contains(&pr.max_lines),
            "probe.max_lines",
            &format!("must be between 1 and {MAX_LINES}"),
        );
        check(
            !pr.timeout.is_zero(),
            "probe.timeout",
            "must be greater than 0",
        );
        check(
            self.state.retention >= Duration::from_secs(3600),
            "state.retention",
            "must be at least 1h",
        );
        p
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
pub fn sets_nothing(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#')
    })
}

/// Logs a warning if the file at `path` sets nothing.
pub fn warn_if_sets_nothing(path: &Path) {
    if std::fs::read_to_string(path).is_ok_and(|text| sets_nothing(&text)) {
        tracing::warn!(
            path = %path.display(),
            "the configuration file sets nothing: every key takes its default"
        );
    }
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
mod tests {
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
            let err = super::Config::from_toml_str(text).expect_err(text);
            assert!(err.to_string().contains(said), "{text}: {err}");
        }
    }

    #[test]
    fn only_comments_and_blank_lines_set_nothing() {
        assert!(super::sets_nothing(""));
        assert!(super::sets_nothing("# a comment\n\n   \n  # another\n"));
        assert!(!super::sets_nothing("# a comment\n[web]\n"));
    }

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn invalid(text: &str) -> Vec<String> {
        match Config::from_toml_str(text) {
            Err(ConfigError::Invalid(problems)) => problems,
            other => panic!("expected invalid config, got {other:?}"),
        }
    }

    #[test]
    fn shipped_file_documents_exactly_the_defaults() {
        assert_eq!(
            Config::from_toml_str(DEFAULT_TOML).expect("default file"),
            Config::default()
        );
        assert_eq!(Config::from_toml_str("").expect("empty"), Config::default());
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
             [schedule]\ninterval = \"0s\"\n[web]\nlisten_address = \"127.0.0.1:70000\"\n[extra]\nx = 1\n",
        );
        let joined = problems.join("\n");
        for key in [
            "workload.backends",
            "workload.lines",
            "workload.speed: unknown key",
            "web.listen_address",
            "extra: unknown section",
        ] {
            assert!(joined.contains(key), "{key} not reported in:\n{joined}");
        }
    }

    #[test]
    fn impossible_values_name_their_keys() {
        let problems = invalid(
            "[workload]\nworkers = [0]\nlines = 0\nrepeats = 0\n[schedule]\ninterval = \"0s\"\nmax_duty_cycle = 0\n\
             [state]\nretention = \"5m\"\n[analysis]\nmax_cv = 2\n",
        );
        let joined = problems.join("\n");
        for key in [
            "workload.workers",
            "workload.lines",
            "schedule.interval",
            "state.retention",
            "workload.repeats",
            "schedule.max_duty_cycle",
            "analysis.max_cv",
        ] {
            assert!(joined.contains(key), "{key} not reported in:\n{joined}");
        }
        assert!(
            invalid("[schedule]\ninterval = \"10s\"\njitter = \"10s\"\n")[0]
                .starts_with("schedule.jitter")
        );
        assert!(invalid("[workload]\nbackends = []\n")[0].starts_with("workload.backends"));
        assert!(
            invalid("[schedule]\nrun_timeout = \"1000y\"\n")[0].starts_with("schedule.run_timeout")
        );
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

    #[test]
    fn state_dir_falls_back_to_systemd_state_directory() {
        let state = State::default();
        assert_eq!(state.resolved_dir(None), None);
        assert_eq!(
            state.resolved_dir(Some("/var/lib/a:/var/lib/b")),
            Some(PathBuf::from("/var/lib/a"))
        );
        let configured = State {
            dir: "/srv/x".into(),
            ..State::default()
        };
        assert_eq!(
            configured.resolved_dir(Some("/var/lib/a")),
            Some(PathBuf::from("/srv/x"))
        );
    }

    mod properties {
        use super::super::*;
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
