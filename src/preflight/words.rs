//! Every sentence `talos preflight` prints, in one place.

use super::check::size_of;
use super::{Extension, Fact, Hugepages, Missing, ServiceState, Volume};
use crate::base::upstream;

/// Names of the checks a note says were skipped.
pub const CHECK_EXTENSIONS: &str = "installed extensions (iscsi-tools, util-linux-tools)";
/// See [`CHECK_EXTENSIONS`].
pub const CHECK_SERVICES: &str = "running services (ext-iscsid, ext-multipathd)";
/// See [`CHECK_EXTENSIONS`].
pub const CHECK_MODULES: &str = "V2 kernel modules (vfio_pci, uio_pci_generic)";
/// See [`CHECK_EXTENSIONS`].
pub const CHECK_HUGEPAGES: &str = "V2 hugepages";
/// See [`CHECK_EXTENSIONS`].
pub const CHECK_DISKS: &str = "the volumes behind Longhorn's disk paths";
/// See [`CHECK_EXTENSIONS`].
pub const CHECK_CONFIG: &str = "talos lint of the running machine config (--read-config)";

fn why(m: &Missing) -> String {
    match m {
        Missing::Refused(t) => format!(
            "Talos refused the certificate's roles ({t}); the running machine config is sensitive and only os:admin may read it"
        ),
        Missing::Unsupported(t) => format!("this Talos does not have it ({t})"),
        Missing::Failed(t) => t.clone(),
    }
}

pub fn unreadable(m: &Missing) -> String {
    match m {
        Missing::Refused(t) => format!(
            "the node refused the talosconfig's certificate ({t}); talos preflight needs a certificate with the os:reader role (talosctl config new --roles os:reader)"
        ),
        other => format!(
            "cannot read the node through the Talos API: {}; nothing was checked on it (is it up, and is it a node of the endpoint's cluster?)",
            why(other)
        ),
    }
}

pub fn skipped(what: &str, m: &Missing) -> String {
    format!("skipped {what}: {}", why(m))
}

pub fn missing_extensions(version: &str, missing: &[&str], installed: &[Extension]) -> String {
    let have = if installed.is_empty() {
        "none".to_string()
    } else {
        installed
            .iter()
            .map(|e| format!("{} {}", e.name, e.version))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "the node (Talos {version}) does not have {} installed (installed: {have}): Longhorn needs iscsi-tools (iscsid and iscsiadm, to attach V1 volumes; without it: `failed to execute iscsiadm: No such file or directory`, siderolabs/talos#9134) and util-linux-tools (fstrim); build an installer from a schematic with them at the Image Factory and upgrade the node to it (talosctl upgrade --image factory.talos.dev/installer/<schematic>:{version})",
        missing.join(" and ")
    )
}

pub fn schematic_fix(installed: &[Extension], missing: &[&str]) -> String {
    let mut fix = String::from("customization:\n  systemExtensions:\n    officialExtensions:\n");
    for e in installed {
        fix.push_str(&format!("      - siderolabs/{}\n", e.name));
    }
    for m in missing {
        fix.push_str(&format!("      - {m}\n"));
    }
    fix
}

pub fn open_iscsi(release: &str) -> String {
    format!(
        "the node runs Talos {release}, whose siderolabs/iscsi-tools has open-iscsi 2.1.12 without the compatibility patch (only Talos {broken} ship it): iscsiadm refuses the node records other open-iscsi versions wrote (`Unknown parameter name node.session.conn_reopen_log_freq`, siderolabs/extensions#1182) and Longhorn's volumes stop attaching; upgrade the node to a release where 2.1.12 is patched ({fixed}); records already written stay in /var/lib/iscsi/nodes/",
        broken = upstream::iscsi_breaking_text(),
        fixed = upstream::iscsi_patched_text(),
    )
}

pub fn upgrade_fix(node: &str, release: &str) -> String {
    let line = release.split('.').take(2).collect::<Vec<_>>().join(".") + ".";
    let patched: Vec<&str> = upstream::iscsi_patched_releases().collect();
    let to = patched
        .iter()
        .find(|r| r.starts_with(&line))
        .or(patched.last())
        .copied()
        .unwrap_or("1.13.7");
    format!("talosctl -n {node} upgrade --image factory.talos.dev/installer/<schematic>:v{to}\n")
}

pub fn iscsid_not_running(state: Option<&Fact<ServiceState>>) -> String {
    let state = match state {
        Some(Ok(s)) => {
            let last: Vec<String> = s
                .events
                .iter()
                .rev()
                .take(3)
                .map(|(state, msg)| format!("[{state}] {msg}"))
                .collect();
            if last.is_empty() {
                format!(" (state {})", s.state)
            } else {
                format!(
                    " (state {}; last events, newest first: {})",
                    s.state,
                    last.join("; ")
                )
            }
        }
        Some(Err(m)) => format!(" (its state could not be read: {})", why(m)),
        None => " (Talos does not list it)".to_string(),
    };
    format!(
        "iscsi-tools is installed but its service ext-iscsid is not running{state}: Longhorn cannot attach V1 volumes on this node; read its state and logs (siderolabs/extensions#1006)"
    )
}

pub fn service_fix(node: &str, service: &str) -> String {
    format!("talosctl -n {node} service {service}\ntalosctl -n {node} logs {service}\n")
}

pub fn multipathd_running(config: Option<&Fact<bool>>) -> String {
    let config = match config {
        Some(Ok(true)) => "Talos wrote a configuration for it (ExtensionServiceConfigStatus multipathd); its content is sensitive: check that it blacklists them (talos preflight --read-config, with os:admin, lints it: LTG-T004)".to_string(),
        // The extension takes its /etc/multipath.conf from an
        // ExtensionServiceConfig named multipathd (siderolabs/extensions
        // storage/multipath-tools/README.md, v1.14.0-rc.1).
        Some(Ok(false)) => "Talos wrote no configuration for it (no ExtensionServiceConfigStatus multipathd), so no multipath.conf of an ExtensionServiceConfig multipathd blacklists them: give it one with the blacklist below (talos lint's LTG-T004 fix)".to_string(),
        Some(Err(m)) => format!("whether it has a configuration is unknown ({}); check that the multipath configuration has the blacklist", why(m)),
        None => "check that the multipath configuration has the blacklist".to_string(),
    };
    format!(
        "ext-multipathd is running: multipathd claims Longhorn's iSCSI devices unless its configuration blacklists them (Longhorn's node condition Multipathd); {config}, or remove siderolabs/multipath-tools from the schematic"
    )
}

pub fn multipath_fix() -> String {
    "blacklist {\n    devnode \"^sd[a-z0-9]+\"\n}\n".to_string()
}

pub fn v2_modules() -> String {
    "V2: neither vfio_pci nor uio_pci_generic is live on the node: the V2 data engine cannot hand NVMe disks to SPDK (nvme_tcp is built into Talos's kernel and needs nothing); load vfio_pci with the machine config".to_string()
}

pub fn v2_uio() -> String {
    "V2: uio_pci_generic is not live: Longhorn's environment check looks for vfio_pci, uio_pci_generic and nvme_tcp and sets KernelModulesLoaded=False until each is loaded or built in".to_string()
}

pub fn hugepages(h: &Hugepages, pages: u64) -> String {
    let asked = match &h.asked {
        Some(v) => format!("Talos wrote vm.nr_hugepages = {v}"),
        None => "Talos wrote no vm.nr_hugepages".to_string(),
    };
    format!(
        "V2: the kernel reserved {} hugepages of {} kiB; the V2 data engine needs {pages} of 2 MiB (2 GiB, Longhorn's data-engine-memory-size default); {asked} (fewer may be reserved than asked when memory is fragmented: a `hugepages=` kernel argument reserves them at boot)",
        h.reserved, h.size_kib
    )
}

pub fn hugepages_other_size(h: &Hugepages) -> String {
    format!(
        "skipped V2 hugepages: the node's default hugepage size is {} kiB ({} reserved), and MachineService/Memory (/proc/meminfo) counts only that pool; the V2 data engine uses 2 MiB pages: read the Kubernetes Node's hugepages-2Mi capacity",
        h.size_kib, h.reserved
    )
}

fn ephemeral_text(ephemeral: Option<&Volume>) -> String {
    match ephemeral {
        Some(v) if !v.parent_location.is_empty() || !v.location.is_empty() => format!(
            "EPHEMERAL ({} on {})",
            size_of(v),
            if v.parent_location.is_empty() {
                &v.location
            } else {
                &v.parent_location
            }
        ),
        Some(v) => format!("EPHEMERAL ({})", size_of(v)),
        None => "EPHEMERAL".to_string(),
    }
}

pub fn no_volume(path: &str, name: &str, ephemeral: Option<&Volume>) -> String {
    format!(
        "disk path {path}: the node has no volume {name} (no VolumeStatus u-{name}, e-{name} or x-{name}): the path is a plain folder on {}, shared with the node's images and logs and wiped by a reset (siderolabs/talos#13069); declare a UserVolumeConfig {name}",
        ephemeral_text(ephemeral)
    )
}

pub fn user_volume_fix(name: &str) -> String {
    crate::base::talos::user_volume_document(name, None)
}

pub fn volume_not_ready(path: &str, name: &str, v: &Volume) -> String {
    let error = if v.error_message.is_empty() {
        String::new()
    } else {
        format!(": Talos says {:?}", v.error_message)
    };
    format!(
        "disk path {path}: the user volume {name} is in phase {}{error}; until it is ready, /var/mnt/{name} is a folder on EPHEMERAL and Longhorn's data lands there",
        v.phase
    )
}

pub fn volume_not_mounted(path: &str, name: &str, v: &Volume) -> String {
    format!(
        "disk path {path}: the user volume {name} is in phase {} ({} {}) but no mount targets /var/mnt/{name}; Longhorn's data would land on EPHEMERAL",
        v.phase,
        size_of(v),
        v.filesystem
    )
}

pub fn volume_status_fix(node: &str, id: &str) -> String {
    format!(
        "talosctl -n {node} get volumestatus {id} -o yaml\ntalosctl -n {node} get discoveredvolumes\n"
    )
}

pub fn directory_volume(path: &str, name: &str, ephemeral: Option<&Volume>) -> String {
    format!(
        "disk path {path}: the user volume {name} is of type directory, a folder on {}: no disk of its own, and a reset wipes it",
        ephemeral_text(ephemeral)
    )
}

pub fn on_ephemeral(path: &str, ephemeral: Option<&Volume>) -> String {
    format!(
        "disk path {path} has no volume of its own: Longhorn's data shares {} with the node's images and logs",
        ephemeral_text(ephemeral)
    )
}

pub fn running_config_name(node: &str) -> String {
    format!("{node} (running config)")
}
