//! The `longhorn-talos-guard` command line: parses the arguments and hands
//! each subcommand to its module under `cli/`.

mod cli;

use clap::{Parser, Subcommand};
use cli::{LogFormat, audit, certs, check, policies, serve, talos};

/// Keeps Longhorn safe on Talos Linux: an admission webhook and offline checks.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, env = "LTG_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the admission webhook over HTTPS.
    Serve(Box<serve::ServeArgs>),
    /// Make certificates.
    #[command(subcommand)]
    Certs(certs::CertsCommand),
    /// Read Talos machine configs: lint them for Longhorn, derive allowed mounts.
    #[command(subcommand)]
    Talos(talos::TalosCommand),
    /// Measure the policies in-process, or a server under HTTPS load.
    #[cfg(feature = "bench")]
    #[command(subcommand)]
    Bench(cli::bench::BenchCommand),
    /// Evaluate Kubernetes manifests offline, as the webhook would judge them
    /// on CREATE. Exit status 1 when anything would be denied, 2 on unreadable input.
    Check(check::CheckArgs),
    /// Audit a live cluster (read-only): the webhook's rules on what exists,
    /// and Longhorn's node and disk status with the Talos fix. Exit status 1
    /// with findings, 2 when the cluster cannot be read.
    Audit(audit::AuditArgs),
    /// Generate admission policies the API server runs itself (CEL).
    #[command(subcommand)]
    Policies(policies::PoliciesCommand),
}

/// Exit status of a usage error (an unknown flag, a missing or invalid
/// value): `EX_USAGE` of BSD's sysexits.h, apart from 1 (findings, or a
/// failure) and 2 (unreadable input of the offline tools).
const EX_USAGE: u8 = 64;

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version go to standard output with status 0.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // Nothing useful can be done when standard error is gone.
            let _ = e.print();
            return std::process::ExitCode::from(EX_USAGE);
        }
    };
    cli::init_logging(cli.log_format);
    // Unreadable input is status 2 for the offline tools (1 means findings), as for grep and diff.
    let error_code = if matches!(
        cli.command,
        Command::Talos(_) | Command::Check(_) | Command::Audit(_) | Command::Policies(_)
    ) {
        2
    } else {
        1
    };
    let result = match cli.command {
        Command::Serve(args) => serve::main(*args),
        Command::Certs(command) => certs::run(command),
        Command::Talos(command) => talos::run(command),
        Command::Check(args) => check::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Policies(command) => policies::run(command),
        #[cfg(feature = "bench")]
        Command::Bench(command) => cli::bench::run(command),
    };
    match result {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", cli::error_text(&e));
            std::process::ExitCode::from(error_code)
        }
    }
}
