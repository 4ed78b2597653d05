//! The HTTP surface: `/metrics`, the landing page, health and readiness, reload, runs and
//! change points as JSON, and the blackbox-style `/probe`. A thin edge: each endpoint makes one
//! call on an [`Exporter`] and turns its answer or [`Refusal`] into a response; what the calls
//! mean is the exporter's business. Requests pass basic authentication first when the web
//! config asks for it, and every response carries the web config's headers.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::buf::Chain;
use bytes::{Buf, Bytes};
use http_body_util::Full;
use hyper::header::{
    ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue,
    RETRY_AFTER, VARY, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::config_file::WebConfig;
use super::encoding::accepts_gzip;

/// Content type of the Prometheus text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A response body: one buffer, or two sent one after the other without copying.
pub type Body = Chain<Bytes, Bytes>;

/// A response.
pub type Answer = Response<Full<Body>>;

/// Answers at least this large count against [`LARGE_ANSWERS_BYTES`].
const LARGE_ANSWER: usize = 64 * 1024;

/// The most bytes of large answers (the runs API, the landing page) held for clients at once;
/// a large answer beyond it is refused with 503, so that clients that request answers and do
/// not read them cannot make the daemon hold unbounded memory until their write timeout.
const LARGE_ANSWERS_BYTES: usize = 64 * 1024 * 1024;

/// Large answers being sent, in KiB of [`LARGE_ANSWERS_BYTES`].
static LARGE_ANSWERS: Semaphore = Semaphore::const_new(LARGE_ANSWERS_BYTES / 1024);

/// A large answer's bytes with their share of [`LARGE_ANSWERS_BYTES`]: the share is given
/// back when the last of the bytes is sent or dropped, not when the server takes them from
/// the response (it keeps them in its write queue while a client does not read).
struct Shared {
    bytes: Bytes,
    _share: SemaphorePermit<'static>,
}

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
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
    /// The text exposition of `/metrics`, in two parts sent one after the other, gzip-encoded
    /// if `gzip` asks for it and the exporter could; the second value says whether it is.
    fn metrics(self: Arc<Self>, gzip: bool) -> (Body, bool);
    /// The landing page's HTML.
    fn landing_page(self: Arc<Self>) -> impl Future<Output = Result<String, Refusal>> + Send;
    /// The runs that match `query`, as JSON, newest first.
    fn runs(self: Arc<Self>, query: &str) -> impl Future<Output = Result<Vec<u8>, Refusal>> + Send;
    /// The change points that match `query`, as JSON, newest first.
    fn changes(
        self: Arc<Self>,
        query: &str,
    ) -> impl Future<Output = Result<Vec<u8>, Refusal>> + Send;
    /// Every alert the node's watch raised, as JSON, in the order raised.
    fn alerts(self: Arc<Self>) -> impl Future<Output = Result<Vec<u8>, Refusal>> + Send;
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

/// Answers `req` if the web configuration lets it in, with the configuration's headers.
pub async fn respond<E: Exporter, B>(
    exporter: Arc<E>,
    config: Option<Arc<WebConfig>>,
    req: Request<B>,
) -> Result<Answer, Infallible> {
    let Some(config) = config else {
        return Ok(handle(exporter, &req).await);
    };
    let mut response = if authorized(&config, &req).await {
        handle(exporter, &req).await
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

/// Whether `req` passes the web config's basic authentication.
async fn authorized<B>(config: &Arc<WebConfig>, req: &Request<B>) -> bool {
    if !config.auth.required() {
        return true;
    }
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    if config.auth.remembered(authorization.as_deref()) {
        return true;
    }
    // bcrypt takes tens of milliseconds: off the async threads, and one at a time, so that a
    // flood of wrong passwords holds one CPU, not every one. The turn goes with the check, so
    // a client that hangs up does not end it while bcrypt still runs.
    static BCRYPT: Semaphore = Semaphore::const_new(1);
    let Ok(turn) = BCRYPT.acquire().await else {
        return false;
    };
    let checked = Arc::clone(config);
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        checked.auth.authorized(authorization.as_deref())
    })
    .await
    .unwrap_or_else(|e| {
        tracing::error!("the password check failed: {e}");
        false
    })
}

/// The endpoints, and the methods each takes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Endpoint {
    Metrics,
    Landing,
    Healthy,
    Ready,
    Reload,
    Runs,
    Changes,
    Alerts,
    Probe,
}

impl Endpoint {
    fn of(path: &str) -> Option<Endpoint> {
        Some(match path {
            "/metrics" => Endpoint::Metrics,
            "/" => Endpoint::Landing,
            "/-/healthy" => Endpoint::Healthy,
            "/-/ready" => Endpoint::Ready,
            "/-/reload" => Endpoint::Reload,
            "/api/v1/runs" => Endpoint::Runs,
            "/api/v1/changes" => Endpoint::Changes,
            "/api/v1/alerts" => Endpoint::Alerts,
            "/probe" => Endpoint::Probe,
            _ => return None,
        })
    }

    /// The methods it answers, as `Allow` lists them (HEAD is answered as GET).
    fn allow(self) -> &'static str {
        match self {
            Endpoint::Reload => "POST",
            _ => "GET, HEAD",
        }
    }

    fn allows(self, method: &Method) -> bool {
        match self {
            Endpoint::Reload => method == Method::POST,
            _ => method == Method::GET || method == Method::HEAD,
        }
    }
}

/// The answer to `req`.
async fn handle<E: Exporter, B>(exporter: Arc<E>, req: &Request<B>) -> Answer {
    let Some(endpoint) = Endpoint::of(req.uri().path()) else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    if !endpoint.allows(req.method()) {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(endpoint.allow()));
        return response;
    }
    let query = req.uri().query().unwrap_or("");
    let ok = |content_type, body: Vec<u8>| answer(StatusCode::OK, content_type, body);
    let result = match endpoint {
        Endpoint::Metrics => {
            let accepted = req.headers().get(ACCEPT_ENCODING);
            let (body, gzip) = exporter.metrics(accepts_gzip(accepted));
            let mut response = answer_chained(StatusCode::OK, TEXT_FORMAT, body);
            let headers = response.headers_mut();
            headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
            if gzip {
                headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            Ok(response)
        }
        Endpoint::Landing => (exporter.landing_page().await)
            .map(|page| ok("text/html; charset=utf-8", page.into_bytes())),
        Endpoint::Healthy => Ok(text(StatusCode::OK, "Healthy")),
        Endpoint::Ready => (exporter.ready().await).map(|()| text(StatusCode::OK, "Ready")),
        Endpoint::Reload if cross_site(req) => Err(Refusal::Forbidden(
            "a reload from another site is refused".to_owned(),
        )),
        Endpoint::Reload => (exporter.reload().await).map(|said| text(StatusCode::OK, said)),
        Endpoint::Runs => (exporter.runs(query).await).map(|json| ok("application/json", json)),
        Endpoint::Changes => {
            (exporter.changes(query).await).map(|json| ok("application/json", json))
        }
        Endpoint::Alerts => (exporter.alerts().await).map(|json| ok("application/json", json)),
        Endpoint::Probe => {
            let scrape_timeout = req
                .headers()
                .get("X-Prometheus-Scrape-Timeout-Seconds")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<f64>().ok());
            (exporter.probe(query, scrape_timeout).await).map(|probed| match probed {
                Probed::Metrics(body) => ok(TEXT_FORMAT, body.into_bytes()),
                Probed::Debug(body) => ok("text/plain; charset=utf-8", body.into_bytes()),
            })
        }
    };
    result.unwrap_or_else(refused)
}

/// The response that says why.
fn refused(refusal: Refusal) -> Answer {
    let retry = |mut response: Answer, seconds: u64| {
        response.headers_mut().insert(RETRY_AFTER, seconds.into());
        response
    };
    match refusal {
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
    }
}

/// An answer of `body`; a large one takes its share of [`LARGE_ANSWERS_BYTES`] or is refused.
fn answer(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut body: Bytes = body.into();
    if body.len() >= LARGE_ANSWER {
        let kib = u32::try_from(body.len().div_ceil(1024)).unwrap_or(u32::MAX);
        match LARGE_ANSWERS.try_acquire_many(kib) {
            Ok(share) => {
                body = Bytes::from_owner(Shared {
                    bytes: body,
                    _share: share,
                })
            }
            Err(_) => {
                return refused(Refusal::Busy {
                    why: "too many large answers are waiting for their clients to read them"
                        .to_owned(),
                    retry_after: 1,
                });
            }
        }
    }
    answer_chained(status, content_type, body.chain(Bytes::new()))
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

/// Whether `req` comes from a page of another site: its `Origin` names another host than the
/// one it was sent to, or the browser says `Sec-Fetch-Site: cross-site`. State-changing
/// endpoints refuse such requests.
fn cross_site<B>(req: &Request<B>) -> bool {
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

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    /// An exporter whose answers say which call made them, refusing as the query asks
    /// (`?refuse=busy` and so on).
    struct Echo;

    fn by_query(query: &str, what: &str) -> Result<Vec<u8>, Refusal> {
        let why = || format!("{what} refused");
        match query {
            "refuse=bad" => Err(Refusal::BadRequest(why())),
            "refuse=busy" => Err(Refusal::Busy {
                why: why(),
                retry_after: 1,
            }),
            "refuse=soon" => Err(Refusal::TooSoon {
                why: why(),
                retry_after: 7,
            }),
            "refuse=off" => Err(Refusal::NotFound(why())),
            "big" => Ok(vec![b'x'; 16 * 1024 * 1024]),
            _ => Ok(format!("{what}:{query}").into_bytes()),
        }
    }

    impl Exporter for Echo {
        fn metrics(self: Arc<Self>, gzip: bool) -> (Body, bool) {
            let first: &'static [u8] = if gzip { b"gz " } else { b"a 1\n" };
            (
                Bytes::from_static(first).chain(Bytes::from_static(b"b 2\n")),
                gzip,
            )
        }
        async fn landing_page(self: Arc<Self>) -> Result<String, Refusal> {
            Ok("<html>".to_owned())
        }
        async fn runs(self: Arc<Self>, query: &str) -> Result<Vec<u8>, Refusal> {
            by_query(query, "runs")
        }
        async fn changes(self: Arc<Self>, query: &str) -> Result<Vec<u8>, Refusal> {
            by_query(query, "changes")
        }
        async fn alerts(self: Arc<Self>) -> Result<Vec<u8>, Refusal> {
            by_query("", "alerts")
        }
        async fn probe(
            self: Arc<Self>,
            query: &str,
            timeout: Option<f64>,
        ) -> Result<Probed, Refusal> {
            let body = by_query(query, &format!("probe({timeout:?})"))?;
            Ok(Probed::Metrics(String::from_utf8_lossy(&body).into_owned()))
        }
        async fn reload(self: Arc<Self>) -> Result<String, Refusal> {
            Err(Refusal::Forbidden("reload is off".to_owned()))
        }
        async fn ready(self: Arc<Self>) -> Result<(), Refusal> {
            Err(Refusal::Unavailable("not ready".to_owned()))
        }
    }

    async fn ask(method: Method, uri: &str, headers: &[(&str, &str)]) -> (Answer, String) {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(()).expect("request");
        let mut answer = respond(Arc::new(Echo), None, request)
            .await
            .expect("infallible");
        let body = answer.body_mut().collect().await.expect("body").to_bytes();
        (answer, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn metrics_are_gzip_encoded_when_the_request_accepts_it() {
        for (accepted, gzip) in [("identity, gzip", true), ("gzip;q=0", false)] {
            let (answer, body) =
                ask(Method::GET, "/metrics", &[("accept-encoding", accepted)]).await;
            assert_eq!(body.starts_with("gz "), gzip, "{accepted:?}");
            assert_eq!(
                answer.headers().get(CONTENT_ENCODING).map(|v| v.as_bytes()),
                gzip.then_some(&b"gzip"[..]),
                "{accepted:?}"
            );
        }
    }

    #[tokio::test]
    async fn each_endpoint_makes_its_call_and_says_what_it_got() {
        let (answer, body) = ask(Method::GET, "/metrics", &[]).await;
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(answer.headers()[CONTENT_TYPE], TEXT_FORMAT);
        assert_eq!(body, "a 1\nb 2\n", "both buffers, in order");
        assert_eq!(answer.headers()[VARY], "Accept-Encoding");
        assert!(answer.headers().get(CONTENT_ENCODING).is_none());
        let (answer, body) = ask(Method::GET, "/api/v1/runs?backend=x", &[]).await;
        assert_eq!(answer.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(body, "runs:backend=x");
        let (_, body) = ask(Method::GET, "/api/v1/changes?limit=1", &[]).await;
        assert_eq!(body, "changes:limit=1");
        let (_, body) = ask(Method::GET, "/api/v1/alerts", &[]).await;
        assert_eq!(body, "alerts:");
        let header = [("X-Prometheus-Scrape-Timeout-Seconds", "2.5")];
        let (_, body) = ask(Method::GET, "/probe?workers=2", &header).await;
        assert_eq!(body, "probe(Some(2.5)):workers=2");
        let (answer, body) = ask(Method::GET, "/-/healthy", &[]).await;
        assert_eq!(
            (answer.status(), body.as_str()),
            (StatusCode::OK, "Healthy\n")
        );
        let (answer, body) = ask(Method::GET, "/", &[]).await;
        assert_eq!((answer.status(), body.as_str()), (StatusCode::OK, "<html>"));
    }

    #[tokio::test]
    async fn refusals_become_their_status_codes_with_retry_after() {
        for (uri, status, retry) in [
            ("/api/v1/runs?refuse=bad", StatusCode::BAD_REQUEST, None),
            (
                "/probe?refuse=busy",
                StatusCode::SERVICE_UNAVAILABLE,
                Some("1"),
            ),
            (
                "/probe?refuse=soon",
                StatusCode::TOO_MANY_REQUESTS,
                Some("7"),
            ),
            ("/probe?refuse=off", StatusCode::NOT_FOUND, None),
            ("/-/ready", StatusCode::SERVICE_UNAVAILABLE, None),
            ("/nowhere", StatusCode::NOT_FOUND, None),
        ] {
            let (answer, body) = ask(Method::GET, uri, &[]).await;
            assert_eq!(answer.status(), status, "{uri}: {body}");
            assert_eq!(
                answer
                    .headers()
                    .get(RETRY_AFTER)
                    .map(|v| v.to_str().expect("ascii")),
                retry,
                "{uri}"
            );
            assert!(body.ends_with('\n') && body.len() > 1, "{uri}: {body:?}");
        }
    }

    #[tokio::test]
    async fn large_answers_held_for_clients_are_bounded_and_the_bound_freed_when_sent() {
        let request = || {
            Request::builder()
                .uri("/api/v1/runs?big")
                .body(())
                .expect("request")
        };
        let mut held = Vec::new();
        for _ in 0..LARGE_ANSWERS_BYTES / (16 * 1024 * 1024) {
            let answer = respond(Arc::new(Echo), None, request())
                .await
                .expect("answer");
            assert_eq!(answer.status(), StatusCode::OK);
            held.push(answer);
        }
        let refused = respond(Arc::new(Echo), None, request())
            .await
            .expect("answer");
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()[RETRY_AFTER], "1");
        let (_, small) = ask(Method::GET, "/-/healthy", &[]).await;
        assert_eq!(small, "Healthy\n", "small answers are not held back");
        drop(held);
        let again = respond(Arc::new(Echo), None, request())
            .await
            .expect("answer");
        assert_eq!(again.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn wrong_methods_get_405_with_allow_and_head_is_answered_as_get() {
        for (method, uri, allow) in [
            (Method::POST, "/metrics", "GET, HEAD"),
            (Method::DELETE, "/probe", "GET, HEAD"),
            (Method::PUT, "/", "GET, HEAD"),
            (Method::GET, "/-/reload", "POST"),
        ] {
            let (answer, _) = ask(method.clone(), uri, &[]).await;
            assert_eq!(
                answer.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {uri}"
            );
            assert_eq!(answer.headers()[ALLOW], allow, "{method} {uri}");
        }
        let (answer, _) = ask(Method::HEAD, "/api/v1/runs", &[]).await;
        assert_eq!(answer.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_reload_from_another_site_is_refused_before_the_exporter_sees_it() {
        let (answer, body) = ask(Method::POST, "/-/reload", &[]).await;
        assert_eq!(
            (answer.status(), body.as_str()),
            (StatusCode::FORBIDDEN, "reload is off\n")
        );
        for headers in [
            &[("Origin", "http://evil.example"), ("Host", "127.0.0.1:1")][..],
            &[("Sec-Fetch-Site", "cross-site")][..],
            &[("Origin", "http://127.0.0.1:1")][..],
        ] {
            let (answer, body) = ask(Method::POST, "/-/reload", headers).await;
            assert_eq!(answer.status(), StatusCode::FORBIDDEN);
            assert!(body.contains("another site"), "{headers:?}: {body}");
        }
        let same = [("Origin", "http://127.0.0.1:1"), ("Host", "127.0.0.1:1")];
        let (_, body) = ask(Method::POST, "/-/reload", &same).await;
        assert_eq!(
            body, "reload is off\n",
            "the same site reaches the exporter"
        );
    }
}
