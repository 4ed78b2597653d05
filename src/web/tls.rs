//! `tls_server_config` of the web config file as a rustls server configuration: certificate
//! and key, TLS versions (Go's names), TLS 1.2 cipher suites, and client certificates. Every
//! error names its key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{WantsServerCert, WebPkiClientVerifier};
use rustls::{ConfigBuilder, RootCertStore, ServerConfig, SupportedProtocolVersion};
use serde::Deserialize;

/// `tls_server_config`, as the exporter-toolkit writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
    #[serde(default)]
    cipher_suites: Vec<String>,
}

/// `tls_server_config.KEY`, for errors.
fn key_of(key: &str) -> String {
    format!("tls_server_config.{key}")
}

impl RawTls {
    /// The files it names, relative paths taken from `base`.
    pub fn files(&self, base: &Path) -> Vec<PathBuf> {
        [
            Some(&self.cert_file),
            Some(&self.key_file),
            self.client_ca_file.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|file| base.join(file))
        .collect()
    }

    /// The TLS server configuration, its relative paths taken from `base`.
    pub fn server_config(&self, base: &Path) -> Result<ServerConfig, String> {
        let certs = self.certificates(base)?;
        let key_path = existing(base, "key_file", &self.key_file)?;
        let key = PrivateKeyDer::from_pem_file(&key_path)
            .map_err(|e| format!("{}: {e}", key_of("key_file")))?;
        let provider = Arc::new(self.provider()?);
        let versions = versions(self.min_version.as_deref(), self.max_version.as_deref())?;
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&versions)
            .map_err(|e| format!("{}: {e}", key_of("min_version")))?;
        self.client_auth(builder, provider, base)?
            .with_single_cert(certs, key)
            .map_err(|e| format!("{}: {e}", key_of("key_file")))
    }

    fn certificates(&self, base: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
        let path = existing(base, "cert_file", &self.cert_file)?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&path)
            .and_then(|certs| certs.collect())
            .map_err(|e| format!("{}: {e}", key_of("cert_file")))?;
        if certs.is_empty() {
            return Err(format!(
                "{}: no certificate in the file",
                key_of("cert_file")
            ));
        }
        warn_if_out_of_date(&path, &certs[0]);
        Ok(certs)
    }

    /// The crypto provider with the chosen TLS 1.2 suites (every TLS 1.3 suite stays).
    fn provider(&self) -> Result<CryptoProvider, String> {
        let mut provider = rustls::crypto::ring::default_provider();
        if self.cipher_suites.is_empty() {
            return Ok(provider);
        }
        let all = provider.cipher_suites.clone();
        let mut chosen: Vec<_> = all
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS13)
            .copied()
            .collect();
        for (i, name) in self.cipher_suites.iter().enumerate() {
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
        Ok(provider)
    }

    /// `builder` with the client certificate check `client_auth_type` asks for.
    fn client_auth(
        &self,
        builder: ConfigBuilder<ServerConfig, rustls::WantsVerifier>,
        provider: Arc<CryptoProvider>,
        base: &Path,
    ) -> Result<ConfigBuilder<ServerConfig, WantsServerCert>, String> {
        let client_auth = self.client_auth_type.as_deref().unwrap_or("NoClientCert");
        let optional = match client_auth {
            "NoClientCert" => return Ok(builder.with_no_client_auth()),
            "VerifyClientCertIfGiven" => true,
            "RequireAndVerifyClientCert" => false,
            other => {
                return Err(format!(
                    "{}: {other:?} is not supported; use NoClientCert, VerifyClientCertIfGiven \
                     or RequireAndVerifyClientCert",
                    key_of("client_auth_type")
                ));
            }
        };
        let ca_error = |e: &dyn std::fmt::Display| format!("{}: {e}", key_of("client_ca_file"));
        let ca = self
            .client_ca_file
            .as_ref()
            .ok_or_else(|| ca_error(&format_args!("{client_auth} needs a client_ca_file")))?;
        let ca_path = existing(base, "client_ca_file", ca)?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&ca_path).map_err(|e| ca_error(&e))? {
            roots
                .add(cert.map_err(|e| ca_error(&e))?)
                .map_err(|e| ca_error(&e))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = if optional {
            verifier.allow_unauthenticated()
        } else {
            verifier
        };
        Ok(builder.with_client_cert_verifier(verifier.build().map_err(|e| ca_error(&e))?))
    }
}

/// Warns when the server's certificate (at `path`) has expired or is not valid yet: it is
/// still served, as Go's TLS server serves it, but clients will refuse it.
fn warn_if_out_of_date(path: &Path, cert: &CertificateDer<'_>) {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return;
    };
    let validity = parsed.validity();
    let now = crate::record::unix_now() as i64;
    let (from, until) = (
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    );
    if now > until || now < from {
        tracing::warn!(
            path = %path.display(),
            not_before = %validity.not_before,
            not_after = %validity.not_after,
            "tls_server_config.cert_file: the certificate is not valid now; clients will refuse it"
        );
    }
}

/// `base` joined with `path`, which must exist; the error names `key`.
fn existing(base: &Path, key: &str, path: &Path) -> Result<PathBuf, String> {
    let path = base.join(path);
    std::fs::metadata(&path)
        .map(|_| path.clone())
        .map_err(|e| format!("{}: {}: {e}", key_of(key), path.display()))
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
            "{}: {other:?} is not one of TLS10, TLS11, TLS12, TLS13",
            key_of(key)
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
            "{}: no version between {} and {} is offered (TLS12, TLS13)",
            key_of("max_version"),
            min.unwrap_or("TLS12"),
            max.unwrap_or("TLS13")
        ));
    }
    Ok(chosen)
}
