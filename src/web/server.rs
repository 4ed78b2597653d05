//! The HTTP server (hyper 1.x): binds the listen address, accepts connections until a
//! shutdown future resolves, serves each one as the web config says at that moment (TLS,
//! then the [`super::routes`]), and lets open requests finish for a bounded time.

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
use tokio_rustls::TlsAcceptor;

use super::config_file::{WebConfig, WebConfigFile};
use super::routes::{self, Exporter};
use crate::config::ListenAddress;

/// A connection that has not sent a request's headers this long after opening (or after its
/// previous response) is closed.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long open requests may go on once shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How the server serves.
#[derive(Clone, Default)]
pub struct Options {
    /// Connections served at once; the rest wait in the listen backlog.
    pub max_connections: usize,
    /// The web config file (TLS, basic auth, headers), if any.
    pub web: Option<Arc<WebConfigFile>>,
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
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
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
            () = &mut shutdown => break,
        };
        let web = options.web.clone();
        let exporter = Arc::clone(&exporter);
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            accepted(stream, exporter, web, watcher).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}

/// Serves one accepted connection, over TLS when the web config has it.
async fn accepted<E: Exporter>(
    stream: tokio::net::TcpStream,
    exporter: Arc<E>,
    web: Option<Arc<WebConfigFile>>,
    watcher: Watcher,
) {
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
    let service =
        service_fn(move |req| routes::respond(Arc::clone(&exporter), config.clone(), req));
    // The timer lets hyper close connections that send no request headers in time.
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(served).await {
        tracing::debug!("connection ended with an error: {e}");
    }
}
