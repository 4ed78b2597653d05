//! The HTTP server (hyper 1.x): binds the listen address, accepts connections until a
//! shutdown future resolves, serves each one as the web config says at that moment (TLS,
//! then the [`super::routes`]), and lets open requests finish for a bounded time. Every
//! connection has bounds in time: to send its request headers (also while idle between
//! requests) and for each write of its answer, so that clients that stall cannot hold the
//! server; a few connections beyond the cap are served one request each.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use tokio_rustls::TlsAcceptor;

use super::config_file::{WebConfig, WebConfigFile};
use super::routes::{self, Exporter};
use crate::config::{ListenAddress, Web};

/// How long open requests may go on once shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections served beyond `max_connections`, one request each within
/// [`OVERFLOW_DEADLINE`], so that health checks and scrapes are answered while every regular
/// connection is taken (by clients that stalled, until the write timeout frees them).
const OVERFLOW_CONNECTIONS: usize = 16;

/// How long an overflow connection may live, request and answer included.
const OVERFLOW_DEADLINE: Duration = Duration::from_secs(5);

/// How the server serves.
#[derive(Clone)]
pub struct Options {
    /// Connections served at once with keep-alive; [`OVERFLOW_CONNECTIONS`] more are served
    /// one request each; the rest wait in the listen backlog.
    pub max_connections: usize,
    /// A connection whose response makes no progress this long is closed.
    pub write_timeout: Duration,
    /// A connection that sends no request headers this long is closed.
    pub idle_timeout: Duration,
    /// The web config file (TLS, basic auth, headers), if any.
    pub web: Option<Arc<WebConfigFile>>,
}

impl Options {
    /// The options `[web]` gives, with the web config file `web`.
    pub fn new(config: &Web, web: Option<Arc<WebConfigFile>>) -> Options {
        Options {
            max_connections: config.max_connections,
            write_timeout: config.write_timeout,
            idle_timeout: config.idle_timeout,
            web,
        }
    }
}

/// Which lane a connection was admitted to.
enum Lane {
    /// One of `max_connections`: keep-alive.
    Regular,
    /// Beyond them: one request within [`OVERFLOW_DEADLINE`].
    Overflow,
}

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

/// Serves `exporter` on `listener` as `options` say until `shutdown` resolves, then stops
/// accepting and lets open requests finish (up to 5 s).
pub async fn serve<E: Exporter>(
    listener: TcpListener,
    exporter: Arc<E>,
    shutdown: impl Future<Output = ()>,
    options: Options,
) {
    let graceful = GracefulShutdown::new();
    let regular = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let overflow = Arc::new(Semaphore::new(OVERFLOW_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        // A lane first, so that connections beyond both wait in the listen backlog.
        let (lane, slot) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = Arc::clone(&regular).acquire_owned() => (Lane::Regular, slot),
            slot = Arc::clone(&overflow).acquire_owned() => (Lane::Overflow, slot),
        };
        let Ok(slot) = slot else { break };
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
            () = &mut shutdown => break,
        };
        let options = options.clone();
        let exporter = Arc::clone(&exporter);
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let served = accepted(stream, exporter, &options, &lane, watcher);
            match lane {
                Lane::Regular => served.await,
                Lane::Overflow => {
                    let _ = tokio::time::timeout(OVERFLOW_DEADLINE, served).await;
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}

/// Serves one accepted connection, over TLS when the web config has it; a write that makes
/// no progress for `options.write_timeout` ends it.
async fn accepted<E: Exporter>(
    stream: tokio::net::TcpStream,
    exporter: Arc<E>,
    options: &Options,
    lane: &Lane,
    watcher: Watcher,
) {
    let mut stream = TimeoutStream::new(stream);
    stream.set_write_timeout(Some(options.write_timeout));
    let stream = Box::pin(stream);
    let limits = Limits {
        idle_timeout: options.idle_timeout,
        keep_alive: matches!(lane, Lane::Regular),
    };
    // The web config's files are looked at (and read again when changed) for each
    // connection, off the async threads and the accept loop.
    let config = match options.web.clone() {
        None => None,
        Some(web) if let Some(config) = web.recent() => Some(config),
        Some(web) => match tokio::task::spawn_blocking(move || web.current()).await {
            Ok(config) => Some(config),
            Err(e) => {
                tracing::error!("reading the web config failed: {e}");
                return;
            }
        },
    };
    match config.as_ref().and_then(|c| c.tls.clone()) {
        None => connection(stream, exporter, config, &limits, watcher).await,
        Some(tls) => {
            let handshake = TlsAcceptor::from(tls).accept(stream);
            match tokio::time::timeout(limits.idle_timeout, handshake).await {
                Ok(Ok(stream)) => connection(stream, exporter, config, &limits, watcher).await,
                Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        }
    }
}

/// How one connection is served.
struct Limits {
    idle_timeout: Duration,
    keep_alive: bool,
}

/// Serves the requests of one connection over `io`.
async fn connection<E: Exporter, I>(
    io: I,
    exporter: Arc<E>,
    config: Option<Arc<WebConfig>>,
    limits: &Limits,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service =
        service_fn(move |req| routes::respond(Arc::clone(&exporter), config.clone(), req));
    // The timer lets hyper close connections that send no request headers in time, idle
    // keep-alive ones included.
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .keep_alive(limits.keep_alive)
        .serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(served).await {
        tracing::debug!("connection ended with an error: {e}");
    }
}
