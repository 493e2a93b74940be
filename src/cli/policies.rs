//! `policies cel`: the rules CEL can express, as ValidatingAdmissionPolicies
//! and a MutatingAdmissionPolicy for the API server to run itself.

use std::path::PathBuf;

use longhorn_talos_guard::cel::{self, KubeVersion, NEWEST_MINOR};
use longhorn_talos_guard::source::ConfigSource;

use super::emit;

/// `policies` subcommands.
#[derive(clap::Subcommand)]
pub enum PoliciesCommand {
    /// Write the rules CEL can express as ValidatingAdmissionPolicies (and a
    /// MutatingAdmissionPolicy for LTG-W001) with their bindings, as YAML on
    /// standard output; the rules left to the webhook are listed on standard error.
    Cel(CelArgs),
}

/// Arguments of `policies cel`.
#[derive(clap::Args)]
pub struct CelArgs {
    /// Policy configuration file (YAML); the embedded defaults without it.
    #[arg(long, env = "LTG_CONFIG")]
    config: Option<PathBuf>,
    /// Talos machine config(s) of the nodes, for the host model; repeatable.
    #[arg(long = "talos-config", env = "LTG_TALOS_CONFIG", value_delimiter = ',')]
    talos_config: Vec<PathBuf>,
    /// The Kubernetes version of the API server (1.30 to 1.37): it decides
    /// which rules CEL can carry there.
    #[arg(long, default_value_t = KubeVersion(NEWEST_MINOR), value_parser = KubeVersion::parse)]
    kubernetes_version: KubeVersion,
    /// The API server serves MutatingAdmissionPolicy v1beta1 (Kubernetes
    /// 1.34 and 1.35 with the MutatingAdmissionPolicy feature gate and
    /// --runtime-config=admissionregistration.k8s.io/v1beta1=true): write
    /// LTG-W001 for it there.
    #[arg(long)]
    mutating_admission_policy_beta: bool,
}

/// Runs a `policies` subcommand.
pub fn run(command: PoliciesCommand) -> anyhow::Result<u8> {
    let PoliciesCommand::Cel(args) = command;
    let version = args.kubernetes_version;
    let source = ConfigSource {
        file: args.config,
        talos_files: args.talos_config,
    };
    let config = source.load()?;
    let served = cel::Served {
        mutating_v1beta1: args.mutating_admission_policy_beta,
    };
    let generated = cel::generate_for(&config, version, served);
    for left in &generated.left {
        eprintln!(
            "{}: not in CEL, stays with the webhook: {}",
            left.id, left.why
        );
    }
    emit(&generated.to_yaml())?;
    Ok(0)
}
