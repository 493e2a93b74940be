//! `talos lint` and `talos mounts`: Talos machine configs read offline.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Subcommand, ValueEnum};
use longhorn_talos_guard::cel;
use longhorn_talos_guard::source::ConfigSource;
use longhorn_talos_guard::talos::{self, FileRole, Severity};

use super::{OutputFormat, emit};

/// The severity from which `talos lint` exits 1 (`--fail-on`).
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FailOn {
    // Errors only (the default).
    Error,
    // Warnings and errors.
    Warning,
    // Any finding.
    Note,
}

impl FailOn {
    /// Whether a finding of `severity` fails the run.
    pub fn fails(self, severity: Severity) -> bool {
        let threshold = match self {
            FailOn::Error => Severity::Error,
            FailOn::Warning => Severity::Warning,
            FailOn::Note => Severity::Note,
        };
        severity <= threshold
    }
}

/// Subcommands of `talos`.
#[derive(Subcommand)]
pub enum TalosCommand {
    /// Check machine configs, patches and Image Factory schematics against
    /// Longhorn's Talos guide. Each base machine config is one machine, linted
    /// on its own; exit status 1 on errors (see --fail-on), 2 on unreadable input.
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
        /// Exit 1 on findings of this severity or worse (CI: warning).
        #[arg(long, value_name = "SEVERITY", default_value = "error")]
        fail_on: FailOn,
        /// Check that control-plane configs let the guard's namespace read the
        /// Talos API with the os:reader role (for `talos preflight` in the
        /// cluster); the namespace defaults to longhorn-talos-guard.
        #[arg(long, value_name = "NAMESPACE", num_args = 0..=1, require_equals = true, default_missing_value = "longhorn-talos-guard")]
        talos_api_access: Option<String>,
        /// A patch merged over every machine, after its own files (like
        /// talosctl's --config-patch); repeatable, applied in order.
        #[arg(long = "patch", value_name = "FILE")]
        patches: Vec<PathBuf>,
        /// Machine configs (each one machine), patches and schematics: files,
        /// folders (their *.yaml and *.yml, sorted), or - for stdin. With one
        /// machine, the files are merged in the order given (later wins).
        #[arg(required = true, value_name = "FILE|DIR|-")]
        files: Vec<PathBuf>,
    },
    /// Print the allowedMounts one machine's config gives the kubelet, as webhook
    /// config YAML (text) or as a JSON list of the mounts and where each comes from.
    Mounts {
        /// Output format.
        #[arg(short = 'o', long, default_value = "text")]
        format: OutputFormat,
        /// A patch merged over the machine config, after the files; repeatable.
        #[arg(long = "patch", value_name = "FILE")]
        patches: Vec<PathBuf>,
        /// One machine config, its patches and schematics, merged in order
        /// (later wins): files, folders (their *.yaml and *.yml, sorted), or - for stdin.
        #[arg(required = true, value_name = "FILE|DIR|-")]
        files: Vec<PathBuf>,
    },
    /// Print a machine-config patch that installs the given manifests with
    /// Talos itself (cluster.inlineManifests), so the guard exists before
    /// Longhorn is installed.
    Patch(PatchArgs),
    /// Read every node through the Talos API (the os:reader role suffices)
    /// and check what Longhorn needs there: extensions, open-iscsi, iscsid,
    /// multipathd, V2 modules and hugepages, the volume behind each disk path.
    /// Exit status 1 on errors (see --fail-on), 2 on an unusable talosconfig.
    Preflight(Box<super::preflight::PreflightArgs>),
}

/// Arguments of `talos patch`.
#[derive(clap::Args)]
pub struct PatchArgs {
    /// The inline manifest's name.
    #[arg(long, default_value = "longhorn-talos-guard")]
    name: String,
    /// The manifests (e.g. `kubectl kustomize manifests/base` or `helm template`
    /// output): a file, or - for stdin. Optional with --cel.
    #[arg(value_name = "FILE|-", required_unless_present = "cel")]
    manifests: Option<PathBuf>,
    /// Add the CEL admission policies `policies cel` generates (for
    /// --config, --talos-config and --kubernetes-version) as the inline
    /// manifest `<name>-cel-policies`, after the manifests: active from the
    /// first API server start, before the guard's pod runs.
    #[arg(long)]
    cel: bool,
    /// With --cel: the policy configuration file (YAML); the embedded defaults without it.
    #[arg(long, requires = "cel")]
    config: Option<PathBuf>,
    /// With --cel: Talos machine config(s) of the nodes, for the host model; repeatable.
    #[arg(long = "talos-config", requires = "cel", value_delimiter = ',')]
    talos_config: Vec<PathBuf>,
    /// With --cel: the Kubernetes version of the API server (1.30 to 1.37).
    #[arg(long, requires = "cel", default_value_t = cel::KubeVersion(cel::NEWEST_MINOR), value_parser = cel::KubeVersion::parse)]
    kubernetes_version: cel::KubeVersion,
    /// With --cel: the API server serves MutatingAdmissionPolicy v1beta1
    /// (1.34 and 1.35 with its feature gate and runtime config).
    #[arg(long, requires = "cel")]
    mutating_admission_policy_beta: bool,
}

/// Runs a `talos` subcommand.
pub fn run(command: TalosCommand) -> anyhow::Result<u8> {
    match command {
        TalosCommand::Preflight(args) => super::preflight::run(*args),
        TalosCommand::Patch(args) => {
            let mut entries: Vec<(String, String)> = Vec::new();
            if let Some(manifests) = &args.manifests {
                let text = if manifests.as_os_str() == "-" {
                    let mut text = String::new();
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .context("cannot read standard input")?;
                    text
                } else {
                    std::fs::read_to_string(manifests)
                        .with_context(|| format!("cannot read {}", manifests.display()))?
                };
                entries.push((args.name.clone(), text));
            }
            if args.cel {
                let source = ConfigSource {
                    file: args.config.clone(),
                    talos_files: args.talos_config.clone(),
                };
                let served = cel::Served {
                    mutating_v1beta1: args.mutating_admission_policy_beta,
                };
                let generated = cel::generate_for(&source.load()?, args.kubernetes_version, served);
                for left in &generated.left {
                    eprintln!(
                        "{}: not in CEL, stays with the webhook: {}",
                        left.id, left.why
                    );
                }
                entries.push((format!("{}-cel-policies", args.name), generated.to_yaml()));
            }
            let entries: Vec<(&str, &str)> = entries
                .iter()
                .map(|(n, t)| (n.as_str(), t.as_str()))
                .collect();
            emit(&talos::inline_manifests_patch_of(&entries)?)?;
            Ok(0)
        }
        TalosCommand::Lint {
            v2,
            format,
            longhorn_namespace,
            fail_on,
            talos_api_access,
            patches,
            files,
        } => {
            let machines = machines(read(&files)?, read(&patches)?)?;
            let options = talos::LintOptions {
                v2,
                longhorn_namespace,
                talos_api_access,
            };
            lint(&machines, &options, format, fail_on)
        }
        TalosCommand::Mounts {
            format,
            patches,
            files,
        } => {
            let files = read(&files)?;
            let bases: Vec<&Input> = files
                .iter()
                .filter(|i| i.role == FileRole::Machine)
                .collect();
            if let [first, second, ..] = bases[..] {
                bail!(
                    "{} and {} are both base machine configs: talos mounts reads one machine (its config, \
patches and schematic); run it once per machine",
                    first.name,
                    second.name
                );
            }
            let mut machines = machines(files, read(&patches)?)?;
            match machines.pop() {
                Some(machine) => mounts(&machine, format),
                None => bail!("no input"),
            }
        }
    }
}

/// One input file, read and sorted by [`talos::classify`].
struct Input {
    name: String,
    text: String,
    role: FileRole,
}

/// Reads every path: `-` is standard input, a folder gives its `*.yaml` and
/// `*.yml` files (recursively, sorted by path), a file is read whatever its name.
fn read(paths: &[PathBuf]) -> anyhow::Result<Vec<Input>> {
    let mut texts = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read standard input")?;
            texts.push(("-".to_string(), text));
        } else {
            collect(path, true, &mut texts)?;
        }
    }
    texts
        .into_iter()
        .map(|(name, text)| {
            let role = talos::classify(&name, &text)?;
            Ok(Input { name, text, role })
        })
        .collect()
}

fn collect(path: &Path, explicit: bool, out: &mut Vec<(String, String)>) -> anyhow::Result<()> {
    let name = || path.display().to_string();
    if path.is_dir() {
        let mut entries = std::fs::read_dir(path)
            .and_then(|entries| {
                entries
                    .map(|e| e.map(|e| e.path()))
                    .collect::<Result<Vec<_>, _>>()
            })
            .with_context(|| format!("cannot read the folder {}", name()))?;
        entries.sort();
        let before = out.len();
        for entry in entries {
            collect(&entry, false, out)?;
        }
        if explicit && out.len() == before {
            bail!("{}: no *.yaml or *.yml file in this folder", name());
        }
        return Ok(());
    }
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    if explicit || yaml {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", name()))?;
        out.push((name(), text));
    }
    Ok(())
}

/// The inputs of one machine, in merge order.
struct Machine {
    files: Vec<(String, String)>,
}

impl Machine {
    /// The heading of its report: the base config, then what is merged over it.
    fn label(&self) -> String {
        match &self.files[..] {
            [] => String::new(),
            [only] => only.0.clone(),
            [first, rest @ ..] => {
                let rest: Vec<&str> = rest.iter().map(|(n, _)| n.as_str()).collect();
                format!("{} (with {})", first.0, rest.join(", "))
            }
        }
    }

    /// Its first file: the base config when it has one.
    fn name(&self) -> &str {
        self.files.first().map_or("", |(n, _)| n.as_str())
    }
}

/// Sorts the inputs into machines: each base machine config is one, with
/// every `--patch` after it and every schematic; with a single base (or
/// none), every file is merged in the order given. Two bases in one merge are
/// refused, and so is a FILE patch next to two bases (which machine it
/// belongs to is not said).
fn machines(files: Vec<Input>, patches: Vec<Input>) -> anyhow::Result<Vec<Machine>> {
    if let Some(base) = patches.iter().find(|p| p.role == FileRole::Machine) {
        bail!(
            "--patch {name}: {name} is a base machine config (it holds the `version: v1alpha1` document \
talosctl gen config writes), not a patch; Talos merges patches into one machine's config and never two \
configs: give it as FILE (without --patch) to read it as a machine of its own",
            name = base.name
        );
    }
    let pair = |i: Input| (i.name, i.text);
    let bases: Vec<&Input> = files
        .iter()
        .filter(|i| i.role == FileRole::Machine)
        .collect();
    if bases.len() <= 1 {
        let files = files.into_iter().chain(patches).map(pair).collect();
        return Ok(vec![Machine { files }]);
    }
    if let Some(patch) = files.iter().find(|i| i.role == FileRole::Patch) {
        bail!(
            "{} and {} are two machines (each a base machine config), and {patch} is a patch: say which \
machines it applies to with --patch {patch} (merged over every machine), or lint each machine in a call of \
its own with its patches",
            bases[0].name,
            bases[1].name,
            patch = patch.name
        );
    }
    let (bases, schematics): (Vec<Input>, Vec<Input>) =
        files.into_iter().partition(|i| i.role == FileRole::Machine);
    Ok(bases
        .into_iter()
        .map(|base| {
            let mut files = vec![pair(base)];
            files.extend(patches.iter().map(|p| (p.name.clone(), p.text.clone())));
            files.extend(schematics.iter().map(|s| (s.name.clone(), s.text.clone())));
            Machine { files }
        })
        .collect())
}

/// Lints each machine on its own; the status is the worst of them.
fn lint(
    machines: &[Machine],
    options: &talos::LintOptions,
    format: OutputFormat,
    fail_on: FailOn,
) -> anyhow::Result<u8> {
    let mut reports = Vec::with_capacity(machines.len());
    for machine in machines {
        let config = talos::load(&machine.files)?;
        reports.push((machine, longhorn_talos_guard::lint::lint(&config, options)));
    }
    let failed = reports
        .iter()
        .flat_map(|(_, findings)| findings)
        .any(|f| fail_on.fails(f.severity));
    emit(&match format {
        OutputFormat::Text if reports.len() == 1 => talos::render_text(&reports[0].1),
        OutputFormat::Text => reports
            .iter()
            .map(|(machine, findings)| {
                format!(
                    "==> {} <==\n{}",
                    machine.label(),
                    talos::render_text(findings)
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        OutputFormat::Json => {
            let mut list = Vec::new();
            for (machine, findings) in &reports {
                for finding in findings {
                    let mut value = serde_json::to_value(finding)?;
                    if let Some(object) = value.as_object_mut() {
                        object.insert("machine".into(), machine.name().into());
                    }
                    list.push(value);
                }
            }
            format!("{}\n", serde_json::to_string_pretty(&list)?)
        }
    })?;
    Ok(u8::from(failed))
}

fn mounts(machine: &Machine, format: OutputFormat) -> anyhow::Result<u8> {
    let config = talos::load(&machine.files)?;
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
        emit(&talos::mounts_config_yaml_with_notes(
            &mounts,
            &talos::layout_notes(&config),
        ))?;
    }
    Ok(0)
}
