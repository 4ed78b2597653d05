//! The HTTP face of the exporter (hyper 1.x): `/metrics`, the landing page, health and
//! readiness, reload, runs and change points as JSON, and the blackbox-style `/probe`. A thin
//! edge: each
//! endpoint makes one call on an [`Exporter`] and turns its answer or [`Refusal`] into a
//! response; what the calls mean is the daemon's business.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::buf::Chain;
use bytes::{Buf, Bytes};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    ALLOW, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use tokio_rustls::TlsAcceptor;

use crate::config::ListenAddress;
use crate::webconfig::{WebConfig, WebConfigFile};

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

/// Accepts connections until `stop` is cancelled, at most `max_connections` at once (the rest
/// wait in the listen backlog), then lets open requests finish (up to 5 s). With `web`, each
/// connection is served as its web configuration says at that moment: over TLS, behind basic
/// authentication, with extra headers.
pub async fn serve<E: Exporter>(
    listener: TcpListener,
    exporter: Arc<E>,
    stop: CancellationToken,
    max_connections: usize,
    web: Option<Arc<WebConfigFile>>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = stop.cancelled() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, most likely: give connections time to close
                    // instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let web = web.clone();
        let exporter = Arc::clone(&exporter);
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // The web config's files are looked at (and read again when changed) for each
            // connection, off the async threads and the accept loop.
            let config = match web {
                None => None,
                Some(web) => match tokio::task::spawn_blocking(move || web.current()).await {
                    Ok(config) => Some(config),
                    Err(e) => {
                        tracing::error!("reading the web config failed: {e}");
                        return;
                    }
                },
            };
            match config.as_ref().and_then(|c| c.tls.clone()) {
                None => connection(stream, exporter, config, watcher).await,
                Some(tls) => {
                    let handshake = TlsAcceptor::from(tls).accept(stream);
                    match tokio::time::timeout(HEADER_READ_TIMEOUT, handshake).await {
                        Ok(Ok(stream)) => connection(stream, exporter, config, watcher).await,
                        Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

/// Serves the requests of one connection over `io`.
async fn connection<E: Exporter, I>(
    io: I,
    exporter: Arc<E>,
    config: Option<Arc<WebConfig>>,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| respond(Arc::clone(&exporter), config.clone(), req));
    // The timer lets hyper close connections that send no request headers in time.
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(served).await {
        tracing::debug!("connection ended with an error: {e}");
    }
}

/// Answers `req` if the web configuration lets it in, with the configuration's headers.
async fn respond<E: Exporter>(
    exporter: Arc<E>,
    config: Option<Arc<WebConfig>>,
    req: Request<Incoming>,
) -> Result<Answer, Infallible> {
    let Some(config) = config else {
        return handle(exporter, req).await;
    };
    let allowed = if config.requires_auth() {
        let authorization = req
            .headers()
            .get(AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        if config.remembered(authorization.as_deref()) {
            true
        } else {
            // bcrypt takes tens of milliseconds: off the async threads, and one at a time, so
            // that a flood of wrong passwords holds one CPU, not every one.
            static BCRYPT: Semaphore = Semaphore::const_new(1);
            let _turn = BCRYPT.acquire().await;
            let checked = Arc::clone(&config);
            tokio::task::spawn_blocking(move || checked.authorized(authorization.as_deref()))
                .await
                .unwrap_or_else(|e| {
                    tracing::error!("the password check failed: {e}");
                    false
                })
        }
    } else {
        true
    };
    let mut response = if allowed {
        handle(exporter, req).await?
    } else {
        let mut refused = text(StatusCode::UNAUTHORIZED, "unauthorized");
        refused.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"copybench_exporter\""),
        );
        refused
    };
    for (name, value) in &config.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    Ok(response)
}

/// A response body: one buffer, or two sent one after the other without copying.
pub type Body = Chain<Bytes, Bytes>;

type Answer = Response<Full<Body>>;

fn answer(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    answer_chained(status, content_type, body.into().chain(Bytes::new()))
}

fn answer_chained(status: StatusCode, content_type: &'static str, body: Body) -> Answer {
    let mut response = Response::new(Full::new(body));
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

/// Why a request was not answered with 200.
#[derive(Debug)]
pub enum Refusal {
    /// 400: the request's parameters are wrong; the text says which.
    BadRequest(String),
    /// 404: the endpoint is switched off.
    NotFound(String),
    /// 503: the exporter cannot do it now.
    Unavailable(String),
    /// 503 with `Retry-After`: busy with another run that ends within that many seconds.
    Busy {
        /// Why.
        why: String,
        /// When to try again, in seconds.
        retry_after: u64,
    },
    /// 429 with `Retry-After`: asked again too soon.
    TooSoon {
        /// Why.
        why: String,
        /// When to try again, in seconds.
        retry_after: u64,
    },
    /// 403: switched off, or not allowed from where the request came.
    Forbidden(String),
    /// 500: it failed.
    Failed(String),
}

/// A probe's answer.
#[derive(Debug)]
pub enum Probed {
    /// Its metrics, in the text exposition format.
    Metrics(String),
    /// Its `&debug=true` account, as plain text.
    Debug(String),
}

/// What the exporter behind the HTTP edge does; every method is one domain call.
pub trait Exporter: Send + Sync + 'static {
    /// The text exposition of `/metrics`, in two parts sent one after the other.
    fn metrics(self: Arc<Self>) -> Body;
    /// The landing page's HTML.
    fn landing_page(self: Arc<Self>) -> impl Future<Output = Result<String, Refusal>> + Send;
    /// The runs that match `query`, as JSON, newest first.
    fn runs(self: Arc<Self>, query: &str) -> impl Future<Output = Result<Vec<u8>, Refusal>> + Send;
    /// The change points that match `query`, as JSON, newest first.
    fn changes(
        self: Arc<Self>,
        query: &str,
    ) -> impl Future<Output = Result<Vec<u8>, Refusal>> + Send;
    /// Runs the probe `query` asks for within the scraper's timeout.
    fn probe(
        self: Arc<Self>,
        query: &str,
        scrape_timeout_seconds: Option<f64>,
    ) -> impl Future<Output = Result<Probed, Refusal>> + Send;
    /// Re-reads the configuration; what to tell the caller.
    fn reload(self: Arc<Self>) -> impl Future<Output = Result<String, Refusal>> + Send;
    /// Whether runs can be made now.
    fn ready(self: Arc<Self>) -> impl Future<Output = Result<(), Refusal>> + Send;
}

async fn handle<E: Exporter>(
    exporter: Arc<E>,
    req: Request<Incoming>,
) -> Result<Answer, Infallible> {
    let query = req.uri().query().unwrap_or("");
    // HEAD is answered as GET; hyper leaves the body out.
    let method = match req.method() {
        &Method::HEAD => &Method::GET,
        other => other,
    };
    let result = match (method, req.uri().path()) {
        (&Method::GET, "/metrics") => Ok(answer_chained(
            StatusCode::OK,
            TEXT_FORMAT,
            exporter.metrics(),
        )),
        (&Method::GET, "/") => exporter
            .landing_page()
            .await
            .map(|page| answer(StatusCode::OK, "text/html; charset=utf-8", page)),
        (&Method::GET, "/-/healthy") => Ok(text(StatusCode::OK, "Healthy")),
        (&Method::GET, "/-/ready") => exporter
            .ready()
            .await
            .map(|()| text(StatusCode::OK, "Ready")),
        (&Method::POST, "/-/reload") if cross_site(&req) => Err(Refusal::Forbidden(
            "a reload from another site is refused".to_owned(),
        )),
        (&Method::POST, "/-/reload") => exporter
            .reload()
            .await
            .map(|said| text(StatusCode::OK, said)),
        (&Method::GET, "/api/v1/runs") => exporter
            .runs(query)
            .await
            .map(|json| answer(StatusCode::OK, "application/json", json)),
        (&Method::GET, "/api/v1/changes") => exporter
            .changes(query)
            .await
            .map(|json| answer(StatusCode::OK, "application/json", json)),
        (&Method::GET, "/probe") => {
            let scrape_timeout = req
                .headers()
                .get("X-Prometheus-Scrape-Timeout-Seconds")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<f64>().ok());
            exporter
                .probe(query, scrape_timeout)
                .await
                .map(|probed| match probed {
                    Probed::Metrics(body) => answer(StatusCode::OK, TEXT_FORMAT, body),
                    Probed::Debug(body) => {
                        answer(StatusCode::OK, "text/plain; charset=utf-8", body)
                    }
                })
        }
        (_, "/-/reload") => Ok(not_allowed("POST")),
        (
            _,
            "/metrics" | "/" | "/-/healthy" | "/-/ready" | "/api/v1/runs" | "/api/v1/changes"
            | "/probe",
        ) => Ok(not_allowed("GET, HEAD")),
        _ => Ok(text(StatusCode::NOT_FOUND, "not found")),
    };
    Ok(result.unwrap_or_else(|refusal| match refusal {
        Refusal::BadRequest(why) => text(StatusCode::BAD_REQUEST, why),
        Refusal::NotFound(why) => text(StatusCode::NOT_FOUND, why),
        Refusal::Unavailable(why) => text(StatusCode::SERVICE_UNAVAILABLE, why),
        Refusal::Busy { why, retry_after } => {
            retry(text(StatusCode::SERVICE_UNAVAILABLE, why), retry_after)
        }
        Refusal::TooSoon { why, retry_after } => {
            retry(text(StatusCode::TOO_MANY_REQUESTS, why), retry_after)
        }
        Refusal::Forbidden(why) => text(StatusCode::FORBIDDEN, why),
        Refusal::Failed(why) => text(StatusCode::INTERNAL_SERVER_ERROR, why),
    }))
}

/// `response` with `Retry-After: seconds`.
fn retry(mut response: Answer, seconds: u64) -> Answer {
    response.headers_mut().insert(RETRY_AFTER, seconds.into());
    response
}

/// Whether `req` comes from a page of another site: its `Origin` names another host than the
/// one it was sent to, or the browser says `Sec-Fetch-Site: cross-site`. State-changing
/// endpoints refuse such requests.
fn cross_site(req: &Request<Incoming>) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site") == Some("cross-site") {
        return true;
    }
    match (header("origin"), header("host")) {
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, rest)| rest) != Some(host),
        (Some(_), None) => true,
        _ => false,
    }
}

/// 405 with the methods `allow`ed.
fn not_allowed(allow: &'static str) -> Answer {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}
