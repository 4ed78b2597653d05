//! The configuration in force, as blackbox_exporter's `SafeConfig`: it owns the [`Setup`]
//! built from the configuration (rebuilt when the CPUs the exporter may use change), re-reads
//! the file on SIGHUP or `POST /-/reload`, and keeps the outcome of the last reload.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::config::{self, Config, ConfigError, Overrides};
use crate::host::Capacity;
use crate::record::unix_now;
use crate::schedule::Setup;

/// How long a reload may take to read the configuration.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the configuration comes from: the file, if any, and the flags over it.
#[derive(Clone, Debug, Default)]
pub struct Source {
    /// `--config.file`.
    pub path: Option<PathBuf>,
    /// The flags that override keys.
    pub overrides: Overrides,
}

/// How the last load or reload went.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReloadStatus {
    /// Whether it succeeded.
    pub ok: bool,
    /// Unix time of the last successful load.
    pub success_at: f64,
}

/// The configuration in force and its reloads.
pub struct Live {
    setup: RwLock<Arc<Setup>>,
    source: Source,
    /// Serialises reloads.
    reloading: tokio::sync::Mutex<()>,
    status: Mutex<ReloadStatus>,
}

impl Live {
    /// Starts from `setup`, which was loaded from `source`.
    pub fn new(setup: Setup, source: Source) -> Live {
        Live {
            setup: RwLock::new(Arc::new(setup)),
            source,
            reloading: tokio::sync::Mutex::new(()),
            status: Mutex::new(ReloadStatus {
                ok: true,
                success_at: unix_now(),
            }),
        }
    }

    /// The setup in force.
    pub fn setup(&self) -> Arc<Setup> {
        Arc::clone(&self.setup.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The setup in force on a host with `capacity` now: rebuilt if the capacity changed.
    pub fn refresh(&self, capacity: Capacity) -> Arc<Setup> {
        let current = self.setup();
        if current.capacity == capacity {
            return current;
        }
        let rebuilt = Arc::new(current.with_capacity(capacity));
        let mut setup = self.setup.write().unwrap_or_else(|p| p.into_inner());
        // A reload may have replaced the configuration meanwhile: keep its.
        if Arc::ptr_eq(&setup.config, &rebuilt.config) {
            *setup = Arc::clone(&rebuilt);
        }
        Arc::clone(&setup)
    }

    /// How the last load or reload went.
    pub fn status(&self) -> ReloadStatus {
        *self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-reads the configuration (off the async runtime); a valid one applies from the next
    /// sweep, an invalid one leaves the running configuration in place. Returns the changed
    /// settings that only apply after a restart.
    pub async fn reload(&self) -> Result<Vec<&'static str>, ConfigError> {
        let _one_at_a_time = self.reloading.lock().await;
        let source = self.source.clone();
        let path = source.path.clone().unwrap_or_default();
        let task = tokio::task::spawn_blocking(move || {
            config::load(source.path.as_deref(), &source.overrides)
        });
        let loaded = match tokio::time::timeout(RELOAD_TIMEOUT, task).await {
            Ok(done) => {
                done.unwrap_or_else(|e| Err(ConfigError::Load(format!("reload task failed: {e}"))))
            }
            Err(_) => Err(ConfigError::Load(format!(
                "the configuration could not be read within {RELOAD_TIMEOUT:?}"
            ))),
        };
        let result = match loaded {
            Ok(loaded) => {
                if loaded.file_sets_nothing {
                    tracing::warn!(
                        path = %path.display(),
                        "the configuration file sets nothing: every key takes its default"
                    );
                }
                Ok(self.apply(loaded.config))
            }
            Err(e) => {
                tracing::error!("configuration reload failed, keeping the running one: {e}");
                Err(e)
            }
        };
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        status.ok = result.is_ok();
        if result.is_ok() {
            status.success_at = unix_now();
        }
        result
    }

    /// Puts `config` in force; returns the changed settings that need a restart.
    fn apply(&self, config: Config) -> Vec<&'static str> {
        let current = self.setup();
        let restart = restart_needed(&current.config, &config);
        if !restart.is_empty() {
            tracing::warn!(
                "{} changed; the new values apply after a restart",
                restart.join(", ")
            );
        }
        let setup = Setup::new(
            Arc::new(config),
            Capacity::current(),
            current.options.worker_exe.clone(),
            current.options.cancel.clone(),
        );
        *self.setup.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(setup);
        tracing::info!("configuration reloaded");
        restart
    }
}

/// The settings that changed from `old` to `new` but are read only at start-up
/// (`[web] enable_reload` is read at each request).
fn restart_needed(old: &Config, new: &Config) -> Vec<&'static str> {
    let listening = |web: &crate::config::Web| {
        (
            web.listen_address,
            web.max_connections,
            web.write_timeout,
            web.idle_timeout,
        )
    };
    [
        ("[web]", listening(&old.web) != listening(&new.web)),
        ("[state]", old.state != new.state),
        ("[metrics]", old.metrics != new.metrics),
        ("[log]", old.log != new.log),
    ]
    .into_iter()
    .filter_map(|(key, changed)| changed.then_some(key))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_start_up_settings_need_a_restart() {
        let old = Config::default();
        let mut new = old.clone();
        new.workload.lines = 10;
        new.probe.enabled = false;
        new.web.enable_reload = true;
        assert!(restart_needed(&old, &new).is_empty());
        new.metrics.per_cpu = false;
        new.log.level = crate::config::LogLevel::Debug;
        assert_eq!(restart_needed(&old, &new), ["[metrics]", "[log]"]);
    }

    #[test]
    fn the_setup_follows_the_capacity() {
        let one = Capacity {
            quota_cores: None,
            cpuset_cpus: 1,
        };
        let mut config = Config::default();
        config.workload.workers = crate::config::Workers::Auto;
        let setup = Setup::new(
            Arc::new(config),
            one,
            "/bin/true".into(),
            tokio_util::sync::CancellationToken::new(),
        );
        let live = Live::new(setup, Source::default());
        let sizes = |s: &Setup| s.specs.iter().map(|s| s.workers).max();
        assert_eq!(sizes(&live.setup()), Some(2));
        let four = Capacity {
            quota_cores: None,
            cpuset_cpus: 4,
        };
        let refreshed = live.refresh(four);
        assert_eq!(sizes(&refreshed), Some(5));
        assert!(Arc::ptr_eq(&refreshed, &live.refresh(four)), "built once");
    }
}
