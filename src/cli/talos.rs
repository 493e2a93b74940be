//! `talos lint` and `talos mounts`: Talos machine configs read offline.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use longhorn_talos_guard::talos;

use super::{OutputFormat, emit};

/// Subcommands of `talos`.
#[derive(Subcommand)]
pub enum TalosCommand {
    /// Check machine configs, patches and Image Factory schematics against
    /// Longhorn's Talos guide. Exit status 1 on errors, 2 on unreadable input.
    Lint {
        /// Check the V2 data engine prerequisites (implied by a RawVolumeConfig).
        #[arg(long)]
        v2: bool,
        /// Output format.
        #[arg(short = 'o', long, default_value = "text")]
        format: OutputFormat,
        /// The namespace Longhorn is installed in (for the Pod Security check).
        #[arg(long, default_value = "longhorn-system")]
        longhorn_namespace: String,
        /// Files, merged in order as Talos applies patches (later wins).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the allowedMounts the machine config gives the kubelet, as webhook
    /// config YAML (text) or as a JSON list of the mounts and where each comes from.
    Mounts {
        /// Output format.
        #[arg(short = 'o', long, default_value = "text")]
        format: OutputFormat,
        /// Files, merged in order as Talos applies patches (later wins).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Runs a `talos` subcommand.
pub fn run(command: TalosCommand) -> anyhow::Result<u8> {
    match command {
        TalosCommand::Lint {
            v2,
            format,
            longhorn_namespace,
            files,
        } => lint(&files, v2, format, longhorn_namespace),
        TalosCommand::Mounts { format, files } => mounts(&files, format),
    }
}

fn read(files: &[PathBuf]) -> anyhow::Result<talos::MachineConfig> {
    let mut inputs = Vec::with_capacity(files.len());
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        inputs.push((f.display().to_string(), text));
    }
    Ok(talos::load(&inputs)?)
}

fn lint(
    files: &[PathBuf],
    v2: bool,
    format: OutputFormat,
    longhorn_namespace: String,
) -> anyhow::Result<u8> {
    let config = read(files)?;
    let findings = longhorn_talos_guard::lint::lint(
        &config,
        &talos::LintOptions {
            v2,
            longhorn_namespace,
        },
    );
    emit(&match format {
        OutputFormat::Text => talos::render_text(&findings),
        OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(&findings)?),
    })?;
    Ok(talos::exit_code(&findings) as u8)
}

fn mounts(files: &[PathBuf], format: OutputFormat) -> anyhow::Result<u8> {
    let config = read(files)?;
    let mounts = talos::derive_mounts(&config);
    if format == OutputFormat::Json {
        let list: Vec<serde_json::Value> = mounts
            .iter()
            .map(|m| {
                serde_json::json!({
                    "path": m.path.as_str(),
                    "propagation": m.propagation,
                    "origin": m.origin,
                    "document": m.document,
                    "line": m.line,
                    "from": m.describe(),
                })
            })
            .collect();
        emit(&format!("{}\n", serde_json::to_string_pretty(&list)?))?;
    }
    if format == OutputFormat::Text {
        emit(&talos::mounts_config_yaml(&mounts))?;
    }
    Ok(0)
}
