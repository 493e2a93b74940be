//! The serving certificate: loaded from PEM files, swapped atomically on
//! reload, and handed to rustls on every handshake. A bad new pair keeps the
//! last good one.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why a certificate/key pair cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The PEM holds no usable certificate or key.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the pair (key type, or key not matching the certificate).
    #[error("{cert} and {key} do not form a usable pair: {source}")]
    Pair {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
        /// rustls's error.
        source: rustls::Error,
    },
}

/// The one crypto provider of the process (ring; aws-lc-rs is not compiled in).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A loaded pair with the leaf's expiry.
struct Loaded {
    key: Arc<CertifiedKey>,
    not_after: i64,
}

/// The current serving certificate, reloadable from its files.
pub struct CertStore {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: ArcSwap<CertifiedKey>,
    not_after: std::sync::atomic::AtomicI64,
    last_seen: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn parse_pair(
    cert_path: &Path,
    key_path: &Path,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Loaded, TlsError> {
    let pem_err = |path: &Path, message: String| TlsError::Pem {
        path: path.display().to_string(),
        message,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(cert_path, format!("invalid PEM: {e}")))?;
    let leaf = chain
        .first()
        .ok_or_else(|| pem_err(cert_path, "no CERTIFICATE block".into()))?;
    let not_after = crate::certs::not_after(leaf).map_err(|e| pem_err(cert_path, e))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| pem_err(key_path, format!("no usable private key: {e}")))?;
    let key = CertifiedKey::from_der(chain, key, &provider()).map_err(|source| TlsError::Pair {
        cert: cert_path.display().to_string(),
        key: key_path.display().to_string(),
        source,
    })?;
    Ok(Loaded {
        key: Arc::new(key),
        not_after,
    })
}

impl CertStore {
    /// Loads the pair; fails if it is unusable.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<CertStore, TlsError> {
        let cert_pem = read(cert_path)?;
        let key_pem = read(key_path)?;
        let loaded = parse_pair(cert_path, key_path, &cert_pem, &key_pem)?;
        Ok(CertStore {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: ArcSwap::new(loaded.key),
            not_after: loaded.not_after.into(),
            last_seen: Mutex::new((cert_pem, key_pem)),
        })
    }

    /// The files it reloads from.
    pub fn files(&self) -> [PathBuf; 2] {
        [self.cert_path.clone(), self.key_path.clone()]
    }

    /// Unix time at which the serving certificate expires.
    pub fn not_after(&self) -> i64 {
        self.not_after.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Re-reads the files. Returns `Ok(true)` when a new pair is now served,
    /// `Ok(false)` when the files are unchanged (or unchanged since a
    /// rejected attempt), and an error when the new pair is unusable, in
    /// which case the previous pair stays in service.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let cert_pem = read(&self.cert_path)?;
        let key_pem = read(&self.key_path)?;
        let mut last = self.last_seen.lock().unwrap_or_else(|p| p.into_inner());
        if last.0 == cert_pem && last.1 == key_pem {
            return Ok(false);
        }
        // Remember the attempt either way, so a bad pair is reported once.
        *last = (cert_pem, key_pem);
        let loaded = parse_pair(&self.cert_path, &self.key_path, &last.0, &last.1)?;
        self.current.store(loaded.key);
        self.not_after
            .store(loaded.not_after, std::sync::atomic::Ordering::Relaxed);
        Ok(true)
    }

    /// The rustls server configuration: TLS 1.2 and 1.3, ALPN h2 and http/1.1,
    /// the certificate chosen from this store on each handshake.
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, rustls::Error> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}
