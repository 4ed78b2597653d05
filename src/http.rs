//! The HTTP face of the exporter (hyper 1.x): `/metrics`, the landing page, health and
//! readiness, reload, recent runs as JSON, and the blackbox-style `/probe`.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::ListenAddress;
use crate::daemon::Daemon;
use crate::metrics;
use crate::workload::{Backend, Spec, SyncMode};

/// A connection that has not sent a request's headers this long after opening (or after its
/// previous response) is closed.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Content type of the Prometheus text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Binds the first of `address`'s candidate sockets that the host allows.
pub async fn bind(address: &ListenAddress) -> std::io::Result<TcpListener> {
    let mut error = None;
    for candidate in address.candidates() {
        match TcpListener::bind(candidate).await {
            Ok(listener) => return Ok(listener),
            Err(e) => error = Some(e),
        }
    }
    Err(error.unwrap_or_else(|| std::io::Error::other("no address to listen on")))
}

/// Accepts connections until `stop` turns true, then lets open requests finish (up to 5 s).
pub async fn serve(listener: TcpListener, daemon: Arc<Daemon>, mut stop: watch::Receiver<bool>) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors, most likely: give connections time to
                        // close instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let daemon = Arc::clone(&daemon);
                let service = service_fn(move |req| handle(Arc::clone(&daemon), req));
                // The timer lets hyper close connections that send no request headers in time.
                let connection = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("connection ended with an error: {e}");
                    }
                });
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn text(status: StatusCode, body: impl Into<String>) -> Answer {
    let mut body = body.into();
    body.push('\n');
    answer(status, "text/plain; charset=utf-8", body)
}

async fn handle(daemon: Arc<Daemon>, req: Request<Incoming>) -> Result<Answer, Infallible> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => answer(StatusCode::OK, TEXT_FORMAT, daemon.metrics.render()),
        (&Method::GET, "/") => answer(
            StatusCode::OK,
            "text/html; charset=utf-8",
            landing_page(&daemon),
        ),
        (&Method::GET, "/-/healthy") => text(StatusCode::OK, "Healthy"),
        (&Method::GET, "/-/ready") => ready(&daemon).await,
        (&Method::POST, "/-/reload") => match daemon.reload().await {
            Ok(()) => text(StatusCode::OK, "configuration reloaded"),
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        (&Method::GET, "/api/v1/runs") => match serde_json::to_vec(&daemon.recent_runs()) {
            Ok(json) => answer(StatusCode::OK, "application/json", json),
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        (&Method::GET, "/probe") => probe(&daemon, &req).await,
        (
            _,
            "/metrics" | "/" | "/-/healthy" | "/-/ready" | "/-/reload" | "/api/v1/runs" | "/probe",
        ) => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        _ => text(StatusCode::NOT_FOUND, "not found"),
    };
    Ok(response)
}

/// Ready once the configuration is loaded (it is, or the daemon would not run) and scratch
/// directories can be made in the workdir.
async fn ready(daemon: &Daemon) -> Answer {
    let workdir = daemon.config().workload.workdir();
    let checked = tokio::task::spawn_blocking(move || crate::workload::check_workdir(&workdir))
        .await
        .map_err(|e| e.to_string())
        .and_then(|result| result.map_err(|e| e.to_string()));
    match checked {
        Ok(()) => text(StatusCode::OK, "Ready"),
        Err(e) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")),
    }
}

async fn probe(daemon: &Daemon, req: &Request<Incoming>) -> Answer {
    let config = daemon.config();
    if !config.probe.enabled {
        return text(
            StatusCode::NOT_FOUND,
            "probes are disabled (probe.enabled = false)",
        );
    }
    let spec = match probe_spec(req.uri().query().unwrap_or(""), &config.probe) {
        Ok(spec) => spec,
        Err(reason) => return text(StatusCode::BAD_REQUEST, reason),
    };
    let scrape_timeout = req
        .headers()
        .get("X-Prometheus-Scrape-Timeout-Seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite());
    let mut timeout = config.probe.timeout;
    if let Some(limit) =
        scrape_timeout.and_then(|s| Duration::try_from_secs_f64((s - 0.5).max(0.1)).ok())
    {
        timeout = timeout.min(limit);
    }
    let started = Instant::now();
    let Some(record) = daemon.probe(spec, timeout).await else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "another run is in progress; try again later",
        );
    };
    match metrics::render_probe(
        &record,
        started.elapsed().as_secs_f64(),
        config.metrics.per_cpu,
    ) {
        Ok(body) => answer(StatusCode::OK, TEXT_FORMAT, body),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Parses `backend`, `sync`, `workers` and `lines` (all optional) within the configured bounds.
fn probe_spec(query: &str, bounds: &crate::config::Probe) -> Result<Spec, String> {
    let mut spec = Spec {
        backend: Backend::Thread,
        sync: SyncMode::None,
        workers: 1,
        lines: 1000.min(bounds.max_lines),
        reread: true,
    };
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let bad = |what: &str| format!("bad {key}={value:?}: {what}");
        match key.as_ref() {
            "backend" => {
                spec.backend = clap::ValueEnum::from_str(&value, false)
                    .map_err(|_| bad("expected process or thread"))?
            }
            "sync" => {
                spec.sync = clap::ValueEnum::from_str(&value, false)
                    .map_err(|_| bad("expected none, lock or ordered"))?
            }
            "workers" => {
                spec.workers = value.parse().map_err(|_| bad("expected a whole number"))?
            }
            "lines" => spec.lines = value.parse().map_err(|_| bad("expected a whole number"))?,
            "reread" => spec.reread = value.parse().map_err(|_| bad("expected true or false"))?,
            _ => {
                return Err(format!(
                    "unknown parameter {key:?}; expected backend, sync, workers, lines, reread"
                ));
            }
        }
    }
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
    Ok(spec)
}

/// Links, and the latest run of each configured combination.
fn landing_page(daemon: &Daemon) -> String {
    let config = daemon.config();
    let runs = daemon.recent_runs();
    let mut rows = String::new();
    for spec in crate::sweep::combinations(&config.workload) {
        let Some(r) = runs.iter().find(|r| r.spec() == spec) else {
            let _ = write!(
                rows,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td colspan=5>not run yet</td></tr>",
                spec.backend, spec.sync, spec.workers
            );
            continue;
        };
        let status = r.failure.as_ref().map_or("ok", |f| f.reason.as_str());
        let (seconds, disorder, cpus) =
            r.measurement
                .as_ref()
                .map_or(("-".into(), "-".into(), "-".into()), |m| {
                    (
                        format!("{:.3}", m.duration_seconds),
                        m.disorder.to_string(),
                        m.cpus_used.to_string(),
                    )
                });
        let speedup = crate::sweep::speedup(r, &runs).map_or("-".into(), |s| format!("{s:.2}x"));
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{seconds}</td><td>{speedup}</td><td>{disorder}</td><td>{cpus}</td><td>{status}</td></tr>",
            r.backend, r.sync, r.workers
        );
    }
    format!(
        "<!DOCTYPE html><html><head><title>copybench_exporter</title></head><body>\
         <h1>copybench_exporter</h1><p>version {}</p><ul>\
         <li><a href=\"metrics\">Metrics</a></li><li><a href=\"api/v1/runs\">Recent runs (JSON)</a></li>\
         <li><a href=\"probe?backend=thread&amp;sync=none&amp;workers=2&amp;lines=1000\">Probe example</a></li>\
         <li><a href=\"-/healthy\">Health</a></li><li><a href=\"-/ready\">Readiness</a></li></ul>\
         <h2>Last sweep</h2><table border=1><tr><th>backend</th><th>sync</th><th>workers</th><th>seconds</th>\
         <th>speedup</th><th>disorder</th><th>CPUs</th><th>status</th></tr>{rows}</table></body></html>\n",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Probe;

    #[test]
    fn probe_parameters_are_parsed_and_bounded() {
        let bounds = Probe::default();
        let spec = probe_spec("backend=process&sync=ordered&workers=4&lines=2000", &bounds)
            .expect("valid");
        assert_eq!(
            (spec.backend, spec.sync, spec.workers, spec.lines),
            (Backend::Process, SyncMode::Ordered, 4, 2000)
        );
        for (query, needle) in [
            ("backend=fork", "backend"),
            ("workers=0", "out of bounds"),
            ("workers=9", "probe.max_workers"),
            ("lines=20001", "probe.max_lines"),
            ("lines=x", "whole number"),
            ("colour=red", "unknown parameter"),
        ] {
            let err = probe_spec(query, &bounds).expect_err(query);
            assert!(
                err.contains(needle) && !err.contains('\n'),
                "{query}: {err}"
            );
        }
    }
}
