//! Talos Linux machine configs: load and merge them, lint them against
//! Longhorn's Talos guide, and derive the webhook's allowed mounts from them.
//!
//! ```
//! use longhorn_talos_guard::talos::{self, LintOptions};
//!
//! let worker = "version: v1alpha1\nmachine:\n  kubelet:\n    extraMounts:\n      - destination: /var/lib/longhorn\n        type: bind\n        source: /var/lib/longhorn\n        options: [bind, rshared, rw]\n";
//! let config = talos::load(&[("worker.yaml".to_string(), worker.to_string())]).unwrap();
//! let findings = talos::lint(&config, &LintOptions::default());
//! assert_eq!(talos::exit_code(&findings), 0);
//! let mounts = talos::derive_mounts(&config);
//! assert_eq!(mounts[0].path.as_str(), "/var/lib/longhorn");
//! ```

pub mod api;
mod inline;
mod lint;
mod merge;
mod model;
mod mounts;
mod patch;
mod tree;
mod validate;

pub use inline::{inline_manifests_patch, inline_manifests_patch_of};
pub use lint::{
    Finding, LintOptions, Severity, at, codes, exit_code, lint, render_finding, render_text,
};
pub use model::{
    DocumentRef, ExtraMount, LEGACY_KIND, MachineConfig, PodSecurity, SCHEMATIC_KIND, Sourced,
    TalosApiAccess, TalosVersion, Volume, VolumeKind,
};
pub use mounts::{
    DerivedMount, MountOrigin, derive_mounts, layout, layout_notes, mounts_config_yaml,
    mounts_config_yaml_with_notes,
};
pub use validate::KNOWN_KEYS;

/// Why the inputs could not be read as Talos machine configs. The CLI exits
/// with status 2 on any of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TalosError {
    /// The text is not YAML, or a document is not a mapping of the expected shape.
    #[error("{file}{}: cannot parse as a Talos machine config: {message}", position(*.line, *.column))]
    Parse {
        /// The input's file name.
        file: String,
        /// 1-based line of the error, when the parser knows it.
        line: Option<u64>,
        /// 1-based column of the error, when the parser knows it.
        column: Option<u64>,
        /// The parser's message.
        message: String,
    },
    /// The file holds more YAML documents than the reader takes.
    #[error(
        "{file}: more than {limit} YAML documents in one file; a Talos machine config holds a few, so this is not read (the limit is {limit})"
    )]
    TooManyDocuments {
        /// The input's file name.
        file: String,
        /// The most documents read from one file.
        limit: usize,
    },
    /// The file holds no Talos document at all.
    #[error("{file}: not a Talos machine config, patch or schematic: {found}")]
    NotTalos {
        /// The input's file name.
        file: String,
        /// What the file holds instead (`the file is empty`, `found a
        /// Kubernetes Deployment (apps/v1)`, ...).
        found: String,
    },
    /// A document of a named kind (`UserVolumeConfig`, `KernelModuleConfig`, ...) has no `name`.
    #[error(
        "{file}:{line} (document {index}): the {kind} document has no `name`; Talos needs one to mount or load it"
    )]
    MissingName {
        /// The input's file name.
        file: String,
        /// 1-based document position in the file.
        index: usize,
        /// 1-based line the document starts on.
        line: u64,
        /// The document's kind.
        kind: String,
    },
}

/// What one input file is, as `talos lint` and `talos mounts` sort their
/// files into machines (see [`classify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    /// A base machine config: it holds the `version: v1alpha1` document
    /// `talosctl gen config` writes. One machine each.
    Machine,
    /// A patch: Talos documents, or a `machine:`/`cluster:` fragment without
    /// `version:`. Merged over a machine's config.
    Patch,
    /// Only Image Factory schematics (`customization:`): they describe the
    /// machine's image, so they apply to every machine.
    Schematic,
}

/// Reads one input and says whether it is a base machine config, a patch or
/// a schematic. A file with no Talos document in it (empty, a Kubernetes
/// manifest, a talosconfig, any other YAML) is [`TalosError::NotTalos`],
/// saying what was found; a file that mixes Talos and other documents is
/// read as Talos (the others are listed and not read, as [`load`] does).
pub fn classify(file: &str, text: &str) -> Result<FileRole, TalosError> {
    merge::classify(file, text)
}

fn position(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// Parses and merges machine configs, patches and schematics.
///
/// `inputs` are `(file name, text)` pairs in the order Talos would apply
/// them: the base config first, then each patch. Each text is a YAML stream
/// of one or more documents. The merge rules are described on
/// [`MachineConfig`].
pub fn load(inputs: &[(String, String)]) -> Result<MachineConfig, TalosError> {
    merge::load(inputs)
}
