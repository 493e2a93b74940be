//! The serving certificate store, a service of both the HTTPS server and the
//! self-managed reconciler: a pair loaded from PEM files or memory, swapped
//! atomically on reload and handed to rustls on every handshake. A bad new
//! pair keeps the last good one.

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
    #[error("cannot read {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error (in the message, so not also a `source`).
        error: std::io::Error,
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
    #[error("{cert} and {key} do not form a usable pair: {error}")]
    Pair {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
        /// rustls's error (in the message, so not also a `source`).
        error: rustls::Error,
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

/// Where a certificate pair comes from: files, or a Secret read through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// PEM files, re-read on change.
    Files {
        /// The certificate chain.
        cert: PathBuf,
        /// The private key.
        key: PathBuf,
    },
    /// PEM held in memory, replaced by [`CertStore::update_pem`]; the text
    /// names where it came from (`secret longhorn-talos-guard/tls`).
    Memory(String),
}

impl Origin {
    fn cert_name(&self) -> String {
        match self {
            Origin::Files { cert, .. } => cert.display().to_string(),
            Origin::Memory(name) => format!("{name} tls.crt"),
        }
    }

    fn key_name(&self) -> String {
        match self {
            Origin::Files { key, .. } => key.display().to_string(),
            Origin::Memory(name) => format!("{name} tls.key"),
        }
    }
}

/// The current serving certificate, swapped atomically when it changes.
pub struct CertStore {
    origin: Origin,
    current: ArcSwap<CertifiedKey>,
    not_after: std::sync::atomic::AtomicI64,
    last_seen: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        path: path.display().to_string(),
        error,
    })
}

fn parse_pair(origin: &Origin, cert_pem: &[u8], key_pem: &[u8]) -> Result<Loaded, TlsError> {
    let pem_err = |path: String, message: String| TlsError::Pem { path, message };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(origin.cert_name(), format!("invalid PEM: {e}")))?;
    let leaf = chain
        .first()
        .ok_or_else(|| pem_err(origin.cert_name(), "no CERTIFICATE block".into()))?;
    let not_after = crate::certs::not_after(leaf).map_err(|e| pem_err(origin.cert_name(), e))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| pem_err(origin.key_name(), format!("no usable private key: {e}")))?;
    let key = CertifiedKey::from_der(chain, key, &provider()).map_err(|error| TlsError::Pair {
        cert: origin.cert_name(),
        key: origin.key_name(),
        error,
    })?;
    Ok(Loaded {
        key: Arc::new(key),
        not_after,
    })
}

impl CertStore {
    /// Loads the pair from files; fails if it is unusable.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<CertStore, TlsError> {
        let cert_pem = read(cert_path)?;
        let key_pem = read(key_path)?;
        let origin = Origin::Files {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
        };
        CertStore::new(origin, cert_pem, key_pem)
    }

    /// Builds a store from PEM held in memory; `name` says where it came from.
    pub fn from_pem(name: &str, cert_pem: &[u8], key_pem: &[u8]) -> Result<CertStore, TlsError> {
        CertStore::new(
            Origin::Memory(name.to_string()),
            cert_pem.to_vec(),
            key_pem.to_vec(),
        )
    }

    fn new(origin: Origin, cert_pem: Vec<u8>, key_pem: Vec<u8>) -> Result<CertStore, TlsError> {
        let loaded = parse_pair(&origin, &cert_pem, &key_pem)?;
        Ok(CertStore {
            origin,
            current: ArcSwap::new(loaded.key),
            not_after: loaded.not_after.into(),
            last_seen: Mutex::new((cert_pem, key_pem)),
        })
    }

    /// The files it reloads from (none for a store fed from memory).
    pub fn files(&self) -> Vec<PathBuf> {
        match &self.origin {
            Origin::Files { cert, key } => vec![cert.clone(), key.clone()],
            Origin::Memory(_) => Vec::new(),
        }
    }

    /// Unix time at which the serving certificate expires.
    pub fn not_after(&self) -> i64 {
        self.not_after.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Re-reads the files (see [`CertStore::update_pem`] for the result).
    /// A store fed from memory has nothing to re-read.
    pub fn reload(&self) -> Result<bool, TlsError> {
        match &self.origin {
            Origin::Files { cert, key } => self.update_pem(&read(cert)?, &read(key)?),
            Origin::Memory(_) => Ok(false),
        }
    }

    /// Serves this pair from the next handshake on. Returns `Ok(true)` when a
    /// new pair is now served, `Ok(false)` when it is unchanged (or unchanged
    /// since a rejected attempt), and an error when the new pair is unusable,
    /// in which case the previous pair stays in service.
    pub fn update_pem(&self, cert_pem: &[u8], key_pem: &[u8]) -> Result<bool, TlsError> {
        let mut last = self.last_seen.lock().unwrap_or_else(|p| p.into_inner());
        if last.0 == cert_pem && last.1 == key_pem {
            return Ok(false);
        }
        // Remember the attempt either way, so a bad pair is reported once.
        *last = (cert_pem.to_vec(), key_pem.to_vec());
        let loaded = parse_pair(&self.origin, cert_pem, key_pem)?;
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
