//! The standard `process_*` metrics of the exporter itself, read at scrape time.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus::core::{Collector, Desc};
use prometheus::process_collector::ProcessCollector;
use prometheus::proto::MetricFamily;

/// The standard `process_*` metrics, read from `/proc` at most once per [`PROCESS_MAX_AGE`]:
/// a burst of concurrent scrapes shares one reading instead of each one opening and
/// formatting five `/proc` files; any scraper slower than that still sees a fresh reading.
pub(super) struct ProcessMetrics {
    collector: ProcessCollector,
    last: Mutex<Option<(Instant, Vec<MetricFamily>)>>,
}

/// How long one reading of the process metrics serves.
const PROCESS_MAX_AGE: Duration = Duration::from_millis(100);

impl Default for ProcessMetrics {
    fn default() -> Self {
        ProcessMetrics {
            collector: ProcessCollector::for_self(),
            last: Mutex::new(None),
        }
    }
}

impl Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.collector.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match &*last {
            Some((at, families)) if at.elapsed() < PROCESS_MAX_AGE => families.clone(),
            _ => {
                let families = self.collector.collect();
                *last = Some((Instant::now(), families.clone()));
                families
            }
        }
    }
}
