//! The signals the daemon acts on, installed before it starts serving so that none arrives
//! unhandled: SIGTERM and SIGINT stop it (a second one kills a run in progress at once),
//! SIGHUP reloads the configuration.

use std::future::Future;
use std::sync::Arc;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::oneshot;

use super::Daemon;

/// The installed handlers.
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    /// Installs the handlers.
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Starts acting on signals for `daemon`; the future resolves at the first SIGTERM or
    /// SIGINT. Reloads run on their own, so that a slow one never holds up a stop.
    pub fn watch(mut self, daemon: Arc<Daemon>) -> impl Future<Output = ()> + Send + 'static {
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(async move {
            let mut stop = Some(stop);
            loop {
                tokio::select! {
                    _ = self.term.recv() => {}
                    _ = self.int.recv() => {}
                    _ = self.hup.recv() => {
                        let daemon = Arc::clone(&daemon);
                        tokio::spawn(async move { let _ = daemon.reload_and_publish().await; });
                        continue;
                    }
                }
                match stop.take() {
                    Some(first) => {
                        let _ = first.send(());
                    }
                    None => daemon.kill_now(),
                }
            }
        });
        async move {
            let _ = stopped.await;
        }
    }
}
