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
    vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
        .into_iter()
        .chain(service_sans(SERVICE, NAMESPACE))
        .collect()
}

/// The names the API server may dial for `service` in `namespace`.
pub fn service_sans(service: &str, namespace: &str) -> Vec<String> {
    vec![
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
        format!("{service}.{namespace}"),
        service.to_string(),
    ]
}

/// Errors making or writing certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen refused the parameters (a SAN that is not a DNS name or IP, ...).
    #[error("cannot make certificate: {0}")]
    Generate(rcgen::Error),
    /// A subject alternative name is neither a DNS name nor an IP address.
    #[error("{0:?} is neither a DNS name nor an IP address")]
    San(String),
    /// A stored CA certificate cannot be read.
    #[error("the CA certificate is unusable: {0}")]
    Ca(String),
    /// Writing a file failed.
    #[error("cannot write {path}: {error}")]
    Write {
        /// The file.
        path: String,
        /// The I/O error.
        error: std::io::Error,
    },
}

// By hand rather than `#[from]`: the message already carries rcgen's text,
// and a `source` as well would print it twice in an error chain.
impl From<rcgen::Error> for CertError {
    fn from(e: rcgen::Error) -> Self {
        CertError::Generate(e)
    }
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

/// A CA that can sign: its certificate and private key, in PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ca {
    /// The CA certificate.
    pub cert_pem: String,
    /// The CA's private key (PKCS#8).
    pub key_pem: String,
}

/// What a certificate says about itself, for renewal decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Unix time it expires.
    pub not_after: i64,
    /// DER of the subject name.
    pub subject: Vec<u8>,
    /// DER of the issuer name.
    pub issuer: Vec<u8>,
    /// DNS names and IP addresses it is valid for, as text.
    pub sans: Vec<String>,
}

/// Reads the first certificate of a PEM text.
pub fn info(pem: &str) -> Result<CertInfo, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let der = CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("no certificate in PEM: {e}"))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| format!("certificate is not valid X.509: {e}"))?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(d) => sans.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(ip) => {
                    let text = match ip.len() {
                        4 => <[u8; 4]>::try_from(*ip)
                            .map(|o| std::net::IpAddr::from(o).to_string())
                            .ok(),
                        16 => <[u8; 16]>::try_from(*ip)
                            .map(|o| std::net::IpAddr::from(o).to_string())
                            .ok(),
                        _ => None,
                    };
                    sans.extend(text);
                }
                _ => {}
            }
        }
    }
    Ok(CertInfo {
        not_after: cert.validity().not_after.timestamp(),
        subject: cert.subject().as_raw().to_vec(),
        issuer: cert.issuer().as_raw().to_vec(),
        sans,
    })
}

/// Every certificate of a PEM bundle, each as its own PEM text (other
/// sections and text between them are dropped). The sections are found by
/// rustls-pki-types' PEM reader; each text is the bundle's own bytes for it.
pub fn split_bundle(bundle: &str) -> Vec<String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::{PemObject, SliceIter};
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    let bytes = bundle.as_bytes();
    let mut iter: SliceIter<'_, CertificateDer<'static>> = CertificateDer::pem_slice_iter(bytes);
    let mut out = Vec::new();
    loop {
        let start = bytes.len() - iter.remainder().len();
        let Some(Ok(_)) = iter.next() else { break };
        let end = bytes.len() - iter.remainder().len();
        // The reader consumed from `start` (text and skipped sections
        // included) to the end of this certificate's END line.
        let section = &bundle[start..end];
        if let Some(at) = section.rfind(BEGIN) {
            let mut pem = section[at..].trim_end().to_string();
            pem.push('\n');
            out.push(pem);
        }
    }
    out
}

/// Makes a CA valid from `now` (backdated an hour, for clock skew) for `validity`.
/// Its common name carries its start time and a digest of its own public
/// key, so that two CAs differ even when made in the same second (OpenSSL
/// picks the issuer by name). It carries a subjectKeyIdentifier, which the
/// certificates it issues name as their authorityKeyIdentifier.
pub fn new_ca(now: OffsetDateTime, validity: Duration) -> Result<Ca, CertError> {
    use std::hash::{Hash as _, Hasher as _};
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    let mut digest = std::collections::hash_map::DefaultHasher::new();
    key.public_key_raw().hash(&mut digest);
    ca.distinguished_name = name(&format!(
        "longhorn-talos-guard CA {} {:016x}",
        now.unix_timestamp(),
        digest.finish()
    ));
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now - Duration::hours(1);
    ca.not_after = now + validity;
    let cert = ca.self_signed(&key)?;
    Ok(Ca {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Issues a serving certificate for `sans` from `ca`, valid from `now` for
/// `validity` but never past the CA's own expiry. Returns (certificate, key) PEM.
pub fn issue(
    ca: &Ca,
    sans: &[String],
    now: OffsetDateTime,
    validity: Duration,
) -> Result<(String, String), CertError> {
    if let Some(bad) = sans
        .iter()
        .find(|s| rustls::pki_types::ServerName::try_from(s.as_str()).is_err())
    {
        return Err(CertError::San(bad.clone()));
    }
    let ca_key = KeyPair::from_pem(&ca.key_pem)?;
    let ca_not_after = info(&ca.cert_pem).map_err(CertError::Ca)?.not_after;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, &ca_key)?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut leaf = CertificateParams::new(sans.to_vec())?;
    leaf.distinguished_name = name(sans.first().map_or(SERVICE, String::as_str));
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // basicConstraints CA:FALSE and a subjectKeyIdentifier, and the CA's key
    // identifier as authorityKeyIdentifier: what OpenSSL-based clients expect.
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.use_authority_key_identifier_extension = true;
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = now - Duration::hours(1);
    let wanted = now + validity;
    let cap = OffsetDateTime::from_unix_timestamp(ca_not_after).unwrap_or(wanted);
    leaf.not_after = wanted.min(cap);
    let cert = leaf.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Makes a CA valid for `ca_days` and a serving certificate valid for
/// `days`, with `sans` (DNS names or IP addresses) and server-auth usage.
pub fn generate(sans: &[String], days: i64, ca_days: i64) -> Result<DevCerts, CertError> {
    let now = OffsetDateTime::now_utc();
    let ca = new_ca(now, Duration::days(ca_days))?;
    let (cert_pem, key_pem) = issue(&ca, sans, now, Duration::days(days))?;
    Ok(DevCerts {
        ca_pem: ca.cert_pem,
        cert_pem,
        key_pem,
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
        move |error| CertError::Write { path, error }
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

    /// The extension values of a certificate, by OID text.
    fn extensions(pem: &str) -> std::collections::HashMap<String, Vec<u8>> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        cert.extensions()
            .iter()
            .map(|e| (e.oid.to_id_string(), e.value.to_vec()))
            .collect()
    }

    #[test]
    fn every_certificate_has_key_identifiers_and_the_leaf_names_its_ca() {
        const SKI: &str = "2.5.29.14";
        const AKI: &str = "2.5.29.35";
        let certs = generate(&default_sans(), 1, 1).unwrap();
        let ca = extensions(&certs.ca_pem);
        let leaf = extensions(&certs.cert_pem);
        assert!(ca.contains_key(SKI), "CA has a subjectKeyIdentifier");
        assert!(leaf.contains_key(SKI), "leaf has a subjectKeyIdentifier");
        // AuthorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier ... }; the
        // CA's SKI is an OCTET STRING of the same bytes.
        let ca_id = &ca[SKI][2..];
        let aki = &leaf[AKI];
        assert!(
            aki.windows(ca_id.len()).any(|w| w == ca_id),
            "the leaf's authorityKeyIdentifier is the CA's key identifier"
        );
    }

    #[test]
    fn two_cas_made_in_the_same_second_have_different_names() {
        let now = OffsetDateTime::now_utc();
        let a = new_ca(now, Duration::days(1)).unwrap();
        let b = new_ca(now, Duration::days(1)).unwrap();
        assert_ne!(
            info(&a.cert_pem).unwrap().subject,
            info(&b.cert_pem).unwrap().subject
        );
    }

    #[test]
    fn bad_san_is_an_error() {
        let err = generate(&["not a name!".into()], 1, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"not a name!\" is neither a DNS name nor an IP address"
        );
    }

    #[test]
    fn split_bundle_returns_each_certificate_and_drops_the_rest() {
        let a = generate(&default_sans(), 1, 1).unwrap();
        let b = generate(&default_sans(), 1, 1).unwrap();
        // Text before, between and after; a key section in the middle; CRLF.
        let bundle = format!(
            "# trusted CAs\n{}\n{}junk\r\n{}\n",
            a.ca_pem.trim_end(),
            a.key_pem,
            b.ca_pem.replace('\n', "\r\n")
        );
        let parts = split_bundle(&bundle);
        assert_eq!(parts.len(), 2, "{parts:?}");
        assert_eq!(parts[0], a.ca_pem);
        assert_eq!(
            info(&parts[1]).unwrap().subject,
            info(&b.ca_pem).unwrap().subject
        );
        assert!(split_bundle("no PEM here").is_empty());
    }
}
