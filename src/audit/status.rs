//! Longhorn's own view, translated: the conditions longhorn-manager writes
//! on its Node objects (node and per-disk), read as typed status, each
//! turned into a finding that names the Talos cause and fix.
//!
//! Condition types, reasons and messages follow longhorn-manager v1.12.1:
//! `k8s/pkg/apis/longhorn/v1beta2/node.go` (types and reasons),
//! `controller/node_controller.go` (disk UUID and filesystem ID checks) and
//! `controller/monitor/` (disk and environment checks).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{Finding, ObjectRef, Outcome, Severity, render};
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
    fn is_false(&self) -> bool {
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
    fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().flatten().find(|c| c.kind == kind)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    disks: Option<BTreeMap<String, DiskSpec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    #[serde(default)]
    conditions: Option<Vec<Condition>>,
    #[serde(default)]
    disk_status: Option<BTreeMap<String, Option<DiskStatus>>>,
}

#[derive(Debug, Default, Deserialize)]
struct Node {
    #[serde(default)]
    spec: Spec,
    #[serde(default)]
    status: Status,
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

    fn place(&self, cfg: &Config) -> Option<Place> {
        HostPath::parse(self.path())
            .ok()
            .map(|p| host::classify(&p, cfg.host.as_ref()))
    }

    fn is_block(&self) -> bool {
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

/// The translations of one Longhorn Node object's status.
pub fn translate(object: &Value, cfg: &Config) -> Vec<Finding> {
    let Ok(node) = Node::deserialize(object) else {
        return Vec::new();
    };
    let reference = ObjectRef::of(object);
    let name = reference.name.clone();
    let namespace = reference
        .namespace
        .clone()
        .unwrap_or_else(|| cfg.longhorn_namespace.clone());
    let finding = |policy: &'static str, result, severity, message: String| Finding {
        policy,
        rule: name_of(policy).unwrap_or("longhorn-status"),
        result,
        severity,
        object: reference.clone(),
        message,
    };
    let mut out = Vec::new();

    let specs = node.spec.disks.unwrap_or_default();
    let statuses = node.status.disk_status.unwrap_or_default();
    let disks: Vec<Disk<'_>> = statuses
        .iter()
        .filter_map(|(n, s)| {
            s.as_ref().map(|status| Disk {
                name: n,
                spec: specs.get(n),
                status,
            })
        })
        .collect();

    for disk in &disks {
        let Some(ready) = disk.status.condition("Ready").filter(|c| c.is_false()) else {
            continue;
        };
        match ready.reason.as_str() {
            // node_controller.go: "record diskUUID doesn't match the one on the disk".
            "DiskFilesystemChanged" if ready.message.contains("record diskUUID doesn't match") => {
                out.push(finding(
                    DISK_WIPED,
                    Outcome::Fail,
                    Severity::High,
                    render::disk_wiped(&namespace, &name, disk, &ready.message),
                ));
            }
            // node_controller.go: "cannot find disk config file, maybe due to a mount error".
            "DiskFilesystemChanged" if ready.message.contains("cannot find disk config file") => {
                out.push(finding(
                    DISK_CONFIG_MISSING,
                    Outcome::Fail,
                    Severity::High,
                    render::disk_config_missing(&namespace, &name, disk, &ready.message, cfg),
                ));
            }
            // node_controller.go: "disk has same file system ID <id> as other disks [..]".
            "DiskFilesystemChanged" if ready.message.contains("same file system ID") => {
                let others: Vec<&Disk<'_>> = bracketed_names(&ready.message)
                    .iter()
                    .filter_map(|o| disks.iter().find(|d| d.name == o && d.name != disk.name))
                    .collect();
                let on_ephemeral = others
                    .iter()
                    .find(|o| o.place(cfg).is_some_and(|p| p.is_ephemeral()));
                out.push(finding(
                    DISK_EPHEMERAL,
                    Outcome::Fail,
                    Severity::Medium,
                    render::disk_shares_filesystem(
                        &name,
                        disk,
                        &others,
                        on_ephemeral.copied(),
                        cfg.host.as_ref(),
                    ),
                ));
            }
            // controller/monitor/disk_monitor.go: NoDiskInfo when the config
            // file cannot be read or made.
            "NoDiskInfo" => {
                if let Some(place @ (Place::ReadOnlyRoot { .. } | Place::Tmpfs { .. })) =
                    disk.place(cfg)
                {
                    out.push(finding(
                        DISK_UNWRITABLE,
                        Outcome::Fail,
                        Severity::High,
                        render::disk_unwritable(&name, disk, &place, &ready.message, cfg),
                    ));
                }
            }
            _ => {}
        }
    }

    // The same capacity as a disk the host model puts on EPHEMERAL: the
    // other disk is on EPHEMERAL too (siderolabs/talos#13069).
    for disk in &disks {
        if disk.is_block() || disk.status.storage_maximum <= 0 {
            continue;
        }
        let Some(place) = disk.place(cfg) else {
            continue;
        };
        if place.is_ephemeral() || !matches!(place, Place::AssumedVolume { .. } | Place::Volume(_))
        {
            continue;
        }
        let twin = disks.iter().find(|o| {
            o.name != disk.name
                && !o.is_block()
                && o.status.storage_maximum == disk.status.storage_maximum
                && o.place(cfg).is_some_and(|p| p.is_ephemeral())
        });
        if let Some(twin) = twin {
            out.push(finding(
                DISK_EPHEMERAL,
                Outcome::Warn,
                Severity::Medium,
                render::disk_same_capacity(&name, disk, twin, cfg.host.as_ref()),
            ));
        }
    }

    let documents = cfg.host.as_ref().map(|l| l.kubelet_config_document);
    for c in node.status.conditions.iter().flatten() {
        if !c.is_false() {
            continue;
        }
        match c.kind.as_str() {
            "RequiredPackages" | "Schedulable" if c.message.contains("iscsiadm") => {
                out.push(finding(
                    ISCSI_TOOLS,
                    Outcome::Fail,
                    Severity::High,
                    render::iscsi_tools(&name, c),
                ));
            }
            "KernelModulesLoaded" => {
                let modules = bracketed_names(&c.message);
                out.push(finding(
                    KERNEL_MODULES,
                    Outcome::Fail,
                    Severity::High,
                    render::kernel_modules(&name, c, &modules, documents),
                ));
            }
            "HugePagesAvailable" => {
                let need = c
                    .message
                    .split("Required ")
                    .nth(1)
                    .and_then(|r| r.split(',').next())
                    .and_then(|q| crate::base::quantity::parse_bytes(q.trim()).ok())
                    .unwrap_or(cfg.v2_min_hugepages_bytes);
                out.push(finding(
                    HUGEPAGES,
                    Outcome::Fail,
                    Severity::High,
                    render::hugepages(&name, c, need, documents),
                ));
            }
            "Multipathd" if c.reason == "MultipathdIsRunning" => {
                out.push(finding(
                    MULTIPATHD,
                    Outcome::Fail,
                    Severity::High,
                    render::multipathd(&name, c),
                ));
            }
            "MountPropagation" if c.reason == "NoMountPropagationSupport" => {
                out.push(finding(
                    MOUNT_PROPAGATION,
                    Outcome::Fail,
                    Severity::High,
                    render::mount_propagation(&namespace, &name, c),
                ));
            }
            _ => {}
        }
    }
    out
}
