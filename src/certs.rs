//! Certificates: a CA and an ECDSA P-256 serving certificate made with rcgen,
//! written as `ca.crt`, `tls.crt`, `tls.key` (the names of a Kubernetes TLS Secret).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// The Service and namespace the shipped manifests install the webhook as.
pub const SERVICE: &str = "longhorn-talos-guard";
/// See [`SERVICE`].
pub const NAMESPACE: &str = "longhorn-talos-guard";

/// The CA certificate file name.
pub const CA_FILE: &str = "ca.crt";
/// The serving certificate file name.
pub const CERT_FILE: &str = "tls.crt";
/// The serving key file name.
pub const KEY_FILE: &str = "tls.key";

/// Subject alternative names every dev certificate carries: loopback and the
/// in-cluster Service names the API server dials.
pub fn default_sans() -> Vec<String> {
    vec![
        "localhost".into(),
        "127.0.0.1".into(),
        "::1".into(),
        SERVICE.into(),
        format!("{SERVICE}.{NAMESPACE}"),
        format!("{SERVICE}.{NAMESPACE}.svc"),
        format!("{SERVICE}.{NAMESPACE}.svc.cluster.local"),
    ]
}

/// Errors making or writing certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen refused the parameters (a SAN that is not a DNS name or IP, ...).
    #[error("cannot make certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A subject alternative name is neither a DNS name nor an IP address.
    #[error("{0:?} is neither a DNS name nor an IP address")]
    San(String),
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A CA and a serving certificate signed by it, in PEM.
#[derive(Debug, Clone)]
pub struct DevCerts {
    /// The CA certificate (the webhook configurations' `caBundle`).
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving certificate's private key (PKCS#8).
    pub key_pem: String,
}

impl DevCerts {
    /// The `caBundle` value: the CA PEM, base64-encoded.
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ca_pem)
    }
}

/// Makes a CA valid for `ca_days` and a serving certificate valid for
/// `days`, with `sans` (DNS names or IP addresses) and server-auth usage.
pub fn generate(sans: &[String], days: i64, ca_days: i64) -> Result<DevCerts, CertError> {
    if let Some(bad) = sans
        .iter()
        .find(|s| rustls::pki_types::ServerName::try_from(s.as_str()).is_err())
    {
        return Err(CertError::San(bad.clone()));
    }
    let now = OffsetDateTime::now_utc();
    // A little backdating absorbs clock skew between nodes.
    let start = now - Duration::hours(1);

    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name = name("longhorn-talos-guard CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = start;
    ca.not_after = now + Duration::days(ca_days);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, &ca_key);

    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut leaf = CertificateParams::new(sans.to_vec())?;
    leaf.distinguished_name = name(sans.first().map_or(SERVICE, String::as_str));
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = start;
    leaf.not_after = now + Duration::days(days);
    let cert = leaf.signed_by(&key, &issuer)?;

    Ok(DevCerts {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// Writes `ca.crt`, `tls.crt` and `tls.key` (mode 0600) into `dir`, creating it.
pub fn write(dir: &Path, certs: &DevCerts) -> Result<(), CertError> {
    let err = |path: &Path| {
        let path = path.display().to_string();
        move |source| CertError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    for (file, text, private) in [
        (CA_FILE, &certs.ca_pem, false),
        (CERT_FILE, &certs.cert_pem, false),
        (KEY_FILE, &certs.key_pem, true),
    ] {
        let path = dir.join(file);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let _ = private;
        let mut f = options.open(&path).map_err(err(&path))?;
        f.write_all(text.as_bytes()).map_err(err(&path))?;
    }
    Ok(())
}

/// The certificate and key paths inside a certificate directory.
pub fn pair_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join(CERT_FILE), dir.join(KEY_FILE))
}

/// Unix time at which a DER certificate expires.
pub fn not_after(der: &[u8]) -> Result<i64, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("certificate is not valid X.509: {e}"))?;
    Ok(cert.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn leaf_carries_sans_and_validity() {
        let certs = generate(&["svc.ns.svc".into(), "127.0.0.1".into()], 30, 365).unwrap();
        let der = CertificateDer::from_pem_slice(certs.cert_pem.as_bytes()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let sans = cert
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .len();
        assert_eq!(sans, 2);
        let days = (not_after(&der).unwrap() - OffsetDateTime::now_utc().unix_timestamp()) / 86_400;
        assert!((29..=30).contains(&days), "{days}");
        let ca = CertificateDer::from_pem_slice(certs.ca_pem.as_bytes()).unwrap();
        let (_, ca) = x509_parser::parse_x509_certificate(&ca).unwrap();
        assert!(ca.is_ca());
        assert_eq!(cert.issuer(), ca.subject());
    }

    #[test]
    fn bad_san_is_an_error() {
        let err = generate(&["not a name!".into()], 1, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"not a name!\" is neither a DNS name nor an IP address"
        );
    }
}
