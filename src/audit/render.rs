//! Every sentence of the audit's own findings (Longhorn's status translated
//! into the Talos fix) and of its text output. The registry's findings keep
//! the webhook's text, written by [`crate::policy::render`].

use serde_json::json;

use super::finding::{Finding, Inventory, Outcome};
use super::longhorn::{Condition, Disk};
use crate::base::longhorn::{DATA_PATH, hugepages_for};
use crate::base::quantity::format_bytes;
use crate::base::talos::{EPHEMERAL_COST, hugepages_patch, user_volume_inline};
use crate::base::upstream;
use crate::config::Config;
use crate::host::{Layout, Place};
use crate::policy::render as rule_render;
use crate::policy::violation::{DiskSource, PathProblem, Problem, Violation};

pub use super::finding::rule_name;

/// `text` as one word for a POSIX shell: as is when it is safe, else quoted.
pub fn sh_quote(text: &str) -> String {
    let safe = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/:=".contains(&b));
    if safe {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// A JSON Pointer segment (RFC 6901).
fn pointer_segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The name the recovered disk gets: a new name, so that Longhorn cannot
/// match it to the old disk's status before it has dropped that.
pub fn recovered_name(disk: &str) -> String {
    format!("{disk}-recovered")
}

/// The recovery of a wiped disk as `kubectl` commands, one per line.
pub fn recovery_commands(namespace: &str, node: &str, disk: &Disk<'_>) -> Vec<String> {
    let target = format!(
        "kubectl -n {} patch nodes.longhorn.io {}",
        sh_quote(namespace),
        sh_quote(node)
    );
    let disable = json!({"spec": {"disks": {disk.name: {"allowScheduling": false}}}});
    let remove =
        json!([{"op": "remove", "path": format!("/spec/disks/{}", pointer_segment(disk.name))}]);
    let spec = disk.spec;
    let mut added = json!({
        "path": disk.path(),
        "allowScheduling": true,
        "diskType": spec.and_then(|s| s.disk_type.clone()).unwrap_or_else(|| "filesystem".into()),
        "storageReserved": spec.map_or(0, |s| s.storage_reserved),
    });
    if let Some(tags) = spec.and_then(|s| s.tags.clone()).filter(|t| !t.is_empty()) {
        added["tags"] = json!(tags);
    }
    let add = json!({"spec": {"disks": {recovered_name(disk.name): added}}});
    vec![
        format!(
            "{target} --type merge -p {}",
            sh_quote(&disable.to_string())
        ),
        format!("{target} --type json -p {}", sh_quote(&remove.to_string())),
        format!("{target} --type merge -p {}", sh_quote(&add.to_string())),
    ]
}

/// A disk whose folder was wiped: what happened, and the recovery.
pub fn disk_wiped(namespace: &str, node: &str, disk: &Disk<'_>, message: &str) -> String {
    let mut out = format!(
        "Longhorn node {node:?}: disk {:?} ({}) is not ready: Longhorn reports DiskFilesystemChanged \
({}). Its folder was wiped and holds a new longhorn-disk.cfg: a Talos upgrade before 1.8 without \
--preserve, a talosctl reset, or a re-created user volume. The replicas it held are gone.",
        disk.name,
        disk.path(),
        message.trim()
    );
    let replicas: Vec<&String> = disk
        .status
        .scheduled_replica
        .iter()
        .flatten()
        .map(|(k, _)| k)
        .collect();
    if !replicas.is_empty() || disk.status.storage_scheduled != 0 {
        let shown: Vec<&str> = replicas.iter().take(5).map(|s| s.as_str()).collect();
        let more = replicas.len().saturating_sub(shown.len());
        out.push_str(&format!(
            "\nWarning: {} replica{} still scheduled on this disk ({}{}); Longhorn refuses to remove a disk \
while replicas are scheduled on it. Check that each of their volumes has a healthy replica on another \
disk, then delete them (kubectl -n {namespace} delete replicas.longhorn.io <name>) so that Longhorn \
rebuilds them elsewhere, before step 2.",
            replicas.len(),
            if replicas.len() == 1 { " is" } else { "s are" },
            shown.join(", "),
            if more > 0 { format!(", and {more} more") } else { String::new() },
        ));
    }
    out.push_str(&format!(
        "\nFix (Longhorn's Talos guide): disable scheduling on the disk, remove it, add the same path again \
(as {:?}, a new name, so that it is not matched to the old disk's status):",
        recovered_name(disk.name)
    ));
    for (i, cmd) in recovery_commands(namespace, node, disk).iter().enumerate() {
        out.push_str(&format!("\n  {}. {cmd}", i + 1));
    }
    out
}

/// A disk whose `longhorn-disk.cfg` is gone: on a user volume, most likely
/// the volume is not mounted (Longhorn sees the empty mount point); elsewhere
/// the folder was emptied (a tmpfs after a reboot, a reset).
pub fn disk_config_missing(
    namespace: &str,
    node: &str,
    disk: &Disk<'_>,
    message: &str,
    cfg: &Config,
) -> String {
    let head = format!(
        "Longhorn node {node:?}: disk {:?} ({}) is not ready: Longhorn reports DiskFilesystemChanged ({}): \
the folder no longer holds the longhorn-disk.cfg Longhorn wrote there.",
        disk.name,
        disk.path(),
        message.trim()
    );
    let place = crate::base::HostPath::parse(disk.path())
        .ok()
        .map(|p| crate::host::classify(&p, cfg.host.as_ref()));
    match place {
        Some(Place::Volume(_) | Place::AssumedVolume { .. }) => format!(
            "{head} On Talos a path under /var/mnt/<name> is a user volume: when the volume is not mounted \
(a disk selector that matches no disk after a hardware change, a volume removed from the machine \
config) Longhorn finds the mount point empty. Fix: check the node's UserVolumeConfig and the \
volume's status; once it is mounted again the disk becomes Ready with its data. Only if the volume \
was re-created empty, recover the disk as after a wipe:{}",
            numbered(&recovery_commands(namespace, node, disk))
        ),
        Some(Place::Tmpfs { mount }) => format!(
            "{head} {} is on the tmpfs {mount}, emptied at every boot: the data is gone. Fix: move the disk \
to a user volume (the fix of LTG-W010), then remove this one:{}",
            disk.path(),
            numbered(&recovery_commands(namespace, node, disk)[..2])
        ),
        _ => format!(
            "{head} The folder was emptied (a talosctl reset, a Talos upgrade before 1.8 without \
--preserve). Fix: recover the disk with the same path:{}",
            numbered(&recovery_commands(namespace, node, disk))
        ),
    }
}

fn numbered(commands: &[String]) -> String {
    commands
        .iter()
        .enumerate()
        .map(|(i, c)| format!("\n  {}. {c}", i + 1))
        .collect()
}

/// A disk not ready because its path is on the read-only root or a tmpfs.
pub fn disk_unwritable(
    node: &str,
    disk: &Disk<'_>,
    place: &Place,
    message: &str,
    cfg: &Config,
) -> String {
    let (what, problem) = match place {
        Place::Tmpfs { mount } => (
            format!(
                "{} is on the tmpfs {mount}, emptied at every boot",
                disk.path()
            ),
            PathProblem::Tmpfs(mount),
        ),
        _ => (
            format!(
                "{} is on Talos's read-only root filesystem, where longhorn-manager cannot create \
longhorn-disk.cfg",
                disk.path()
            ),
            PathProblem::ReadOnlyRoot,
        ),
    };
    let denial = rule_render::denial(
        &[Violation {
            preexisting: false,
            field: format!("spec.disks.{}.path", disk.name),
            value: disk.path().to_string(),
            problem: Problem::DiskPath {
                source: DiskSource::LonghornNode,
                node: node.to_string(),
                disk: disk.name.to_string(),
                path: disk.path().to_string(),
                problem,
            },
        }],
        cfg.host.as_ref(),
    );
    format!(
        "Longhorn node {node:?}: disk {:?} is not ready: Longhorn reports NoDiskInfo ({}); {what}.\n{denial}",
        disk.name,
        message.trim()
    )
}

fn volume_fix(layout: Option<&Layout>) -> String {
    if layout.is_some_and(|l| l.before(1, 10)) {
        return format!(
            "Talos before 1.10 has no user volumes: keep one disk under {DATA_PATH} per node, or upgrade \
and give Longhorn a UserVolumeConfig."
        );
    }
    format!(
        "declare the volume in the node's machine config ({}); Talos mounts it at /var/mnt/<name>. \
Until then the folder's data is on EPHEMERAL, and is wiped with it.",
        user_volume_inline("<name>")
    )
}

/// A disk that shares its filesystem with other disks of the node.
pub fn disk_shares_filesystem(
    node: &str,
    disk: &Disk<'_>,
    others: &[&Disk<'_>],
    on_ephemeral: Option<&Disk<'_>>,
    layout: Option<&Layout>,
) -> String {
    let names: Vec<String> = others
        .iter()
        .map(|o| format!("{:?} ({})", o.name, o.path()))
        .collect();
    let head = format!(
        "Longhorn node {node:?}: disk {:?} ({}) is not ready: Longhorn reports it on the same filesystem as {}",
        disk.name,
        disk.path(),
        if names.is_empty() {
            "another disk of the node".to_string()
        } else {
            names.join(", ")
        }
    );
    match on_ephemeral {
        Some(e) => format!(
            "{head}; {} is on the EPHEMERAL partition, so {} is a folder on EPHEMERAL too \
({EPHEMERAL_COST}), not a volume of its own. Fix: {}",
            e.path(),
            disk.path(),
            volume_fix(layout)
        ),
        None => format!(
            "{head}: both folders are on one filesystem and Longhorn uses only one. Fix: remove one of \
them from spec.disks, or give each disk a volume of its own: {}",
            volume_fix(layout)
        ),
    }
}

/// A disk with the same capacity as a disk on EPHEMERAL.
pub fn disk_same_capacity(
    node: &str,
    disk: &Disk<'_>,
    twin: &Disk<'_>,
    layout: Option<&Layout>,
) -> String {
    format!(
        "Longhorn node {node:?}: disk {:?} ({}) reports storageMaximum {}, the same as disk {:?} ({}) \
on the EPHEMERAL partition: no volume of its own appears to be mounted at {}, and its data is on EPHEMERAL \
({EPHEMERAL_COST}). Fix: {}",
        disk.name,
        disk.path(),
        format_bytes(disk.status.storage_maximum.max(0) as u64),
        twin.name,
        twin.path(),
        disk.path(),
        volume_fix(layout)
    )
}

/// The Image Factory schematic with the extensions Longhorn's Talos guide asks for.
pub const SCHEMATIC: &str = "customization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/iscsi-tools\n      - siderolabs/util-linux-tools\n";

fn indent(snippet: &str) -> String {
    snippet
        .lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// iscsiadm missing on the node.
pub fn iscsi_tools(node: &str, c: &Condition) -> String {
    format!(
        "Longhorn node {node:?}: {} is False ({}: {}): Talos ships no iscsiadm; it comes with the \
siderolabs/iscsi-tools system extension, which this node's image lacks. Longhorn cannot attach V1 \
volumes here.\nFix: make an Image Factory schematic with the extensions Longhorn's Talos guide lists:\n{}\n\
and upgrade the node to the installer image of that schematic (talosctl upgrade --image \
factory.talos.dev/installer/<schematic id>:<Talos version>; before Talos 1.8 add --preserve, or the \
upgrade wipes /var/lib/longhorn). machine.install.extensions has no effect since Talos 1.10. Avoid the \
installers of Talos {}, whose iscsi-tools (the extensions follow the Talos version of the installer) \
have open-iscsi 2.1.12 without the compatibility patch: volumes stop attaching (siderolabs/extensions#1182, \
longhorn/longhorn#13733); Talos {} or later carries the patch.",
        c.kind,
        c.reason,
        c.message.trim(),
        indent(SCHEMATIC),
        upstream::iscsi_breaking_text(),
        upstream::iscsi_patched_text(),
    )
}

pub use crate::base::talos::modules_patch;

fn by_style(documents: Option<bool>, patch: impl Fn(bool) -> String) -> String {
    match documents {
        Some(d) => indent(&patch(d)),
        None => format!(
            "{}\n  or, for a Talos 1.14 machine config with documents:\n{}",
            indent(&patch(false)),
            indent(&patch(true))
        ),
    }
}

/// Kernel modules not loaded. A module built into Talos's kernel
/// (`nvme_tcp`) is never missing there: it is named as Longhorn's misreading
/// and left out of the fix.
pub fn kernel_modules(
    node: &str,
    c: &Condition,
    modules: &[String],
    documents: Option<bool>,
) -> String {
    let (built_in, to_load): (Vec<String>, Vec<String>) = modules
        .iter()
        .cloned()
        .partition(|m| upstream::talos_builds_in(m));
    let mut text = format!(
        "Longhorn node {node:?}: KernelModulesLoaded is False ({}: {}).",
        c.reason,
        c.message.trim()
    );
    if !built_in.is_empty() {
        text.push_str(&format!(
            " {} is built into Talos's kernel ({}=y), so it is present and no machine config can \
load it; Longhorn counts a built-in as loaded when it reads the kernel config (/proc/config.gz), so \
this part of the report is a misreading: look at the longhorn-manager log of the node.",
            built_in.join(", "),
            built_in
                .iter()
                .filter_map(|m| upstream::TALOS_BUILT_IN_MODULES
                    .iter()
                    .find(|(name, _)| name == m)
                    .map(|(_, option)| *option))
                .collect::<Vec<_>>()
                .join("=y, ")
        ));
        if to_load.is_empty() && !modules.is_empty() {
            return text;
        }
    }
    let to_load = if to_load.is_empty() {
        vec!["<module>".to_string()]
    } else {
        to_load
    };
    text.push_str(&format!(
        " Talos loads a module only when its machine config names it.\nFix: add to the node's machine config:\n{}",
        by_style(documents, |d| modules_patch(&to_load, d))
    ));
    text
}

/// Hugepages missing or too few for the V2 data engine.
pub fn hugepages(node: &str, c: &Condition, need: u64, documents: Option<bool>) -> String {
    let pages = hugepages_for(need);
    format!(
        "Longhorn node {node:?}: HugePagesAvailable is False ({}: {}). The V2 data engine needs {} of \
2 MiB hugepages on the node.\nFix: reserve {pages} pages in the node's machine config, then reboot it:\n{}",
        c.reason,
        c.message.trim(),
        format_bytes(need),
        by_style(documents, |d| hugepages_patch(pages, d))
    )
}

/// multipathd running.
pub fn multipathd(node: &str, c: &Condition) -> String {
    format!(
        "Longhorn node {node:?}: Multipathd is False ({}: {}). On Talos multipathd comes from the \
siderolabs/multipath-tools extension; it claims Longhorn's iSCSI devices and volumes fail to mount.\n\
Fix: drop siderolabs/multipath-tools from the node's Image Factory schematic if nothing else needs it; \
otherwise blacklist Longhorn's devices in multipath.conf: blacklist {{ devnode \"^sd[a-z0-9]+\" }}.",
        c.reason,
        c.message.trim()
    )
}

/// The manager's data mount without Bidirectional propagation.
pub fn mount_propagation(namespace: &str, node: &str, c: &Condition) -> String {
    format!(
        "Longhorn node {node:?}: MountPropagation is False ({}: {}). The longhorn-manager pod's volume \
mount \"longhorn\" ({DATA_PATH}/) must be Bidirectional; something changed the DaemonSet (a kustomize \
patch, a policy engine's mutation). Longhorn's CSI plugin cannot run on the node without it.\nFix: \
restore mountPropagation: Bidirectional on that mount of DaemonSet {namespace}/longhorn-manager (Longhorn's \
chart sets it; helm upgrade with the chart's defaults puts it back).",
        c.reason,
        c.message.trim()
    )
}

/// The audit for a person: each finding with its message indented, then a
/// summary line of what was read and found.
pub fn text(findings: &[Finding], inventory: &Inventory) -> String {
    let mut out = String::new();
    for f in findings {
        out.push_str(&format!(
            "{} {} {} ({}, {})\n",
            match f.result {
                Outcome::Fail => "FAIL",
                Outcome::Warn => "WARN",
            },
            f.policy,
            f.object.display(),
            f.rule,
            f.severity.as_str()
        ));
        for line in f.message.lines() {
            out.push_str(&format!("    {line}\n"));
        }
    }
    let read: Vec<String> = inventory
        .counts()
        .into_iter()
        .map(|(noun, n)| format!("{n} {noun}"))
        .collect();
    let fails = findings
        .iter()
        .filter(|f| f.result == Outcome::Fail)
        .count();
    out.push_str(&format!(
        "{} finding{} ({fails} fail, {} warn); read {}\n",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        findings.len() - fails,
        read.join(", ")
    ));
    out
}
