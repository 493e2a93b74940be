//! The webhook's allowed mounts, derived from a machine config: what the
//! kubelet container can see, rendered as config YAML or as config entries.

use serde::Serialize;

use super::model::{DocumentRef, MachineConfig, VolumeKind};
use crate::base::talos::is_valid_volume_name;
use crate::base::{HostPath, Propagation};

/// What put a host path into the kubelet's view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum MountOrigin {
    /// `machine.kubelet.extraMounts[index]`.
    ExtraMount {
        /// Position in the merged extraMounts list.
        index: usize,
    },
    /// A volume Talos mounts at `/var/mnt/<name>`.
    Volume {
        /// Its document kind.
        kind: VolumeKind,
        /// Its name.
        name: String,
    },
}

/// A host path Longhorn data may live in, as the machine config shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedMount {
    /// The normalised host path.
    pub path: HostPath,
    /// Its propagation in the kubelet container.
    pub propagation: Propagation,
    /// What declared it.
    pub origin: MountOrigin,
    /// The document it came from.
    pub document: DocumentRef,
    /// The 1-based line of the entry.
    pub line: u64,
}

impl DerivedMount {
    /// `file:line (document N, Kind): what`, for comments and messages.
    pub fn describe(&self) -> String {
        let what = match &self.origin {
            MountOrigin::ExtraMount { index } => format!("machine.kubelet.extraMounts[{index}]"),
            MountOrigin::Volume { kind, name } => format!("{kind} {name}"),
        };
        format!(
            "{}:{} (document {}, {}): {what}",
            self.document.file, self.line, self.document.index, self.document.kind
        )
    }
}

/// The propagation an extraMount's options give the kubelet's view.
fn propagation_of(options: &[String]) -> Propagation {
    if options.iter().any(|o| o == "rshared") {
        Propagation::Rshared
    } else if options.iter().any(|o| o == "rslave") {
        Propagation::Rslave
    } else {
        Propagation::Private
    }
}

/// The host paths the kubelet container can see, per the machine config.
///
/// - Each `machine.kubelet.extraMounts` destination, with the propagation
///   its options name (`rshared`, `rslave`, else private). Entries without an
///   absolute destination, or mounting `/`, are skipped (`talos lint`
///   reports them); a later entry for the same path replaces an earlier one.
/// - `/var/mnt/<name>` for every user, existing and external volume with a
///   valid name, as `rslave`. Talos 1.10+ bind-mounts `/var/mnt` into the
///   kubelet container read-only: volumes mounted on the host later still
///   appear inside it (host-to-container propagation), but the kubelet cannot
///   mount or write anything there, so nothing propagates back. `rslave` is
///   what the kubelet's view actually offers; a pod asking for Bidirectional
///   propagation there needs an `rshared` extraMount for that path, which
///   then takes the path's place in this list.
pub fn derive_mounts(config: &MachineConfig) -> Vec<DerivedMount> {
    let mut out: Vec<DerivedMount> = Vec::new();
    for (index, m) in config.extra_mounts.iter().enumerate() {
        let Some(Ok(path)) = m.value.destination.as_deref().map(HostPath::parse) else {
            continue;
        };
        if path.is_root() {
            continue;
        }
        out.retain(|d| d.path != path);
        out.push(DerivedMount {
            path,
            propagation: propagation_of(&m.value.options),
            origin: MountOrigin::ExtraMount { index },
            document: m.origin.clone(),
            line: m.line,
        });
    }
    for v in &config.volumes {
        if !is_valid_volume_name(&v.value.name) {
            continue;
        }
        let Ok(path) = HostPath::parse(&v.value.mount_point()) else {
            continue;
        };
        if out.iter().any(|d| d.path == path) {
            continue;
        }
        out.push(DerivedMount {
            path,
            propagation: Propagation::Rslave,
            origin: MountOrigin::Volume {
                kind: v.value.kind,
                name: v.value.name.clone(),
            },
            document: v.origin.clone(),
            line: v.line,
        });
    }
    out
}

/// Keeps a comment on one line whatever a file name holds.
fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Renders an `allowedMounts:` block for the webhook's config file, with a
/// comment above each entry naming where it came from. An empty list renders
/// as `allowedMounts: []` (the webhook then allows no data path).
pub fn mounts_config_yaml(mounts: &[DerivedMount]) -> String {
    let mut out = String::from(
        "# Allowed mounts derived from the Talos machine config by longhorn-talos-guard.\n",
    );
    if mounts.is_empty() {
        out.push_str(
            "# The machine config makes no host path visible to the kubelet.\nallowedMounts: []\n",
        );
        return out;
    }
    out.push_str("allowedMounts:\n");
    for m in mounts {
        let path = serde_json::Value::String(m.path.as_str().to_string()).to_string();
        out.push_str(&format!(
            "  # {}\n  - path: {path}\n    propagation: {}\n",
            comment_text(&m.describe()),
            m.propagation
        ));
    }
    out
}
