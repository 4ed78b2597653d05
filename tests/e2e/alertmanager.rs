//! A real Alertmanager (Debian package `prometheus-alertmanager`) that sends every alert at
//! once to a webhook receiver in the test, which keeps the notifications it gets.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use crate::util::{http, wait_for};

/// Notifications as the webhook received them (Alertmanager's JSON bodies).
type Received = Arc<Mutex<Vec<serde_json::Value>>>;

/// An HTTP receiver on loopback that keeps each request's JSON body; stopped when dropped.
pub struct Webhook {
    /// Its `host:port`.
    pub address: String,
    received: Received,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Webhook {
    fn start() -> Webhook {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the webhook");
        listener.set_nonblocking(true).expect("non-blocking");
        let address = listener.local_addr().expect("its address").to_string();
        let received = Received::default();
        let (stop, stopped) = oneshot::channel();
        let kept = Arc::clone(&received);
        let thread = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(serve(listener, kept, stopped));
        });
        Webhook {
            address,
            received,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The notifications received so far.
    pub fn received(&self) -> Vec<serde_json::Value> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Answers every request on `listener` with 200, keeping its JSON body, until `stopped`.
async fn serve(
    listener: std::net::TcpListener,
    kept: Received,
    mut stopped: oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let kept = Arc::clone(&kept);
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let kept = Arc::clone(&kept);
            async move {
                let body = request.into_body().collect().await?.to_bytes();
                if let Ok(json) = serde_json::from_slice(&body) {
                    kept.lock().unwrap_or_else(|p| p.into_inner()).push(json);
                }
                Ok::<_, hyper::Error>(Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
            }
        });
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new();
            let _ = connection
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A running Alertmanager with no cluster, routing every alert to its [`Webhook`] after a
/// second; stopped when dropped.
pub struct Alertmanager {
    child: Child,
    /// Its `host:port`, for Prometheus' `alerting` section.
    pub address: String,
    /// Where it sends the notifications.
    pub webhook: Webhook,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts one and waits until it is ready.
    pub fn start() -> Alertmanager {
        let webhook = Webhook::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = format!(
            "route:\n  receiver: test\n  group_by: [alertname, instance]\n  group_wait: 1s\n  \
             group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: test\n    \
             webhook_configs:\n      - url: 'http://{}/'\n",
            webhook.address
        );
        let config_path = dir.path().join("alertmanager.yml");
        std::fs::write(&config_path, config).expect("write alertmanager.yml");
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(["--cluster.listen-address=", "--log.level=warn"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("alertmanager must be installed (Debian package prometheus-alertmanager)");
        let alertmanager = Alertmanager {
            child,
            address: format!("127.0.0.1:{port}"),
            webhook,
            _dir: dir,
        };
        let url = format!("http://{}/-/ready", alertmanager.address);
        assert!(
            wait_for(Duration::from_secs(20), || {
                std::net::TcpStream::connect(&alertmanager.address).is_ok()
                    && http("GET", &url, &[]).0 == 200
            }),
            "alertmanager did not become ready"
        );
        alertmanager
    }
}

impl Alertmanager {
    /// Whether the webhook has received `alert` firing, as `matches` wants it.
    pub fn notified(&self, alert: &str, matches: impl Fn(&serde_json::Value) -> bool) -> bool {
        self.webhook.received().iter().any(|notification| {
            notification["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["labels"]["alertname"] == alert && a["status"] == "firing" && matches(a))
        })
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
