//! The webhook's allowed mounts, derived from a machine config: what the
//! kubelet container can see, rendered as config YAML or as config entries.

use serde::Serialize;

use super::model::{DocumentRef, MachineConfig, Sourced, VolumeKind};
use crate::base::longhorn::DATA_PATH;
use crate::base::talos::is_valid_volume_name;
use crate::base::{HostPath, Propagation};
use crate::host::{self, DeclaredVolume, Layout, Place, VolumeType};

/// The node layout a machine config describes, for the host model: its
/// volumes (with their types), its extraMounts, whether it uses a
/// `KubeletConfig` document, and the Talos version of its installer.
pub fn layout(config: &MachineConfig) -> Layout {
    Layout {
        volumes: config
            .volumes
            .iter()
            .filter(|v| is_valid_volume_name(&v.value.name))
            .map(|v| DeclaredVolume {
                name: v.value.name.clone(),
                kind: v.value.kind.as_str(),
                volume_type: match v.value.kind {
                    VolumeKind::UserVolumeConfig => {
                        VolumeType::from_user_volume(v.value.volume_type.as_deref())
                    }
                    _ => Some(VolumeType::Mounted),
                },
            })
            .collect(),
        extra_mounts: config
            .extra_mounts
            .iter()
            .filter_map(|m| HostPath::parse(m.value.destination.as_deref()?).ok())
            .filter(|p| !p.is_root())
            .collect(),
        kubelet_config_document: config.kubelet_config.is_some(),
        talos_version: config.talos_version().map(|v| (v.major, v.minor)),
        system_volumes: host::SYSTEM_VOLUMES
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| config.system_volumes.iter().any(|v| v.value == *id))
            .collect(),
        workload_isolation: config.workload_isolation.as_ref().is_some_and(|w| w.value),
    }
}

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
        /// `partition`, `disk`, `directory` (on EPHEMERAL) or `mounted`.
        #[serde(rename = "volumeType", skip_serializing_if = "Option::is_none")]
        volume_type: Option<VolumeType>,
    },
    /// Longhorn's own default data and control path, which its pods mount
    /// whatever `default-data-path` is (on EPHEMERAL).
    LonghornDefault,
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
            MountOrigin::Volume {
                kind,
                name,
                volume_type,
            } => match volume_type {
                Some(VolumeType::Directory) => {
                    format!("{kind} {name} (volumeType: directory, a folder on EPHEMERAL)")
                }
                Some(t) => format!("{kind} {name} ({})", t.as_str()),
                None => format!("{kind} {name}"),
            },
            MountOrigin::LonghornDefault => {
                return format!(
                    "{DATA_PATH}: Longhorn's default data path and control files (its pods mount it on every node; on EPHEMERAL)"
                );
            }
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

/// The data locations the host model finds in a machine config, for the
/// webhook's `allowedMounts`:
///
/// - every user, existing and external volume with a valid name, at
///   `/var/mnt/<name>` (with its type; a `directory` volume is listed, and
///   its comment says it is a folder on EPHEMERAL);
/// - each `machine.kubelet.extraMounts` destination that can hold data on
///   Talos (not on the read-only root, a tmpfs or a kernel filesystem:
///   `talos lint` reports those), with the propagation its options name;
/// - always `/var/lib/longhorn`: Longhorn's pods mount its control paths
///   there whatever the config says, so the list never drops it.
///
/// The kubelet sees `/var/mnt` (read-only, Talos 1.10+): volumes there appear
/// in its container as `rslave`.
pub fn derive_mounts(config: &MachineConfig) -> Vec<DerivedMount> {
    let layout = layout(config);
    let mut out: Vec<DerivedMount> = Vec::new();
    for (index, m) in config.extra_mounts.iter().enumerate() {
        let Some(Ok(path)) = m.value.destination.as_deref().map(HostPath::parse) else {
            continue;
        };
        let holds_data = !matches!(
            host::classify(&path, Some(&layout)),
            Place::HostRoot
                | Place::ReadOnlyRoot { .. }
                | Place::Tmpfs { .. }
                | Place::DevFs
                | Place::KernelFs
        );
        if !holds_data {
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
    for (v, declared) in config
        .volumes
        .iter()
        .filter(|v| is_valid_volume_name(&v.value.name))
        .zip(&layout.volumes)
    {
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
                volume_type: declared.volume_type,
            },
            document: v.origin.clone(),
            line: v.line,
        });
    }
    let longhorn = HostPath::parse(DATA_PATH).expect("Longhorn's data path is absolute");
    if !out.iter().any(|d| d.path == longhorn) {
        let document = config
            .legacy
            .clone()
            .or_else(|| config.documents.first().cloned())
            .unwrap_or(DocumentRef {
                file: config.inputs.first().cloned().unwrap_or_default(),
                index: 0,
                kind: String::new(),
                name: None,
                line: 0,
                foreign: false,
            });
        out.push(DerivedMount {
            path: longhorn,
            propagation: Propagation::Rslave,
            origin: MountOrigin::LonghornDefault,
            line: document.line,
            document,
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

/// `file:line (document N, Kind[ name])`, where a value was read.
fn place_of<T>(value: &Sourced<T>) -> String {
    let mut kind = value.origin.kind.clone();
    if let Some(name) = &value.origin.name {
        kind = format!("{kind} {name}");
    }
    format!(
        "{}:{} (document {}, {kind})",
        value.origin.file, value.line, value.origin.index
    )
}

/// What the machine config says about the node's layout beyond its data
/// locations, one sentence each, for the head of [`mounts_config_yaml`]:
/// Talos 1.14's workload isolation (when the config has a
/// `SecurityProfileConfig`) and the system volumes it puts on partitions of
/// their own.
pub fn layout_notes(config: &MachineConfig) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(w) = &config.workload_isolation {
        out.push(if w.value {
            format!(
                "Workload isolation is on ({} sets workloadIsolation: true): containerd, the kubelet and every pod \
run in Talos's sandbox, a PID and mount namespace whose mounts are the host's, so each path below is the same \
filesystem there; a hostPID pod sees the sandbox's processes (PID 1 is sandboxd), not machined or extension \
services such as ext-iscsid.",
                place_of(w)
            )
        } else {
            format!(
                "Workload isolation is off ({} leaves workloadIsolation unset or false): containerd, the kubelet \
and the pods run on the host.",
                place_of(w)
            )
        });
    }
    for (id, mount) in host::SYSTEM_VOLUMES {
        if let Some(v) = config.system_volumes.iter().find(|v| v.value == id) {
            out.push(format!(
                "{mount} is a partition of its own, not a folder on EPHEMERAL ({}).",
                place_of(v)
            ));
        }
    }
    out
}

/// Renders an `allowedMounts:` block for the webhook's config file, with a
/// comment above each entry naming where it came from. An empty list renders
/// as `allowedMounts: []` (the webhook then allows no data path).
pub fn mounts_config_yaml(mounts: &[DerivedMount]) -> String {
    mounts_config_yaml_with_notes(mounts, &[])
}

/// [`mounts_config_yaml`] with `notes` (see [`layout_notes`]) as comments
/// under its first line.
pub fn mounts_config_yaml_with_notes(mounts: &[DerivedMount], notes: &[String]) -> String {
    let mut out = String::from(
        "# Data locations the Talos host model finds in the machine config (longhorn-talos-guard talos mounts).\n",
    );
    for note in notes {
        out.push_str(&format!("# {}\n", comment_text(note)));
    }
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
