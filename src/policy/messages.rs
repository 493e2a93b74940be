//! Every sentence a user reads in a denial or a warning is built here, so the
//! wording stays consistent: the object, the field, the value, the rule, the fix.

use super::default_disks::{ANNOTATION, LABEL};
use crate::config::{AllowedMount, Level};
use crate::quantity::format_bytes;

/// kubectl prints warnings on one line; Kubernetes advises keeping them short.
pub const MAX_WARNING_CHARS: usize = 119;

/// The label prefix of Pod Security Admission.
pub const PSA_PREFIX: &str = "pod-security.kubernetes.io/";

/// Why Longhorn needs `privileged`, in one clause.
const WHY_PRIVILEGED: &str = "Longhorn's manager, instance-manager and CSI plugin pods run privileged \
containers with hostPath volumes, which Pod Security baseline and restricted reject";

/// Cuts `text` to [`MAX_WARNING_CHARS`] characters, marking the cut.
pub fn warning(text: String) -> String {
    if text.chars().count() <= MAX_WARNING_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_WARNING_CHARS - 3).collect();
    cut.push_str("...");
    cut
}

/// The allowed mounts as a comma-separated list.
pub fn mount_list(mounts: &[AllowedMount]) -> String {
    if mounts.is_empty() {
        return "none configured".to_string();
    }
    mounts
        .iter()
        .map(|m| m.path.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Joins a header and numbered items, then the fix.
pub fn object_denial(header: &str, items: &[String], fix: &str) -> String {
    let mut out = String::from(header);
    for item in items {
        out.push_str("\n  - ");
        out.push_str(item);
    }
    out.push_str("\nFix: ");
    out.push_str(fix);
    out
}

/// What is wrong with a namespace's enforce label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnforceProblem {
    /// Set to a valid level other than privileged.
    Level(Level),
    /// Set to something that is not a level.
    Invalid(String),
    /// Absent, and the cluster default is not privileged.
    Absent(Level),
}

/// The denial for a Longhorn namespace that would not run privileged.
pub fn namespace_enforce(ns: &str, problem: &EnforceProblem) -> String {
    let label = format!("{PSA_PREFIX}enforce");
    let what = match problem {
        EnforceProblem::Level(level) => {
            format!(
                "label {label} is {:?}, but Longhorn needs \"privileged\"",
                level.as_str()
            )
        }
        EnforceProblem::Invalid(value) => format!(
            "label {label} is {value:?}, which is not a Pod Security level (privileged, baseline or \
restricted, lower case); the API server treats it as \"restricted\""
        ),
        EnforceProblem::Absent(default) => format!(
            "label {label} is missing, so the cluster default {:?} applies (Talos defaults every \
namespace but kube-system to baseline)",
            default.as_str()
        ),
    };
    format!(
        "namespace {ns:?}: {what}. {WHY_PRIVILEGED}, so Longhorn would fail to start or upgrade. \
Fix: label the namespace privileged, e.g. kubectl label --overwrite namespace {ns} \
{label}=privileged (Longhorn recommends enforce, audit and warn privileged, each -version latest)"
    )
}

/// The short form of [`namespace_enforce`].
pub fn namespace_enforce_short(ns: &str, problem: &EnforceProblem) -> String {
    let value = match problem {
        EnforceProblem::Level(level) => level.as_str().to_string(),
        EnforceProblem::Invalid(value) => format!("{value:?} (invalid)"),
        EnforceProblem::Absent(default) => format!("unset, default {default}"),
    };
    warning(format!(
        "namespace {ns}: pod-security enforce is {value}; Longhorn needs privileged"
    ))
}

/// A warning for audit/warn labels that will flag every Longhorn pod.
pub fn namespace_noisy_label(ns: &str, mode: &str, value: &str) -> String {
    warning(format!(
        "namespace {ns}: {PSA_PREFIX}{mode}={value} will report every Longhorn pod; use privileged"
    ))
}

/// What is wrong with one Longhorn data path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathProblem {
    /// Not an absolute path (the text says how).
    Invalid(String),
    /// `/` itself.
    Root,
    /// Not inside any allowed mount.
    Outside(String),
    /// A block disk path that is neither a device under /dev nor a PCI address.
    NotDevice,
}

impl PathProblem {
    /// True when the fix is to mount the path into the kubelet.
    fn needs_mount(&self) -> bool {
        matches!(self, PathProblem::Outside(_) | PathProblem::Root)
    }

    fn describe(&self) -> String {
        match self {
            PathProblem::Invalid(why) => format!("is not usable: {why}"),
            PathProblem::Root => "is / (the whole host), which can never hold Longhorn data".into(),
            PathProblem::Outside(mounts) => format!("is outside the allowed mounts ({mounts})"),
            PathProblem::NotDevice => "is a block disk path but neither a device under /dev/ \
(ideally /dev/disk/by-id/...) nor a PCI address like 0000:05:00.0"
                .into(),
        }
    }
}

/// One problem on one disk of a Longhorn node.
pub fn disk_item(disk: &str, path: &str, problem: &PathProblem) -> String {
    format!("disk {disk:?}: path {path:?} {}", problem.describe())
}

/// The short form of [`disk_item`], for warnings.
pub fn disk_item_short(node: &str, disk: &str, path: &str) -> String {
    warning(format!(
        "node {node} disk {disk}: path {path:?} is not a usable Longhorn data path"
    ))
}

/// A disk that was already wrong before this update.
pub fn disk_preexisting(node: &str, disk: &str, path: &str) -> String {
    warning(format!(
        "node {node} disk {disk}: existing path {path:?} is outside the allowed mounts"
    ))
}

/// The user volume a path under `/var/mnt/<name>` would belong to.
fn user_volume_name(path: &str) -> Option<&str> {
    let name = path.strip_prefix("/var/mnt/")?.split('/').next()?;
    let valid = (1..=34).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    valid.then_some(name)
}

fn mount_fix(problems: &[&PathProblem], example: &str) -> String {
    let mut fix = String::new();
    if problems.iter().any(|p| p.needs_mount()) {
        let extra_mount = format!(
            "machine.kubelet.extraMounts: [{{destination: {example}, type: bind, source: {example}, \
options: [bind, rshared, rw]}}]"
        );
        // Under /var/mnt, Talos's own answer is a user volume of that name.
        let how = match user_volume_name(example) {
            Some(name) => format!(
                "a Talos UserVolumeConfig named {name} (Talos mounts it at /var/mnt/{name}), or {extra_mount}"
            ),
            None => {
                format!("{extra_mount}, or a Talos UserVolumeConfig (mounted at /var/mnt/<name>)")
            }
        };
        fix.push_str(&format!(
            "on Talos the kubelet runs in a container and sees only the host paths mounted into it; \
data Longhorn writes anywhere else stays inside that container and is lost. Use a path inside an \
allowed mount, or make the path visible to the kubelet on every node: {how}; then add it to \
allowedMounts in the longhorn-talos-guard config."
        ));
    }
    if problems
        .iter()
        .any(|p| matches!(p, PathProblem::Invalid(_)))
    {
        if !fix.is_empty() {
            fix.push(' ');
        }
        fix.push_str(
            "Write every filesystem disk path as an absolute path, e.g. /var/lib/longhorn.",
        );
    }
    if problems.iter().any(|p| matches!(p, PathProblem::NotDevice)) {
        if !fix.is_empty() {
            fix.push(' ');
        }
        fix.push_str(
            "Give a block disk its device, e.g. /dev/disk/by-id/nvme-..., or its PCI address.",
        );
    }
    fix
}

/// The denial for a Longhorn node with bad disk paths.
pub fn node_denial(
    node: &str,
    items: &[String],
    problems: &[&PathProblem],
    example: &str,
) -> String {
    disks_denial(
        &format!("Longhorn node {node:?}:"),
        items,
        problems,
        example,
    )
}

/// `<subject> N disk problem(s):`, the items, then the fix for their problems.
fn disks_denial(
    subject: &str,
    items: &[String],
    problems: &[&PathProblem],
    example: &str,
) -> String {
    let noun = if items.len() == 1 {
        "problem"
    } else {
        "problems"
    };
    object_denial(
        &format!("{subject} {} disk {noun}:", items.len()),
        items,
        &mount_fix(problems, example),
    )
}

/// The denial for a Kubernetes node whose default-disks annotation has bad paths.
pub fn default_disks_denial(
    node: &str,
    items: &[String],
    problems: &[&PathProblem],
    example: &str,
) -> String {
    disks_denial(
        &format!(
            "Kubernetes node {node:?}: annotation {ANNOTATION} (Longhorn creates these disks because \
the node is labelled {LABEL}=config) has"
        ),
        items,
        problems,
        example,
    )
}

/// A default-disks annotation Longhorn cannot read.
pub fn default_disks_unreadable(node: &str, error: &str) -> String {
    format!(
        "Kubernetes node {node:?}: annotation {ANNOTATION} is not a JSON list of disks ({error}); \
Longhorn would create no default disks on this node. Fix: write it as a JSON list of disks with a \
path each, e.g. [{{\"path\":\"/var/lib/longhorn\",\"allowScheduling\":true}}]."
    )
}

/// The short form of [`default_disks_unreadable`].
pub fn default_disks_unreadable_short(node: &str) -> String {
    warning(format!(
        "node {node}: annotation {ANNOTATION} is not a JSON list of disks"
    ))
}

/// The denial for the `default-data-path` setting.
pub fn setting_denial(name: &str, value: &str, problem: &PathProblem, example: &str) -> String {
    format!(
        "Longhorn setting {name:?}: value {value:?} {}. Fix: {}",
        problem.describe(),
        mount_fix(&[problem], example)
    )
}

/// The short form of [`setting_denial`].
pub fn setting_short(name: &str, value: &str) -> String {
    warning(format!(
        "Longhorn setting {name}: {value:?} is not inside an allowed mount"
    ))
}

/// A block disk on a node without enough hugepages.
pub fn hugepages_item(disk: &str, node: &str, have: u64, need: u64) -> String {
    let reported = if have == 0 {
        "no hugepages-2Mi".to_string()
    } else {
        format!("{} of hugepages-2Mi", format_bytes(have))
    };
    format!(
        "disk {disk:?}: block disk (V2 data engine) on node {node:?}, which reports {reported}; \
the V2 data engine needs at least {}",
        format_bytes(need)
    )
}

/// The fix for missing hugepages.
pub const HUGEPAGES_FIX: &str = "in the node's Talos machine config set machine.sysctls: \
{vm.nr_hugepages: \"1024\"} (1024 x 2 MiB = 2 GiB) and machine.kernel.modules: [{name: nvme_tcp}, \
{name: vfio_pci}], apply it, and wait until the Kubernetes Node reports hugepages-2Mi.";

/// The denial for block disks on a node without hugepages.
pub fn hugepages_denial(node: &str, items: &[String]) -> String {
    object_denial(
        &format!("Longhorn node {node:?}: V2 prerequisites missing:"),
        items,
        HUGEPAGES_FIX,
    )
}

/// The short form of [`hugepages_item`].
pub fn hugepages_short(node: &str, have: u64, need: u64) -> String {
    warning(format!(
        "node {node}: {} hugepages-2Mi, V2 block disks need {}; set vm.nr_hugepages",
        format_bytes(have),
        format_bytes(need)
    ))
}

/// A hugepages look-up that failed.
pub fn hugepages_unknown(node: &str, why: &str) -> String {
    warning(format!(
        "node {node}: hugepages not verified for V2 block disks: {why}"
    ))
}

/// A host path volume outside allowed mounts and system paths.
pub fn pod_volume_item(volume: &str, path: &str, problem: &PathProblem) -> String {
    format!(
        "volume {volume:?}: hostPath {path:?} {}",
        match problem {
            PathProblem::Outside(mounts) => format!(
                "is neither inside an allowed mount ({mounts}) nor one of the system paths Longhorn's pods use"
            ),
            other => other.describe(),
        }
    )
}

/// A Bidirectional mount of an allowed mount whose propagation is not rshared.
pub fn pod_propagation_item(
    container: &str,
    volume: &str,
    path: &str,
    mount: &AllowedMount,
) -> String {
    format!(
        "container {container:?} mounts volume {volume:?} (hostPath {path:?}) Bidirectional, but the \
allowed mount {} is {} in the kubelet, so mounts Longhorn makes there never reach the host",
        mount.path, mount.propagation
    )
}

/// The denial for a Longhorn pod.
pub fn pod_denial(ns: &str, pod: &str, items: &[String], example: &str) -> String {
    object_denial(
        &format!("pod {ns}/{pod}: host paths the kubelet on Talos cannot serve safely:"),
        items,
        &format!(
            "mount the host path into the kubelet with machine.kubelet.extraMounts: [{{destination: \
{example}, type: bind, source: {example}, options: [bind, rshared, rw]}}] (rshared is what \
Bidirectional needs), and list it in allowedMounts with propagation rshared."
        ),
    )
}

/// The short form of a pod problem.
pub fn pod_short(ns: &str, pod: &str, volume: &str) -> String {
    warning(format!(
        "pod {ns}/{pod}: hostPath volume {volume} is not served safely by the kubelet on Talos"
    ))
}
