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
        /// Days the serving certificate is valid (at least 1).
        #[arg(long, default_value = "365", value_parser = days)]
        days: i64,
        /// Replace a CA already in the output folder (every client that
        /// trusts the old one, a caBundle among them, must then be given the new one).
        #[arg(long)]
        force: bool,
    },
}

/// Runs a `certs` subcommand.
pub fn run(command: CertsCommand) -> anyhow::Result<u8> {
    match command {
        CertsCommand::Dev {
            out,
            sans,
            days,
            force,
        } => dev(&out, sans, days, force).map(|()| 0),
    }
}

/// `--days`: a whole number of days, at least 1 (a certificate valid for no
/// time is refused by every client at once).
fn days(text: &str) -> Result<i64, String> {
    let days: i64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of days"))?;
    if days < 1 {
        return Err(format!(
            "a serving certificate must be valid for at least 1 day, not {days}"
        ));
    }
    Ok(days)
}

fn dev(out: &Path, extra: Vec<String>, days: i64, force: bool) -> anyhow::Result<()> {
    let ca = out.join(certs::CA_FILE);
    if !force && ca.exists() {
        anyhow::bail!(
            "{} already exists: a new CA would no longer be trusted by what trusts this one (a webhook's \
caBundle, curl --cacert); pass --force to replace it",
            ca.display()
        );
    }
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
