//! `--web.config.file`: TLS with certificates made here (rcgen), client certificates, basic
//! authentication, extra headers, a change of the file while serving, and a real Prometheus
//! scraping over TLS with basic auth. `curl` is the client.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

use crate::util::IDLE;
use crate::util::{self, Daemon, wait_for};

/// A certificate authority, a server certificate for 127.0.0.1 and a client certificate, as
/// PEM files in a directory.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names: a leaf named as its issuer looks self-signed to OpenSSL.
        ca.distinguished_name
            .push(DnType::CommonName, "copybench test CA");
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca, &ca_key);
        let write =
            |name: &str, text: String| std::fs::write(dir.path().join(name), text).expect(name);
        write("ca.pem", ca_cert.pem());
        for (name, sans, usage) in [
            (
                "server",
                vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
                ExtendedKeyUsagePurpose::ServerAuth,
            ),
            (
                "client",
                vec!["scraper".to_owned()],
                ExtendedKeyUsagePurpose::ClientAuth,
            ),
        ] {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(sans).expect("params");
            params.extended_key_usages = vec![usage];
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.signed_by(&key, &issuer).expect("certificate");
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}-key.pem"), key.serialize_pem());
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the web config `body` (after the TLS lines) and returns its path.
    fn web_config(&self, body: &str) -> PathBuf {
        let path = self.path("web.yml");
        let text = format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n{body}",
            self.path("server.pem").display(),
            self.path("server-key.pem").display()
        );
        std::fs::write(&path, text).expect("web config");
        path
    }
}

/// `basic_auth_users` with `user` and a bcrypt hash of `password`.
fn users(user: &str, password: &str) -> String {
    let hash = bcrypt::hash(password, 4).expect("bcrypt");
    format!("basic_auth_users:\n  {user}: {hash}\n")
}

fn start(web_config: &Path) -> Daemon {
    let flag = format!("--web.config.file={}", web_config.display());
    util::start_daemon_in(tempfile::tempdir().expect("tempdir"), IDLE, &[], &[&flag])
}

/// curl's status code and headers (and whether it connected at all) for `url` with `args`.
fn curl(url: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("curl must be installed (Debian package curl)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = text.lines().last().unwrap_or_default().to_owned();
    (out.status.success(), code, text)
}

#[test]
fn tls_and_basic_auth_let_in_only_the_right_user_and_follow_the_file() {
    let pki = Pki::new();
    let config = pki.web_config(&format!(
        "{}http_server_config:\n  headers:\n    X-Frame-Options: DENY\n",
        users("alice", "s3cret")
    ));
    let daemon = start(&config);
    let https = format!("https://{}/metrics", daemon.address);
    let ca = pki.path("ca.pem").display().to_string();

    let (connected, _, _) = curl(&format!("http://{}/metrics", daemon.address), &[]);
    assert!(!connected, "plain HTTP served next to TLS");
    assert_eq!(curl(&https, &["--cacert", &ca]).1, "401");
    assert_eq!(
        curl(&https, &["--cacert", &ca, "-u", "alice:wrong"]).1,
        "401"
    );
    assert_eq!(
        curl(&https, &["--cacert", &ca, "-u", "bob:s3cret"]).1,
        "401"
    );
    let (_, code, headers) = curl(&https, &["--cacert", &ca, "-u", "alice:s3cret"]);
    assert_eq!(code, "200", "{headers}");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("x-frame-options: deny"),
        "{headers}"
    );
    let (_, code, headers) = curl(&https, &["--cacert", &ca]);
    assert!(
        headers.contains("WWW-Authenticate: Basic") || headers.contains("www-authenticate: Basic"),
        "{code} {headers}"
    );

    // The file changes (its length too): the next connections follow it.
    pki.web_config(&users("bob", "other"));
    assert!(
        wait_for(Duration::from_secs(5), || curl(
            &https,
            &["--cacert", &ca, "-u", "bob:other"]
        )
        .1 == "200"),
        "the changed file was not read"
    );
    assert_eq!(
        curl(&https, &["--cacert", &ca, "-u", "alice:s3cret"]).1,
        "401"
    );

    // A broken change is seen, refused, and the last good one kept.
    // The files are looked at once a second, by the connections that come.
    std::fs::write(&config, "tls_server_config: [").expect("break");
    assert!(
        wait_for(Duration::from_secs(5), || {
            assert_eq!(curl(&https, &["--cacert", &ca, "-u", "bob:other"]).1, "200");
            daemon
                .logs()
                .iter()
                .any(|l| l.contains("keeping the previous web config"))
        }),
        "the broken change was not read: {:?}",
        daemon.logs()
    );
}

#[test]
fn client_certificates_are_required_when_the_file_asks() {
    let pki = Pki::new();
    let config = pki.web_config(&format!(
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n  min_version: TLS13\n",
        pki.path("ca.pem").display()
    ));
    let daemon = start(&config);
    let https = format!("https://{}/-/healthy", daemon.address);
    let ca = pki.path("ca.pem").display().to_string();
    let (connected, code, _) = curl(&https, &["--cacert", &ca]);
    assert!(
        !connected || code != "200",
        "served without a client certificate"
    );
    let cert = pki.path("client.pem").display().to_string();
    let key = pki.path("client-key.pem").display().to_string();
    assert_eq!(
        curl(&https, &["--cacert", &ca, "--cert", &cert, "--key", &key]).1,
        "200"
    );
    let (connected, _, _) = curl(
        &https,
        &[
            "--cacert",
            &ca,
            "--cert",
            &cert,
            "--key",
            &key,
            "--tls-max",
            "1.2",
        ],
    );
    assert!(!connected, "TLS 1.2 accepted with min_version TLS13");
}

#[test]
fn prometheus_scrapes_over_tls_with_basic_auth() {
    let pki = Pki::new();
    let config = pki.web_config(&users("prometheus", "scrape-me"));
    let daemon = start(&config);
    let scrape = format!(
        "    scheme: https\n    tls_config:\n      ca_file: {}\n    basic_auth:\n      username: prometheus\n      password: scrape-me\n",
        pki.path("ca.pem").display()
    );
    let prometheus = util::start_prometheus_with(&[&daemon.address], false, &scrape);
    let scraped = wait_for(Duration::from_secs(30), || {
        !prometheus
            .vector("up{job=\"copybench\"} == 1 and on () copybench_build_info")
            .is_empty()
    });
    assert!(
        scraped,
        "Prometheus did not scrape over TLS: {:?}",
        prometheus.vector("up")
    );
}

#[test]
fn an_expired_certificate_is_served_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let cert = params.self_signed(&key).expect("certificate");
    std::fs::write(dir.path().join("old.pem"), cert.pem()).expect("cert");
    std::fs::write(dir.path().join("old-key.pem"), key.serialize_pem()).expect("key");
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: old.pem\n  key_file: old-key.pem\n",
    )
    .expect("web config");
    let flag = format!("--web.config.file={}", web.display());
    let daemon = util::start_daemon_in(dir, IDLE, &[], &[&flag]);
    assert!(
        daemon.wait_log(Duration::from_secs(10), |l| {
            l.contains("WARN")
                && l.contains("the certificate is not valid now")
                && l.contains("old.pem")
        }),
        "no warning: {:?}",
        daemon.logs()
    );
}
