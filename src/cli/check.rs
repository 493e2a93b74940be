//! `check`: Kubernetes manifests judged offline, as the webhook would on CREATE.

use std::path::PathBuf;

use longhorn_talos_guard::check;
use longhorn_talos_guard::source::ConfigSource;

use super::{OutputFormat, emit};

/// Arguments of `check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Policy configuration file (YAML); the embedded defaults without it.
    #[arg(long, env = "LTG_CONFIG")]
    config: Option<PathBuf>,
    /// Talos machine config(s) of the nodes: the host model then knows their volumes; repeatable.
    #[arg(long = "talos-config", env = "LTG_TALOS_CONFIG", value_delimiter = ',')]
    talos_config: Vec<PathBuf>,
    /// Namespace for namespaced objects that name none (like kubectl -n).
    #[arg(long, short = 'n', default_value = "default")]
    namespace: String,
    /// Output format.
    #[arg(short = 'o', long, default_value = "text")]
    format: OutputFormat,
    /// Manifest files (YAML or JSON), folders (searched recursively), or - for stdin.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Runs `check`: status 1 when anything would be denied or refused.
pub fn run(args: CheckArgs) -> anyhow::Result<u8> {
    let source = ConfigSource {
        file: args.config,
        talos_files: args.talos_config,
    };
    let config = source.load()?;
    let inputs = check::read_inputs(&args.files)?;
    let results = check::check(&inputs, &config, &args.namespace)?;
    emit(&match args.format {
        OutputFormat::Text => check::render(&results),
        OutputFormat::Json => check::render_json(&results),
    })?;
    Ok(u8::from(results.iter().any(|r| r.fails())))
}
