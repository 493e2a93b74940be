//! The subcommands of the `longhorn-talos-guard` binary, one module each;
//! `main.rs` only parses the command line and dispatches here.

pub mod audit;
#[cfg(feature = "bench")]
pub mod bench;
pub mod certs;
pub mod check;
pub mod duration;
pub mod policies;
pub mod preflight;
pub mod serve;
pub mod talos;

use std::io::Write as _;

use clap::ValueEnum;

// The variants carry no doc comments: clap would list them as help text and
// switch `--help` to its long layout.

/// Output format of the offline commands (`-o`, as with kubectl).
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    // For people.
    Text,
    // For programs.
    Json,
}

/// Format of the log on standard error.
#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    // Human-readable lines.
    Text,
    // One JSON object per line.
    Json,
}

/// The log filter without `RUST_LOG`.
pub const DEFAULT_LOG_FILTER: &str = "info,rustls=error";

/// Logs to standard error, filtered by `RUST_LOG`. The default is `info`
/// with rustls at `error`: rustls warns once per connection of a client that
/// sends an IP address as SNI (not a state change of the guard), so its
/// warnings show only when asked for (`RUST_LOG=info,rustls=debug`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// The one line an error prints after `error: `: the message and each cause
/// not already in it, joined by `: ` (as `{:#}` does). A message that carries
/// its cause, as the library's errors do, does not print it twice.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// Whether log lines may carry ANSI colours: only on a terminal, and never
/// with `NO_COLOR` set to anything but the empty string (no-color.org).
fn colour() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// Writes `text` to standard output. A reader that went away (`... | head -1`)
/// is a normal end of the output, not an error: the rest is dropped and the
/// command still exits with its own status.
pub fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to standard output"))
        }
        _ => Ok(()),
    }
}
