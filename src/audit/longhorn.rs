//! Longhorn's own status as the audit reads it: the IDs of the status
//! translations (LTG-A...) with their names, and the typed conditions and
//! disks of a `nodes.longhorn.io` object. Below both [`super::status`] (the
//! translations) and [`super::render`] (their words); moved here from
//! `status.rs`, which re-exports it.
//!
//! Condition types, reasons and messages follow longhorn-manager v1.12.1
//! (`k8s/pkg/apis/longhorn/v1beta2/node.go`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::base::HostPath;
use crate::config::Config;
use crate::host::{self, Place};

/// A disk whose folder was wiped (`DiskFilesystemChanged`, diskUUID mismatch).
pub const DISK_WIPED: &str = "LTG-A001";
/// A disk Longhorn cannot use because its path is on the read-only root or a tmpfs.
pub const DISK_UNWRITABLE: &str = "LTG-A002";
/// A disk that is in fact on the EPHEMERAL partition.
pub const DISK_EPHEMERAL: &str = "LTG-A003";
/// `iscsiadm` missing: no `siderolabs/iscsi-tools` extension.
pub const ISCSI_TOOLS: &str = "LTG-A004";
/// Kernel modules Longhorn checks for are not loaded.
pub const KERNEL_MODULES: &str = "LTG-A005";
/// Hugepages for the V2 data engine missing or too few.
pub const HUGEPAGES: &str = "LTG-A006";
/// multipathd runs on the node.
pub const MULTIPATHD: &str = "LTG-A007";
/// The manager's data mount lacks Bidirectional propagation.
pub const MOUNT_PROPAGATION: &str = "LTG-A008";
/// A disk whose `longhorn-disk.cfg` is gone (`DiskFilesystemChanged`, no config file).
pub const DISK_CONFIG_MISSING: &str = "LTG-A009";

/// Every translation: ID, short name, one-line summary.
pub const TRANSLATIONS: [(&str, &str, &str); 9] = [
    (
        DISK_WIPED,
        "disk-wiped",
        "a disk's folder was wiped (DiskFilesystemChanged): recover it with the same path",
    ),
    (
        DISK_UNWRITABLE,
        "disk-unwritable",
        "a disk is not ready (NoDiskInfo) because its path is on Talos's read-only root or a tmpfs",
    ),
    (
        DISK_EPHEMERAL,
        "disk-on-ephemeral",
        "a disk that looks like its own volume is on the EPHEMERAL partition",
    ),
    (
        ISCSI_TOOLS,
        "iscsi-tools",
        "iscsiadm is missing: the node's image lacks siderolabs/iscsi-tools",
    ),
    (
        KERNEL_MODULES,
        "kernel-modules",
        "kernel modules Longhorn needs are not loaded",
    ),
    (
        HUGEPAGES,
        "hugepages",
        "the V2 data engine lacks 2 MiB hugepages on the node",
    ),
    (
        MULTIPATHD,
        "multipathd",
        "multipathd runs on the node and claims Longhorn's devices",
    ),
    (
        MOUNT_PROPAGATION,
        "mount-propagation",
        "the manager's data mount is not Bidirectional",
    ),
    (
        DISK_CONFIG_MISSING,
        "disk-config-missing",
        "a disk's longhorn-disk.cfg is gone: a user volume not mounted, or an emptied folder",
    ),
];

/// The short name of a translation's ID.
pub fn name_of(id: &str) -> Option<&'static str> {
    TRANSLATIONS.iter().find(|t| t.0 == id).map(|t| t.1)
}

/// A condition as longhorn-manager writes it (`type`, `status`, `reason`, `message`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `type`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    #[serde(default)]
    pub status: String,
    /// The reason, CamelCase.
    #[serde(default)]
    pub reason: String,
    /// The message.
    #[serde(default)]
    pub message: String,
}

impl Condition {
    pub(super) fn is_false(&self) -> bool {
        self.status == "False"
    }
}

/// A disk as `spec.disks` declares it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DiskSpec {
    /// The path (a folder, or a device for block disks).
    #[serde(default)]
    pub path: String,
    /// `filesystem` or `block`.
    #[serde(default)]
    pub disk_type: Option<String>,
    /// Whether replicas may be scheduled there.
    #[serde(default)]
    pub allow_scheduling: bool,
    /// Bytes kept free.
    #[serde(default)]
    pub storage_reserved: i64,
    /// Disk tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// A disk's status (`status.diskStatus.<name>`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DiskStatus {
    /// Ready, Schedulable (nullable).
    #[serde(default)]
    pub conditions: Option<Vec<Condition>>,
    /// The filesystem's size, in bytes.
    #[serde(default)]
    pub storage_maximum: i64,
    /// Bytes reserved by scheduled replicas.
    #[serde(default)]
    pub storage_scheduled: i64,
    /// Replica name to size (nullable).
    #[serde(default)]
    pub scheduled_replica: Option<BTreeMap<String, i64>>,
    /// The UUID Longhorn recorded.
    #[serde(default, rename = "diskUUID")]
    pub disk_uuid: String,
    /// The path Longhorn saw.
    #[serde(default)]
    pub disk_path: String,
}

impl DiskStatus {
    pub(super) fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().flatten().find(|c| c.kind == kind)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Spec {
    #[serde(default)]
    pub(super) disks: Option<BTreeMap<String, DiskSpec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Status {
    #[serde(default)]
    pub(super) conditions: Option<Vec<Condition>>,
    #[serde(default)]
    pub(super) disk_status: Option<BTreeMap<String, Option<DiskStatus>>>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Node {
    #[serde(default)]
    pub(super) spec: Spec,
    #[serde(default)]
    pub(super) status: Status,
}

/// One disk of a node, spec and status together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk<'a> {
    /// The disk's name (the key of `spec.disks`).
    pub name: &'a str,
    /// The spec, when the disk is still in `spec.disks`.
    pub spec: Option<&'a DiskSpec>,
    /// The status.
    pub status: &'a DiskStatus,
}

impl Disk<'_> {
    /// The path: the spec's, else the one Longhorn saw.
    pub fn path(&self) -> &str {
        match self.spec {
            Some(s) if !s.path.is_empty() => &s.path,
            _ => &self.status.disk_path,
        }
    }

    pub(super) fn place(&self, cfg: &Config) -> Option<Place> {
        HostPath::parse(self.path())
            .ok()
            .map(|p| host::classify(&p, cfg.host.as_ref()))
    }

    pub(super) fn is_block(&self) -> bool {
        self.spec.and_then(|s| s.disk_type.as_deref()) == Some("block")
    }
}

/// The names inside the first `[...]` of a Go-formatted message: a slice
/// (`[nvme_tcp vfio_pci]`) or a map (`map[CONFIG_NVME_TCP:nvme_tcp]`, the values).
pub fn bracketed_names(message: &str) -> Vec<String> {
    let Some(start) = message.find('[') else {
        return Vec::new();
    };
    let rest = &message[start + 1..];
    let inner = rest.split(']').next().unwrap_or("");
    inner
        .split_whitespace()
        .map(|t| t.rsplit(':').next().unwrap_or(t).to_string())
        .filter(|t| !t.is_empty())
        .collect()
}
