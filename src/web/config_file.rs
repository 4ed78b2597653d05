//! `--web.config.file`: TLS ([`super::tls`]), basic authentication ([`super::auth`]) and
//! response headers, in the Prometheus exporter-toolkit's YAML format, so that one file serves
//! every exporter of a fleet. The file is read at start (a bad one stops the daemon, naming the
//! key) and again whenever it or a file it names changes (a bad change is logged and the
//! previous one kept).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hyper::header::{HeaderName, HeaderValue};
use rustls::ServerConfig;
use serde::Deserialize;

use super::auth::BasicAuth;
use super::tls::RawTls;

/// Why the web configuration cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("web config {path}: {problem}")]
pub struct WebConfigError {
    path: PathBuf,
    problem: String,
}

/// The file, as the exporter-toolkit writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// The checked web configuration.
pub struct WebConfig {
    /// The TLS server configuration, when the file has `tls_server_config`.
    pub tls: Option<Arc<ServerConfig>>,
    /// Headers added to every response (`http_server_config.headers`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Who may make requests (`basic_auth_users`).
    pub auth: BasicAuth,
    /// The files the TLS configuration was read from (certificate, key, client CA), watched
    /// with the file itself so that a renewed certificate is taken up.
    files: Vec<PathBuf>,
}

impl WebConfig {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let error = |problem: String| WebConfigError {
            path: path.to_owned(),
            problem,
        };
        let text = crate::config::read_settings_file(path).map_err(error)?;
        let raw: Raw = if text.trim().is_empty() {
            Raw::default()
        } else {
            serde_norway::from_str(&text).map_err(|e| error(e.to_string()))?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let files = raw
            .tls_server_config
            .as_ref()
            .map(|t| t.files(base))
            .unwrap_or_default();
        let tls = raw
            .tls_server_config
            .map(|t| t.server_config(base).map(Arc::new))
            .transpose()
            .map_err(error)?;
        let headers = headers(
            raw.http_server_config
                .map(|h| h.headers)
                .unwrap_or_default(),
        )
        .map_err(error)?;
        Ok(WebConfig {
            tls,
            headers,
            auth: BasicAuth::new(raw.basic_auth_users).map_err(error)?,
            files,
        })
    }
}

/// The headers `http_server_config.headers` may set, as the exporter-toolkit allows them, and
/// the values each may take (any, when none are listed). Others could break the framing of
/// responses (`Content-Length`, `Transfer-Encoding`, `Connection`) or what they say
/// (`Content-Type`).
const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// `http_server_config.headers` as header names and values; the error names the key.
fn headers(raw: BTreeMap<String, String>) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    raw.into_iter()
        .map(|(name, value)| {
            let key = format!("http_server_config.headers.{name}");
            let Some((_, values)) = ALLOWED_HEADERS
                .iter()
                .find(|(allowed, _)| allowed.eq_ignore_ascii_case(&name))
            else {
                let allowed: Vec<&str> = ALLOWED_HEADERS.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "{key}: this header cannot be set; only {}",
                    allowed.join(", ")
                ));
            };
            if !values.is_empty() && !values.iter().any(|v| v.eq_ignore_ascii_case(&value)) {
                return Err(format!(
                    "{key}: {value:?} is not one of {}",
                    values.join(", ")
                ));
            }
            Ok((
                HeaderName::try_from(name.as_str())
                    .map_err(|e| format!("{key}: not a header name: {e}"))?,
                HeaderValue::try_from(value.as_str())
                    .map_err(|e| format!("{key}: not a header value: {e}"))?,
            ))
        })
        .collect()
}

/// The web configuration file, read again when it or a file it names changes.
pub struct WebConfigFile {
    path: PathBuf,
    current: Mutex<Checked>,
}

/// The configuration in force, the stamps of its files, and when they were last looked at.
struct Checked {
    stamps: Stamps,
    config: Arc<WebConfig>,
    at: Instant,
}

/// How long a look at the files serves: a flood of connections costs one look a second, not
/// one each.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// What tells a change of a file: its modification time and length (two writes within one
/// clock tick share a time, rarely a length too); `None` for one that cannot be read.
type Stamps = Vec<Option<(SystemTime, u64)>>;

impl WebConfigFile {
    /// Reads the file at `path`; an error stops the caller.
    pub fn open(path: &Path) -> Result<WebConfigFile, WebConfigError> {
        let config = WebConfig::load(path)?;
        Ok(WebConfigFile {
            path: path.to_owned(),
            current: Mutex::new(Checked {
                stamps: stamps(path, &config),
                config: Arc::new(config),
                at: Instant::now(),
            }),
        })
    }

    /// The configuration in force if its files were looked at within the last second: no
    /// file is touched, so it may be called on the async threads.
    pub fn recent(&self) -> Option<Arc<WebConfig>> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        (current.at.elapsed() < LOOK_EVERY).then(|| Arc::clone(&current.config))
    }

    /// The configuration in force: the file's, read again if it changed since; a change
    /// that does not load is logged and the previous configuration kept.
    pub fn current(&self) -> Arc<WebConfig> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let now = stamps(&self.path, &current.config);
        current.at = Instant::now();
        if now != current.stamps {
            current.stamps = now;
            match WebConfig::load(&self.path) {
                Ok(config) => {
                    tracing::info!(path = %self.path.display(), "web config reloaded");
                    current.stamps = stamps(&self.path, &config);
                    current.config = Arc::new(config);
                }
                Err(e) => tracing::error!("{e}; keeping the previous web config"),
            }
        }
        Arc::clone(&current.config)
    }
}

/// The stamps of the file at `path` and of the files `config` was read from.
fn stamps(path: &Path, config: &WebConfig) -> Stamps {
    std::iter::once(path)
        .chain(config.files.iter().map(PathBuf::as_path))
        .map(|file| {
            let metadata = std::fs::metadata(file).ok()?;
            Some((metadata.modified().ok()?, metadata.len()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(dir: &Path, text: &str) -> Result<WebConfig, WebConfigError> {
        let path = dir.join("web.yml");
        std::fs::write(&path, text).expect("write");
        WebConfig::load(&path)
    }

    fn certificate(dir: &Path) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        std::fs::write(dir.join("cert.pem"), cert.pem()).expect("cert");
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("key");
    }

    #[test]
    fn a_renewed_certificate_is_taken_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        certificate(dir.path());
        let path = dir.path().join("web.yml");
        let tls = "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n";
        std::fs::write(&path, tls).expect("write");
        let file = WebConfigFile::open(&path).expect("open");
        let first = file.current();
        assert!(Arc::ptr_eq(&first, &file.current()), "nothing changed");
        // Renewed in place, as cert-manager does, with the web config untouched (a longer
        // file: two writes within a clock tick share their time).
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).expect("key");
        std::fs::write(dir.path().join("cert.pem"), cert.pem() + "\n").expect("cert");
        let renewed = file.current();
        assert!(!Arc::ptr_eq(&first, &renewed), "the renewal was not read");
        assert!(Arc::ptr_eq(&renewed, &file.current()));
    }

    #[test]
    fn every_bad_value_names_its_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        certificate(dir.path());
        let tls = "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n";
        for (text, key) in [
            (
                "tls_server_config:\n  cert_file: gone.pem\n  key_file: key.pem\n",
                "tls_server_config.cert_file",
            ),
            (
                &format!("{tls}  min_version: TLS9\n"),
                "tls_server_config.min_version",
            ),
            (
                &format!("{tls}  max_version: TLS11\n"),
                "tls_server_config.max_version",
            ),
            (
                &format!("{tls}  cipher_suites: [TLS_NOPE]\n"),
                "tls_server_config.cipher_suites[0]",
            ),
            (
                &format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n"),
                "tls_server_config.client_ca_file",
            ),
            (
                &format!("{tls}  client_auth_type: Sometimes\n"),
                "tls_server_config.client_auth_type",
            ),
            (
                "basic_auth_users:\n  alice: plain\n",
                "basic_auth_users.alice",
            ),
            (
                "http_server_config:\n  headers:\n    \"Bad Name\": x\n",
                "http_server_config.headers.Bad Name",
            ),
            ("tls_server_config:\n  cert_file: cert.pem\n", "key_file"),
            (
                "http_server_config:\n  headers:\n    X-Frame-Options: allow-from\n",
                "http_server_config.headers.X-Frame-Options: \"allow-from\" is not one of deny",
            ),
            (
                "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n",
                "http_server_config.headers.X-Content-Type-Options",
            ),
            // Framing headers would put keep-alive answers out of step.
            (
                "http_server_config:\n  headers:\n    Content-Length: \"3\"\n",
                "http_server_config.headers.Content-Length: this header cannot be set",
            ),
            (
                "http_server_config:\n  headers:\n    transfer-encoding: chunked\n",
                "http_server_config.headers.transfer-encoding: this header cannot be set",
            ),
            ("colour: red\n", "colour"),
        ] {
            let err = load(dir.path(), text)
                .err()
                .unwrap_or_else(|| panic!("{text} loaded"));
            assert!(err.to_string().contains(key), "{key} not named: {err}");
        }
        let good = format!(
            "{tls}  min_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n"
        );
        assert!(load(dir.path(), &good).expect("good").tls.is_some());
        assert!(load(dir.path(), "").expect("empty").tls.is_none());
    }

    #[test]
    fn headers_that_frame_or_describe_the_response_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in [
            "Content-Length",
            "content-type",
            "Connection",
            "Transfer-Encoding",
            "Set-Cookie",
        ] {
            let text = format!("http_server_config:\n  headers:\n    {name}: \"3\"\n");
            let error = load(dir.path(), &text).err().expect("refused").to_string();
            assert!(
                error.contains(&format!(
                    "http_server_config.headers.{name}: this header cannot be set"
                )),
                "{error}"
            );
        }
        let allowed = "http_server_config:\n  headers:\n    x-frame-options: DENY\n    \
                       Strict-Transport-Security: max-age=60\n";
        assert_eq!(load(dir.path(), allowed).expect("allowed").headers.len(), 2);
    }

    #[test]
    fn basic_auth_users_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let config =
            load(dir.path(), &format!("basic_auth_users:\n  alice: {hash}\n")).expect("load");
        assert!(config.auth.required());
        assert!(!load(dir.path(), "").expect("open").auth.required());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A YAML-like text with the format's keys and odd values.
        fn text() -> impl Strategy<Value = String> {
            let key = prop_oneof![
                Just("tls_server_config"),
                Just("cert_file"),
                Just("key_file"),
                Just("client_auth_type"),
                Just("min_version"),
                Just("cipher_suites"),
                Just("http_server_config"),
                Just("headers"),
                Just("basic_auth_users"),
                Just("alice"),
                Just("X-Frame-Options"),
                Just("unknown"),
            ];
            let value = prop_oneof![
                Just(String::new()),
                Just("TLS13".to_owned()),
                Just("[a, b]".to_owned()),
                Just("cert.pem".to_owned()),
                "[ -~]{0,12}",
            ];
            let indent = prop_oneof![Just(""), Just("  "), Just("    "), Just("\t")];
            proptest::collection::vec((indent, key, value), 0..8).prop_map(|lines| {
                lines
                    .iter()
                    .map(|(i, k, v)| format!("{i}{k}: {v}\n"))
                    .collect()
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            #[test]
            fn any_text_loads_or_is_refused_in_words(text in prop_oneof![text(), "[ -~\n]{0,120}"]) {
                let dir = tempfile::tempdir().expect("tempdir");
                match load(dir.path(), &text) {
                    Ok(_) => {}
                    Err(e) => prop_assert!(e.to_string().starts_with("web config ")),
                }
            }
        }
    }
}
