//! `--web.config.file`: TLS, basic authentication and response headers, in the Prometheus
//! exporter-toolkit's YAML format, so that one file serves every exporter of a fleet. The file
//! is read at start (a bad one stops the daemon, naming the key) and again whenever it changes
//! (a bad change is logged and the previous one kept).

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use base64::Engine;
use hyper::header::{HeaderName, HeaderValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use serde::Deserialize;

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
struct RawTls {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
    #[serde(default)]
    cipher_suites: Vec<String>,
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
    /// User names and their bcrypt hashes; empty: no authentication.
    users: BTreeMap<String, String>,
    /// Keyed digests of credentials that passed bcrypt, so a scrape every few seconds does
    /// not pay for bcrypt every time.
    verified: Mutex<HashSet<u64>>,
    keys: RandomState,
    /// The files the TLS configuration was read from (certificate, key, client CA), watched
    /// with the file itself so that a renewed certificate is taken up.
    files: Vec<PathBuf>,
    /// A hash checked for unknown users, at the users' highest cost, so that they take as long
    /// to refuse as known ones; made at the first unknown user.
    dummy: OnceLock<String>,
}

/// The most credentials remembered as verified.
const MAX_VERIFIED: usize = 1024;

impl WebConfig {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let error = |problem: String| WebConfigError {
            path: path.to_owned(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        let raw: Raw = if text.trim().is_empty() {
            Raw::default()
        } else {
            serde_norway::from_str(&text).map_err(|e| error(e.to_string()))?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let files = raw
            .tls_server_config
            .iter()
            .flat_map(|t| {
                [
                    Some(&t.cert_file),
                    Some(&t.key_file),
                    t.client_ca_file.as_ref(),
                ]
            })
            .flatten()
            .map(|file| base.join(file))
            .collect();
        let tls = raw
            .tls_server_config
            .map(|t| tls(&t, base).map(Arc::new))
            .transpose()
            .map_err(error)?;
        let headers = raw
            .http_server_config
            .map(|h| h.headers)
            .unwrap_or_default()
            .into_iter()
            .map(|(name, value)| {
                let key = format!("http_server_config.headers.{name}");
                Ok((
                    HeaderName::try_from(name.as_str())
                        .map_err(|e| format!("{key}: not a header name: {e}"))?,
                    HeaderValue::try_from(value.as_str())
                        .map_err(|e| format!("{key}: not a header value: {e}"))?,
                ))
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(error)?;
        for (user, hash) in &raw.basic_auth_users {
            hash.parse::<bcrypt::HashParts>()
                .map_err(|e| error(format!("basic_auth_users.{user}: not a bcrypt hash: {e}")))?;
        }
        Ok(WebConfig {
            tls,
            headers,
            users: raw.basic_auth_users,
            verified: Mutex::new(HashSet::new()),
            keys: RandomState::new(),
            files,
            dummy: OnceLock::new(),
        })
    }

    /// The hash an unknown user's password is checked against: as costly as the dearest
    /// user's (`$2y$COST$...`).
    fn dummy_hash(&self) -> &str {
        self.dummy.get_or_init(|| {
            let cost = self
                .users
                .values()
                .filter_map(|hash| hash.split('$').nth(2)?.parse::<u32>().ok())
                .max()
                .unwrap_or(bcrypt::DEFAULT_COST);
            bcrypt::hash("copybench", cost).unwrap_or_else(|e| {
                tracing::warn!("no hash for unknown users (cost {cost}): {e}");
                String::new()
            })
        })
    }

    /// Whether `authorization` carries credentials already verified: a check that needs no
    /// bcrypt.
    pub fn remembered(&self, authorization: Option<&[u8]>) -> bool {
        authorization
            .and_then(basic_credentials)
            .is_some_and(|(user, password)| {
                let digest = self.keys.hash_one((&user, &password));
                let verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
                verified.contains(&digest)
            })
    }

    /// Whether requests must authenticate (the file has `basic_auth_users`).
    pub fn requires_auth(&self) -> bool {
        !self.users.is_empty()
    }

    /// Whether a request with the `Authorization` header `authorization` may be served:
    /// always without users, else only with a user's name and password (`Basic`).
    pub fn authorized(&self, authorization: Option<&[u8]>) -> bool {
        if self.users.is_empty() {
            return true;
        }
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return false;
        };
        let digest = self.keys.hash_one((&user, &password));
        if self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&digest)
        {
            return true;
        }
        let hash = self.users.get(&user);
        // An unknown user costs one bcrypt check too.
        let ok = bcrypt::verify(&password, hash.map_or(self.dummy_hash(), String::as_str))
            .unwrap_or(false)
            && hash.is_some();
        if ok {
            let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if verified.len() >= MAX_VERIFIED {
                verified.clear();
            }
            verified.insert(digest);
        }
        ok
    }
}

/// The user name and password of a `Basic` authorization header.
fn basic_credentials(header: &[u8]) -> Option<(String, String)> {
    // The scheme's name is case-insensitive (RFC 7235).
    let (scheme, encoded) = std::str::from_utf8(header).ok()?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// The TLS server configuration of `t`, its relative paths taken from `base`; the error
/// names the key.
fn tls(t: &RawTls, base: &Path) -> Result<ServerConfig, String> {
    let key_of = |k: &str| format!("tls_server_config.{k}");
    let file = |k: &str, p: &Path| -> Result<PathBuf, String> {
        let path = base.join(p);
        std::fs::metadata(&path)
            .map(|_| path.clone())
            .map_err(|e| format!("{}: {}: {e}", key_of(k), path.display()))
    };
    let cert_path = file("cert_file", &t.cert_file)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|certs| certs.collect())
        .map_err(|e| format!("{}: {e}", key_of("cert_file")))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate in the file",
            key_of("cert_file")
        ));
    }
    let key_path = file("key_file", &t.key_file)?;
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("{}: {e}", key_of("key_file")))?;

    let mut provider = rustls::crypto::ring::default_provider();
    if !t.cipher_suites.is_empty() {
        let all = provider.cipher_suites.clone();
        let mut chosen: Vec<_> = all
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS13)
            .copied()
            .collect();
        for (i, name) in t.cipher_suites.iter().enumerate() {
            let suite = all
                .iter()
                .find(|s| s.suite().as_str() == Some(name.as_str()))
                .ok_or_else(|| {
                    let known: Vec<&str> = all
                        .iter()
                        .filter(|s| s.version() != &rustls::version::TLS13)
                        .filter_map(|s| s.suite().as_str())
                        .collect();
                    format!(
                        "{}[{i}]: {name} is not a supported TLS 1.2 suite (one of {})",
                        key_of("cipher_suites"),
                        known.join(", ")
                    )
                })?;
            if !chosen.contains(suite) {
                chosen.push(*suite);
            }
        }
        provider.cipher_suites = chosen;
    }
    let versions = versions(t.min_version.as_deref(), t.max_version.as_deref())?;
    let builder = ServerConfig::builder_with_provider(Arc::new(provider.clone()))
        .with_protocol_versions(&versions)
        .map_err(|e| format!("{}: {e}", key_of("min_version")))?;
    let client_auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match client_auth {
        "NoClientCert" => builder.with_no_client_auth(),
        "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert" => {
            let ca = t.client_ca_file.as_ref().ok_or_else(|| {
                format!(
                    "{}: {client_auth} needs a client_ca_file",
                    key_of("client_ca_file")
                )
            })?;
            let ca_path = file("client_ca_file", ca)?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(&ca_path)
                .map_err(|e| format!("{}: {e}", key_of("client_ca_file")))?
            {
                let cert = cert.map_err(|e| format!("{}: {e}", key_of("client_ca_file")))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: {e}", key_of("client_ca_file")))?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::new(provider));
            let verifier = if client_auth == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| format!("{}: {e}", key_of("client_ca_file")))?,
            )
        }
        other => {
            return Err(format!(
                "{}: {other:?} is not supported; use NoClientCert, VerifyClientCertIfGiven or \
                 RequireAndVerifyClientCert",
                key_of("client_auth_type")
            ));
        }
    };
    builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("{}: {e}", key_of("key_file")))
}

/// The protocol versions between `min` and `max` (Go's names: TLS10 .. TLS13); TLS 1.0 and
/// 1.1 are not offered, so a lower minimum means TLS 1.2.
fn versions(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let rank = |key: &str, v: &str| match v {
        "TLS10" => Ok(10),
        "TLS11" => Ok(11),
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        other => Err(format!(
            "tls_server_config.{key}: {other:?} is not one of TLS10, TLS11, TLS12, TLS13"
        )),
    };
    let low = min
        .map(|v| rank("min_version", v))
        .transpose()?
        .unwrap_or(12);
    let high = max
        .map(|v| rank("max_version", v))
        .transpose()?
        .unwrap_or(13);
    let chosen: Vec<&'static SupportedProtocolVersion> =
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(n, _)| (low..=high).contains(n))
            .map(|(_, v)| v)
            .collect();
    if chosen.is_empty() {
        return Err(format!(
            "tls_server_config.max_version: no version between {} and {} is offered (TLS12, TLS13)",
            min.unwrap_or("TLS12"),
            max.unwrap_or("TLS13")
        ));
    }
    Ok(chosen)
}

/// The web configuration file, read again when it or a file it names changes.
pub struct WebConfigFile {
    path: PathBuf,
    current: Mutex<(Stamps, Arc<WebConfig>)>,
}

/// What tells a change of a file: its modification time and length (two writes within one
/// clock tick share a time, rarely a length too); `None` for one that cannot be read.
type Stamps = Vec<Option<(SystemTime, u64)>>;

impl WebConfigFile {
    /// Reads the file at `path`; an error stops the caller.
    pub fn open(path: &Path) -> Result<WebConfigFile, WebConfigError> {
        let config = WebConfig::load(path)?;
        Ok(WebConfigFile {
            path: path.to_owned(),
            current: Mutex::new((stamps(path, &config), Arc::new(config))),
        })
    }

    /// The configuration in force: the file's, read again if it changed since; a change
    /// that does not load is logged and the previous configuration kept.
    pub fn current(&self) -> Arc<WebConfig> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let now = stamps(&self.path, &current.1);
        if now != current.0 {
            current.0 = now;
            match WebConfig::load(&self.path) {
                Ok(config) => {
                    tracing::info!(path = %self.path.display(), "web config reloaded");
                    current.0 = stamps(&self.path, &config);
                    current.1 = Arc::new(config);
                }
                Err(e) => tracing::error!("{e}; keeping the previous web config"),
            }
        }
        Arc::clone(&current.1)
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
    fn basic_auth_takes_the_right_password_only_and_remembers_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let config =
            load(dir.path(), &format!("basic_auth_users:\n  alice: {hash}\n")).expect("load");
        let header = |user: &str, password: &str| {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {token}")
        };
        assert!(!config.authorized(None));
        assert!(!config.authorized(Some(header("alice", "wrong").as_bytes())));
        assert!(!config.authorized(Some(header("bob", "s3cret").as_bytes())));
        assert!(!config.authorized(Some(b"Bearer x")));
        // The unknown user was checked against a hash as costly as alice's.
        assert!(
            config.dummy_hash().starts_with("$2b$04$"),
            "{}",
            config.dummy_hash()
        );
        let right = header("alice", "s3cret");
        assert!(!config.remembered(Some(right.as_bytes())));
        assert!(config.authorized(Some(right.as_bytes())));
        assert_eq!(config.verified.lock().expect("cache").len(), 1);
        assert!(config.remembered(Some(right.as_bytes())));
        assert!(!config.remembered(Some(header("alice", "wrong").as_bytes())));
        assert!(config.authorized(Some(right.as_bytes())));
        // The scheme's name in any case, as Go's BasicAuth takes it.
        let lower = right.replacen("Basic", "basic", 1);
        assert!(config.authorized(Some(lower.as_bytes())));
        assert!(load(dir.path(), "").expect("open").authorized(None));
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
