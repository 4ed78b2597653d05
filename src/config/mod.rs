//! The daemon's settings: one TOML file, environment overrides and command-line flags, merged
//! in that order of precedence over built-in defaults, then checked once.
//!
//! Every problem (unknown key, wrong type, impossible value) is reported at once, each naming
//! its key, so one edit fixes a bad file. The rest of the code only ever sees a checked
//! [`Config`]. This file holds the settings' shapes and defaults; [`load`] merges the
//! sources, [`validate`] checks the values and [`values`] parses the keys that are more than
//! a number or a word.

mod file;
mod load;
mod validate;
mod values;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::analysis::{cusum, watch};
use crate::workload::{Backend, SyncMode};
pub use file::{MAX_FILE_BYTES, read_settings_file};
pub use load::{Loaded, load};
pub use values::{ListenAddress, MAX_AUTO_SIZES, Workers};

/// The documented default configuration, as shipped in `config/copybench.toml`.
pub const DEFAULT_TOML: &str = include_str!("../../config/copybench.toml");

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
    /// A connection is closed when a response makes no progress this long (its client does
    /// not read), so that stalled clients cannot hold the served connections.
    #[serde(with = "humantime_serde")]
    pub write_timeout: Duration,
    /// A connection is closed when it has not sent a whole request's headers this long after
    /// opening or after its previous response.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
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
    /// Whether every round also runs the host reference (thread, none, 1 worker on this
    /// input) when the combinations do not hold it already.
    pub reference: bool,
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
    /// Sweeps between false alarms of one workload or scaling series on unchanged noise, on
    /// average (sets their detectors' thresholds).
    pub alert_false_alarm_sweeps: u32,
    /// A workload or scaling change alerts once it has held this many sweeps...
    pub alert_sweeps: usize,
    /// ...and this long.
    #[serde(with = "humantime_serde")]
    pub alert_after: Duration,
    /// Sweeps between false alarms of the host signal on unchanged noise, on average.
    pub host_false_alarm_sweeps: u32,
    /// A change of the host signal alerts once it has held this many sweeps...
    pub host_alert_sweeps: usize,
    /// ...and this long.
    #[serde(with = "humantime_serde")]
    pub host_alert_after: Duration,
    /// A sweep whose 1-worker runs lost more than this share of their time to other tasks
    /// (CPU pressure and steal) is contended, and the detectors skip it...
    pub max_contention: f64,
    /// ...as is one whose full-width runs (one worker per CPU) lost more than this share.
    pub max_full_width_contention: f64,
    /// Contention alerts when at least this share of the sweeps of `contention_window`
    /// were contended, and ends when at most the rest were.
    pub contention_share: f64,
    /// The window contention is judged over.
    #[serde(with = "humantime_serde")]
    pub contention_window: Duration,
    /// The most confirmation sweeps after a scheduled one: while a detector suspects a
    /// change, a sweep of the suspected combinations and the single-worker ones
    /// `confirm_interval` later confirms or dismisses it instead of waiting for the next
    /// scheduled sweeps (0: none).
    pub confirm_sweeps: u32,
    /// Time from a sweep to the confirmation after it: long enough that the host's state of
    /// the minute, which a sweep's runs share, has moved on (confirmations run only while
    /// they end before the next scheduled sweep).
    #[serde(with = "humantime_serde")]
    pub confirm_interval: Duration,
    /// A detector suspects a change, and confirmations run, once its sum is past this share
    /// of its threshold: lower finds sooner for more confirmation runs.
    pub confirm_from: f64,
}

impl Analysis {
    /// The change-point detectors' settings.
    pub fn detectors(&self) -> crate::analysis::changes::Settings {
        crate::analysis::changes::Settings::new(self.window, self.max_pvalue, self.min_magnitude)
    }

    /// The node's watch's settings: its host, workload, scaling and contention detectors.
    pub fn watch(&self) -> watch::Settings {
        let defaults = watch::Settings::default();
        let relative = cusum::Settings {
            arl: f64::from(self.alert_false_alarm_sweeps),
            persistence: self.alert_sweeps,
            persistence_seconds: self.alert_after.as_secs_f64(),
            min_magnitude: self.min_magnitude,
            ..defaults.relative
        };
        let host = cusum::Settings {
            arl: f64::from(self.host_false_alarm_sweeps),
            persistence: self.host_alert_sweeps,
            persistence_seconds: self.host_alert_after.as_secs_f64(),
            min_magnitude: self.min_magnitude,
            ..defaults.host
        };
        watch::Settings {
            relative,
            host,
            max_contention: self.max_contention,
            max_full_width_contention: self.max_full_width_contention,
            contention_share: self.contention_share,
            contention_window: self.contention_window.as_secs_f64(),
            confirm_from: self.confirm_from,
            ..defaults
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
    /// Whether to export the records per CPU (`copybench_node_cpu_records{cpu}`, and with
    /// full detail `copybench_cpu_records`).
    pub per_cpu: bool,
    /// Which families `/metrics` carries.
    pub detail: Detail,
}

/// How much detail `/metrics` carries: what every dashboard panel and alert reads, or also
/// the families that only restate the summaries or grow with the host's CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Detail {
    /// What the dashboards and alerts read (the series budget in the README).
    Basic,
    /// Also the duration histograms, every point statistic and the records per CPU of
    /// each combination.
    Full,
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

impl Default for Web {
    fn default() -> Self {
        Web {
            listen_address: ListenAddress::AllInterfaces(10720),
            max_connections: 256,
            enable_reload: false,
            write_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
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
            sync: vec![SyncMode::None, SyncMode::Ordered],
            workers: Workers::List(vec![1, 2, 3, 4]),
            lines: 3_000,
            reread: true,
            repeats: 5,
            warmup: true,
            reference: true,
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
    /// The alert settings are the watch's own defaults ([`watch::Settings::default`]).
    fn default() -> Self {
        let watch = watch::Settings::default();
        let (relative, host) = (watch.relative, watch.host);
        Analysis {
            max_cv: 0.10,
            max_throttled_ratio: 0.01,
            max_steal_ratio: 0.05,
            window: 50,
            max_pvalue: 0.0001,
            min_magnitude: 0.05,
            history: 200,
            fit_sweeps: 1,
            alert_false_alarm_sweeps: relative.arl as u32,
            alert_sweeps: relative.persistence,
            alert_after: Duration::from_secs_f64(relative.persistence_seconds),
            host_false_alarm_sweeps: host.arl as u32,
            host_alert_sweeps: host.persistence,
            host_alert_after: Duration::from_secs_f64(host.persistence_seconds),
            max_contention: watch.max_contention,
            max_full_width_contention: watch.max_full_width_contention,
            contention_share: watch.contention_share,
            contention_window: Duration::from_secs_f64(watch.contention_window),
            confirm_sweeps: 3,
            confirm_interval: Duration::from_secs(60),
            confirm_from: watch.confirm_from,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            per_cpu: true,
            detail: Detail::Basic,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_file_documents_exactly_the_defaults() {
        assert_eq!(
            Config::from_toml_str(DEFAULT_TOML).expect("default file"),
            Config::default()
        );
        assert_eq!(Config::from_toml_str("").expect("empty"), Config::default());
    }

    #[test]
    fn the_default_alert_keys_are_the_watchs_defaults_and_each_key_reaches_it() {
        assert_eq!(Analysis::default().watch(), watch::Settings::default());
        let tuned = Analysis {
            alert_false_alarm_sweeps: 1_000,
            alert_sweeps: 4,
            alert_after: Duration::from_secs(60),
            host_false_alarm_sweeps: 2_000,
            host_alert_sweeps: 5,
            host_alert_after: Duration::from_secs(30),
            max_contention: 0.2,
            max_full_width_contention: 0.5,
            contention_share: 0.6,
            contention_window: Duration::from_secs(90),
            confirm_from: 0.25,
            min_magnitude: 0.1,
            ..Analysis::default()
        }
        .watch();
        let (r, h) = (tuned.relative, tuned.host);
        assert_eq!(
            (r.arl, r.persistence, r.persistence_seconds),
            (1_000.0, 4, 60.0)
        );
        assert_eq!(
            (h.arl, h.persistence, h.persistence_seconds),
            (2_000.0, 5, 30.0)
        );
        assert_eq!((r.min_magnitude, h.min_magnitude), (0.1, 0.1));
        assert_eq!(
            (
                tuned.max_contention,
                tuned.max_full_width_contention,
                tuned.contention_share,
                tuned.contention_window,
                tuned.confirm_from
            ),
            (0.2, 0.5, 0.6, 90.0, 0.25)
        );
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
}
