//! TLS termination with rustls over aws-lc-rs (DESIGN §8: the one crypto library).
//!
//! `serve` terminates TLS itself when `tls.cert` and `tls.key` are set. The certificate lives in
//! a [`ReloadingCertificate`]: a rustls [`ResolvesServerCert`] that hands every new handshake
//! the current certificate and key, so replacing them (on SIGHUP) touches no open connection —
//! an established connection already has its keys and goes on as it was. A new pair that cannot
//! be read, does not parse, or whose key does not match its certificate is refused and the old
//! pair stays in service.
//!
//! ALPN offers `h2` and `http/1.1`: actix-web adds both to the configuration it is given.
//! `serve --dev-tls` makes a self-signed certificate for `localhost` and `127.0.0.1` with rcgen
//! ([`dev_certificate`]), for local work only.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Why a certificate or key could not be put in service.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {reason}")]
    BadKey { path: PathBuf, reason: String },
    #[error("the key in {key} does not fit the certificate in {cert}: {reason}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("cannot make the development certificate: {0}")]
    Generate(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The process-wide rustls provider: aws-lc-rs. Installed first thing by `serve` (and by test
/// servers); installing it twice is harmless.
pub fn install_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// Reads a PEM certificate chain (leaf first) and its PEM private key, and checks that the key
/// belongs to the leaf certificate.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let cert_pem = std::fs::read(cert).map_err(|source| TlsError::Read {
        path: cert.to_path_buf(),
        source,
    })?;
    let key_pem = std::fs::read(key).map_err(|source| TlsError::Read {
        path: key.to_path_buf(),
        source,
    })?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NoCertificate {
            path: cert.to_path_buf(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_path_buf(),
        });
    }
    let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::BadKey {
        path: key.to_path_buf(),
        reason: e.to_string(),
    })?;
    CertifiedKey::from_der(chain, private_key, &provider()).map_err(|e| TlsError::Mismatch {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The server certificate, replaceable while the server runs.
#[derive(Debug)]
pub struct ReloadingCertificate {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadingCertificate {
    /// Loads the pair at `cert` and `key`; fails if it cannot be put in service.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<ReloadingCertificate>, TlsError> {
        let loaded = load_certified_key(cert, key)?;
        Ok(Arc::new(ReloadingCertificate {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Arc::new(loaded)),
        }))
    }

    /// Reads the files again. On success new handshakes get the new pair; on failure the
    /// pair in service stays and the error says why.
    pub fn reload(&self) -> Result<(), TlsError> {
        let loaded = Arc::new(load_certified_key(&self.cert, &self.key)?);
        match self.current.write() {
            Ok(mut current) => *current = loaded,
            Err(poisoned) => *poisoned.into_inner() = loaded,
        }
        Ok(())
    }

    /// The pair in service.
    pub fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A rustls server configuration that asks this resolver for every handshake (no client
    /// certificates). actix-web adds the ALPN protocols `h2` and `http/1.1`.
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, rustls::Error> {
        Ok(rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone()))
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Reloads `certificate` on every SIGHUP for as long as the process runs, logging the outcome.
#[cfg(unix)]
pub fn reload_on_sighup(certificate: Arc<ReloadingCertificate>) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match certificate.reload() {
                Ok(()) => tracing::info!(
                    cert = %certificate.cert.display(),
                    "SIGHUP: TLS certificate reloaded; new connections use it"
                ),
                Err(error) => tracing::error!(
                    %error,
                    "SIGHUP: TLS certificate NOT reloaded; the previous one stays in service"
                ),
            }
        }
    });
    Ok(())
}

/// The names the development certificate is valid for.
pub const DEV_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The development certificate and key under `dir` (`dev-tls-cert.pem`, `dev-tls-key.pem`):
/// reused when both exist, otherwise made afresh — self-signed for [`DEV_NAMES`], the key
/// written with mode 0600.
pub fn dev_certificate(dir: &Path) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert = dir.join("dev-tls-cert.pem");
    let key = dir.join("dev-tls-key.pem");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let names: Vec<String> = DEV_NAMES.iter().map(|n| n.to_string()).collect();
    let generated =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    write_private(&key, generated.signing_key.serialize_pem().as_bytes())
        .map_err(write_error(&key))?;
    std::fs::write(&cert, generated.cert.pem()).map_err(write_error(&cert))?;
    Ok((cert, key))
}

/// Writes `bytes` to a new file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_certificate_is_made_once_with_a_private_key_and_loads() {
        install_provider();
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let (cert, key) = dev_certificate(&keys).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "key mode {mode:o}");
        }
        let first = std::fs::read(&cert).unwrap();
        assert!(load_certified_key(&cert, &key).is_ok());
        dev_certificate(&keys).unwrap();
        assert_eq!(std::fs::read(&cert).unwrap(), first, "reused, not remade");
    }

    #[test]
    fn a_bad_new_pair_keeps_the_old_one_in_service() {
        install_provider();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = dev_certificate(dir.path()).unwrap();
        let served = ReloadingCertificate::load(&cert, &key).unwrap();
        let before = served.current().cert.clone();

        std::fs::write(&cert, "not a certificate").unwrap();
        assert!(matches!(
            served.reload(),
            Err(TlsError::NoCertificate { .. })
        ));
        assert_eq!(served.current().cert, before);

        // A key from another certificate does not fit.
        let other = tempfile::tempdir().unwrap();
        let (other_cert, _) = dev_certificate(other.path()).unwrap();
        std::fs::copy(&other_cert, &cert).unwrap();
        assert!(matches!(served.reload(), Err(TlsError::Mismatch { .. })));
        assert_eq!(served.current().cert, before);

        std::fs::remove_file(&key).unwrap();
        assert!(matches!(served.reload(), Err(TlsError::Read { .. })));
        assert_eq!(served.current().cert, before);
    }
}
