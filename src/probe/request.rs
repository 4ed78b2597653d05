//! What a `/probe` asks for: its parameters, their defaults and bounds, and how long its run
//! may take.

use std::time::Duration;

use serde::Deserialize;

use crate::config::Probe;
use crate::web::query;
use crate::workload::{Backend, Spec, SyncMode};

/// The query parameters of `/probe`; all optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeQuery {
    backend: Option<String>,
    sync: Option<String>,
    workers: Option<String>,
    lines: Option<String>,
    reread: Option<String>,
    debug: Option<String>,
}

/// A `/probe` request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Request {
    /// The run to make.
    pub spec: Spec,
    /// Answer with the run's account and the metrics as text (`&debug=true`).
    pub debug: bool,
}

/// The request `/probe?backend=&sync=&workers=&lines=&reread=&debug=` makes within `bounds`.
/// Defaults: one thread, no sync, 1,000 lines (or `max_lines` if lower), re-reading, no debug.
/// The error is one line naming the bad parameter.
pub fn request(query: &str, bounds: &Probe) -> Result<Request, String> {
    let q: ProbeQuery = query::parse(query)?;
    let spec = Spec {
        backend: query::value("backend", q.backend.as_deref())?.unwrap_or(Backend::Thread),
        sync: query::value("sync", q.sync.as_deref())?.unwrap_or(SyncMode::None),
        workers: query::value("workers", q.workers.as_deref())?.unwrap_or(1),
        lines: query::value("lines", q.lines.as_deref())?.unwrap_or(1000.min(bounds.max_lines)),
        reread: query::value("reread", q.reread.as_deref())?.unwrap_or(true),
    };
    if !(1..=bounds.max_workers).contains(&spec.workers) {
        return Err(format!(
            "workers={} is out of bounds 1..={} (probe.max_workers)",
            spec.workers, bounds.max_workers
        ));
    }
    if !(1..=bounds.max_lines).contains(&spec.lines) {
        return Err(format!(
            "lines={} is out of bounds 1..={} (probe.max_lines)",
            spec.lines, bounds.max_lines
        ));
    }
    let debug = query::value("debug", q.debug.as_deref())?.unwrap_or(false);
    Ok(Request { spec, debug })
}

/// How long a probe's run may take: `[probe] timeout`, lowered to the scraper's timeout
/// (Prometheus's `X-Prometheus-Scrape-Timeout-Seconds`) minus half a second for the answer.
pub fn timeout(bounds: &Probe, scrape_timeout_seconds: Option<f64>) -> Duration {
    scrape_timeout_seconds
        .filter(|s| s.is_finite())
        .and_then(|s| Duration::try_from_secs_f64((s - 0.5).max(0.1)).ok())
        .map_or(bounds.timeout, |limit| bounds.timeout.min(limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_parsed_and_bounded() {
        let bounds = Probe::default();
        let spec = |query| request(query, &bounds).map(|r| r.spec);
        let s = spec("backend=process&sync=ordered&workers=4&lines=2000").expect("valid");
        assert_eq!(
            (s.backend, s.sync, s.workers, s.lines, s.reread),
            (Backend::Process, SyncMode::Ordered, 4, 2000, true)
        );
        assert!(request("debug=true", &bounds).expect("debug").debug);
        assert!(!request("", &bounds).expect("plain").debug);
        let s = spec("").expect("defaults");
        assert_eq!((s.backend, s.workers, s.lines), (Backend::Thread, 1, 1000));
        for (query, needle) in [
            ("backend=fork", "bad backend=\"fork\""),
            ("workers=0", "out of bounds"),
            ("workers=9", "probe.max_workers"),
            ("lines=20001", "probe.max_lines"),
            ("lines=x", "bad lines=\"x\""),
            ("reread=maybe", "bad reread=\"maybe\""),
            ("colour=red", "unknown field `colour`"),
            ("debug=yes", "bad debug=\"yes\""),
        ] {
            let err = spec(query).expect_err(query);
            assert!(
                err.contains(needle) && !err.contains('\n'),
                "{query}: {err}"
            );
        }
    }

    #[test]
    fn the_scrape_timeout_lowers_the_run_timeout() {
        let bounds = Probe::default();
        assert_eq!(timeout(&bounds, None), Duration::from_secs(30));
        assert_eq!(timeout(&bounds, Some(10.0)), Duration::from_secs_f64(9.5));
        assert_eq!(timeout(&bounds, Some(0.2)), Duration::from_secs_f64(0.1));
        assert_eq!(timeout(&bounds, Some(f64::NAN)), Duration::from_secs(30));
        assert_eq!(timeout(&bounds, Some(100.0)), Duration::from_secs(30));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A query string: known and unknown names, plausible and odd values, encodings.
        fn query() -> impl Strategy<Value = String> {
            let name = prop_oneof![
                Just("backend"),
                Just("sync"),
                Just("workers"),
                Just("lines"),
                Just("reread"),
                Just("debug"),
                Just("colour"),
                Just(""),
            ];
            let value = prop_oneof![
                "[0-9]{0,22}",
                "-[0-9]{1,5}",
                "(process|thread|none|lock|ordered|true|false)",
                "%[0-9A-Fa-f]{2}",
                "[ -~]{0,12}",
            ];
            proptest::collection::vec((name, value), 0..8).prop_map(|pairs| {
                pairs
                    .iter()
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect::<Vec<_>>()
                    .join("&")
            })
        }

        proptest! {
            #[test]
            fn any_query_is_refused_in_one_line_or_kept_within_bounds(
                q in prop_oneof![query(), "[ -~]{0,64}"],
            ) {
                let bounds = Probe::default();
                match request(&q, &bounds) {
                    Ok(r) => {
                        prop_assert!((1..=bounds.max_workers).contains(&r.spec.workers));
                        prop_assert!((1..=bounds.max_lines).contains(&r.spec.lines));
                    }
                    Err(why) => prop_assert!(!why.is_empty() && !why.contains('\n'), "{why}"),
                }
            }
        }
    }
}
