//! What the daemon answers over HTTP: each endpoint one call on its parts, the history's reads
//! on the blocking pool.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::Daemon;
use crate::probe::Context;
use crate::record::unix_now;
use crate::render::{page, report};
use crate::results::StoreError;
use crate::web::{Body, Exporter, Probed, Refusal, query};

/// How long a request waits for the blocking work it asked for (history reads) before it is
/// answered 503: the blocking threads may all be busy when the system refuses more.
const BLOCKING_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers of the runs API made at once: each holds its runs and their JSON (about 12 MB for
/// 10,000 runs) while it is made, so a flood of requests takes them in turn.
static RUNS_ANSWERS: Semaphore = Semaphore::const_new(2);

impl Daemon {
    /// Runs `f` on the blocking pool (history reads and writes) within [`BLOCKING_TIMEOUT`];
    /// a task that panicked becomes a 500, one that did not finish in time a 503.
    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Daemon) -> T + Send + 'static,
    ) -> Result<T, Refusal> {
        let daemon = Arc::clone(self);
        let task = tokio::task::spawn_blocking(move || f(&daemon));
        match tokio::time::timeout(BLOCKING_TIMEOUT, task).await {
            Ok(done) => done.map_err(|e| Refusal::Failed(format!("task failed: {e}"))),
            Err(_) => Err(Refusal::Unavailable(format!(
                "no thread was free for the request within {BLOCKING_TIMEOUT:?}; try again"
            ))),
        }
    }
}

impl Exporter for Daemon {
    fn metrics(self: Arc<Self>, gzip: bool) -> (Body, bool) {
        self.exposition.scrape(gzip)
    }

    async fn landing_page(self: Arc<Self>) -> Result<String, Refusal> {
        self.blocking(|daemon| {
            let setup = daemon.setup();
            let a = &setup.config.analysis;
            let results = daemon.results();
            let snapshot = results.snapshot(&setup.specs, a.max_cv, a.fit_sweeps)?;
            let histories = snapshot
                .series
                .iter()
                .map(|s| Ok((s.spec, results.series(&s.spec, page::HISTORY)?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(page::landing_page(&snapshot, &histories, unix_now()))
        })
        .await?
        .map_err(|e: StoreError| Refusal::Failed(e.to_string()))
    }

    async fn runs(self: Arc<Self>, query: &str) -> Result<Vec<u8>, Refusal> {
        let filter = query::run_filter(query).map_err(Refusal::BadRequest)?;
        let _turn = tokio::time::timeout(BLOCKING_TIMEOUT, RUNS_ANSWERS.acquire())
            .await
            .map_err(|_| {
                Refusal::Unavailable(format!(
                    "other answers of the runs API were being made for {BLOCKING_TIMEOUT:?}; try again"
                ))
            })?
            .map_err(|e| Refusal::Failed(e.to_string()))?;
        // Ten thousand runs are megabytes of JSON: made off the async threads too.
        self.blocking(move |daemon| {
            let runs = daemon.results().runs(&filter)?;
            Ok(serde_json::to_vec(&runs)?)
        })
        .await?
        .map_err(|e: Box<dyn std::error::Error + Send + Sync>| Refusal::Failed(e.to_string()))
    }

    async fn changes(self: Arc<Self>, query: &str) -> Result<Vec<u8>, Refusal> {
        let filter = query::run_filter(query).map_err(Refusal::BadRequest)?;
        serde_json::to_vec(&self.results().changes(&filter))
            .map_err(|e| Refusal::Failed(e.to_string()))
    }

    async fn alerts(self: Arc<Self>) -> Result<Vec<u8>, Refusal> {
        // Each alert's causes are read from the history: off the async threads.
        self.blocking(|daemon| {
            let spans = daemon.results().alert_spans();
            let json: Vec<serde_json::Value> = spans.iter().map(report::alert_json).collect();
            serde_json::to_vec(&json)
        })
        .await?
        .map_err(|e| Refusal::Failed(e.to_string()))
    }

    async fn probe(
        self: Arc<Self>,
        query: &str,
        scrape_timeout: Option<f64>,
    ) -> Result<Probed, Refusal> {
        let context = Context {
            setup: self.setup(),
            results: Arc::clone(self.results()),
            slot: Arc::clone(self.sweeper.slot()),
        };
        self.prober.answer(context, query, scrape_timeout).await
    }

    async fn reload(self: Arc<Self>) -> Result<String, Refusal> {
        if !self.live.setup().config.web.enable_reload {
            return Err(Refusal::Forbidden(
                "reloading over HTTP is off ([web] enable_reload = false); send SIGHUP instead"
                    .to_owned(),
            ));
        }
        match self.reload_and_publish().await {
            Ok(restart) if restart.is_empty() => Ok("configuration reloaded".to_owned()),
            Ok(restart) => Ok(format!(
                "configuration reloaded; {} changed and apply after a restart",
                restart.join(", ")
            )),
            Err(e) => Err(Refusal::Failed(e.to_string())),
        }
    }

    /// Ready once the configuration is loaded (it is, or the daemon would not run) and
    /// scratch directories can be made in the workdir.
    async fn ready(self: Arc<Self>) -> Result<(), Refusal> {
        self.blocking(|daemon| {
            crate::workload::check_workdir(&daemon.live.setup().config.workload.workdir())
        })
        .await?
        .map_err(|e| Refusal::Unavailable(format!("not ready: {e}")))
    }
}

impl Daemon {
    /// Reloads the configuration, then looks for change points and publishes under the
    /// result (the old configuration if the reload failed).
    pub async fn reload_and_publish(
        self: &Arc<Self>,
    ) -> Result<Vec<&'static str>, crate::config::ConfigError> {
        let result = self.live.reload().await;
        let _ = self
            .blocking(|daemon| {
                daemon.detect();
                daemon.publish();
            })
            .await;
        result
    }
}
