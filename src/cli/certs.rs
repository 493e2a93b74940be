//! `certs`: dev certificates for a local server or a cluster without cert-manager.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use longhorn_talos_guard::certs;

use super::emit;

/// Validity of a dev CA, in days.
pub const DEV_CA_DAYS: i64 = 3650;

/// Subcommands of `certs`.
#[derive(Subcommand)]
pub enum CertsCommand {
    /// Write a dev CA and serving certificate (ca.crt, tls.crt, tls.key) and
    /// print the base64 caBundle.
    Dev {
        /// Output directory.
        #[arg(long, default_value = "certs-dev")]
        out: PathBuf,
        /// Extra subject alternative name (DNS name or IP); repeatable.
        #[arg(long = "san")]
        sans: Vec<String>,
        /// Days the serving certificate is valid.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
}

/// Runs a `certs` subcommand.
pub fn run(command: CertsCommand) -> anyhow::Result<u8> {
    match command {
        CertsCommand::Dev { out, sans, days } => dev(&out, sans, days).map(|()| 0),
    }
}

fn dev(out: &Path, extra: Vec<String>, days: i64) -> anyhow::Result<()> {
    let mut sans = certs::default_sans();
    sans.extend(extra);
    let made = certs::generate(&sans, days, DEV_CA_DAYS)?;
    certs::write(out, &made)?;
    eprintln!(
        "wrote {dir}/{ca}, {dir}/{cert}, {dir}/{key} (SANs: {sans}; valid {days} days)",
        dir = out.display(),
        ca = certs::CA_FILE,
        cert = certs::CERT_FILE,
        key = certs::KEY_FILE,
        sans = sans.join(", ")
    );
    eprintln!("caBundle:");
    emit(&format!("{}\n", made.ca_bundle()))
}
