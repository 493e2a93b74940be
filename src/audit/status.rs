//! Longhorn's own view, translated: the conditions longhorn-manager writes
//! on its Node objects (node and per-disk), read as typed status, each
//! turned into a finding that names the Talos cause and fix.
//!
//! Condition types, reasons and messages follow longhorn-manager v1.12.1:
//! `k8s/pkg/apis/longhorn/v1beta2/node.go` (types and reasons),
//! `controller/node_controller.go` (disk UUID and filesystem ID checks) and
//! `controller/monitor/` (disk and environment checks).

use serde::Deserialize;
use serde_json::Value;

use super::finding::{Finding, ObjectRef, Outcome, Severity};
use super::render;
use crate::config::Config;
use crate::host::Place;

use super::longhorn::Node;
pub use super::longhorn::*;

/// One translation found: the ID, the result, the severity and the words.
type Found = (&'static str, Outcome, Severity, String);

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
    let conditions = node.status.conditions.unwrap_or_default();
    let mut found = disks_not_ready(&namespace, &name, &disks, cfg);
    found.extend(same_capacity_as_ephemeral(&name, &disks, cfg));
    found.extend(node_conditions(&namespace, &name, &conditions, cfg));
    found
        .into_iter()
        .map(|(policy, result, severity, message)| Finding {
            policy,
            rule: name_of(policy).unwrap_or("longhorn-status"),
            result,
            severity,
            object: reference.clone(),
            message,
        })
        .collect()
}

/// Disks whose `Ready` condition is false for a reason with a Talos cause.
fn disks_not_ready(namespace: &str, name: &str, disks: &[Disk<'_>], cfg: &Config) -> Vec<Found> {
    let mut out = Vec::new();
    for disk in disks {
        let Some(ready) = disk.status.condition("Ready").filter(|c| c.is_false()) else {
            continue;
        };
        match ready.reason.as_str() {
            // node_controller.go: "record diskUUID doesn't match the one on the disk".
            "DiskFilesystemChanged" if ready.message.contains("record diskUUID doesn't match") => {
                out.push((
                    DISK_WIPED,
                    Outcome::Fail,
                    Severity::High,
                    render::disk_wiped(namespace, name, disk, &ready.message),
                ));
            }
            // node_controller.go: "cannot find disk config file, maybe due to a mount error".
            "DiskFilesystemChanged" if ready.message.contains("cannot find disk config file") => {
                out.push((
                    DISK_CONFIG_MISSING,
                    Outcome::Fail,
                    Severity::High,
                    render::disk_config_missing(namespace, name, disk, &ready.message, cfg),
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
                out.push((
                    DISK_EPHEMERAL,
                    Outcome::Fail,
                    Severity::Medium,
                    render::disk_shares_filesystem(
                        name,
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
                    out.push((
                        DISK_UNWRITABLE,
                        Outcome::Fail,
                        Severity::High,
                        render::disk_unwritable(name, disk, &place, &ready.message, cfg),
                    ));
                }
            }
            _ => {}
        }
    }

    out
}

/// Disks of the same capacity as a disk the host model puts on EPHEMERAL:
/// the other disk is on EPHEMERAL too (siderolabs/talos#13069).
fn same_capacity_as_ephemeral(name: &str, disks: &[Disk<'_>], cfg: &Config) -> Vec<Found> {
    let mut out = Vec::new();
    for disk in disks {
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
            out.push((
                DISK_EPHEMERAL,
                Outcome::Warn,
                Severity::Medium,
                render::disk_same_capacity(name, disk, twin, cfg.host.as_ref()),
            ));
        }
    }

    out
}

/// The node's own conditions that are false for a reason with a Talos fix.
fn node_conditions(
    namespace: &str,
    name: &str,
    conditions: &[Condition],
    cfg: &Config,
) -> Vec<Found> {
    let mut out = Vec::new();
    let documents = cfg.host.as_ref().map(|l| l.kubelet_config_document);
    for c in conditions {
        if !c.is_false() {
            continue;
        }
        match c.kind.as_str() {
            "RequiredPackages" | "Schedulable" if c.message.contains("iscsiadm") => {
                out.push((
                    ISCSI_TOOLS,
                    Outcome::Fail,
                    Severity::High,
                    render::iscsi_tools(name, c),
                ));
            }
            "KernelModulesLoaded" => {
                let modules = bracketed_names(&c.message);
                out.push((
                    KERNEL_MODULES,
                    Outcome::Fail,
                    Severity::High,
                    render::kernel_modules(name, c, &modules, documents),
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
                out.push((
                    HUGEPAGES,
                    Outcome::Fail,
                    Severity::High,
                    render::hugepages(name, c, need, documents),
                ));
            }
            "Multipathd" if c.reason == "MultipathdIsRunning" => {
                out.push((
                    MULTIPATHD,
                    Outcome::Fail,
                    Severity::High,
                    render::multipathd(name, c),
                ));
            }
            "MountPropagation" if c.reason == "NoMountPropagationSupport" => {
                out.push((
                    MOUNT_PROPAGATION,
                    Outcome::Fail,
                    Severity::High,
                    render::mount_propagation(namespace, name, c),
                ));
            }
            _ => {}
        }
    }
    out
}
