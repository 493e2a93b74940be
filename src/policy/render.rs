//! The one renderer: every sentence a person reads in a denial, a warning,
//! `check`'s output or `talos lint`'s default-disk finding is written here
//! from the rules' structured [`Violation`]s, so the wording can change
//! without touching a rule: the object, the field, the value, the rule, the fix.

use crate::base::longhorn::{
    CREATE_DEFAULT_DISK_LABEL as LABEL, DATA_PATH, DEFAULT_DISKS_ANNOTATION as ANNOTATION,
    HUGEPAGE_BYTES, PSA_PREFIX, V2_MODULES, hugepages_for,
};
use crate::base::quantity::format_bytes;
use crate::base::talos::{extra_mount_inline, volume_name_of};
use crate::base::{AllowedMount, HostPath};
use crate::policy::violation::{DiskSource, EnforceProblem, PathProblem, Problem, Violation};

/// kubectl prints warnings on one line; Kubernetes advises keeping them short.
pub const MAX_WARNING_CHARS: usize = 119;

/// Why Longhorn needs `privileged`, in one clause.
const WHY_PRIVILEGED: &str = "Longhorn's manager, instance-manager and CSI plugin pods run privileged \
containers with hostPath volumes, which Pod Security baseline and restricted reject";

/// The denial message for one rule's violations (all from one object).
pub fn denial(violations: &[Violation]) -> String {
    let Some(first) = violations.first() else {
        return String::new();
    };
    match &first.problem {
        Problem::DiskPath { source, node, .. } => {
            let items: Vec<String> = violations.iter().filter_map(item).collect();
            let problems: Vec<&PathProblem> = violations
                .iter()
                .filter_map(|v| match &v.problem {
                    Problem::DiskPath { problem, .. } => Some(problem),
                    _ => None,
                })
                .collect();
            let example = violations
                .iter()
                .filter_map(|v| match &v.problem {
                    Problem::DiskPath { path, problem, .. } if *problem != PathProblem::Root => {
                        HostPath::parse(path).ok()
                    }
                    _ => None,
                })
                .next()
                .map_or_else(|| DATA_PATH.to_string(), |p| p.to_string());
            match source {
                DiskSource::LonghornNode => node_denial(node, &items, &problems, &example),
                DiskSource::DefaultDisks => default_disks_denial(node, &items, &problems, &example),
            }
        }
        Problem::Hugepages { node, need, .. } => {
            let items: Vec<String> = violations.iter().filter_map(item).collect();
            hugepages_denial(node, &items, *need)
        }
        Problem::PodHostPath { namespace, pod, .. }
        | Problem::PodPropagation { namespace, pod, .. } => {
            let items: Vec<String> = violations.iter().filter_map(item).collect();
            let example = violations
                .iter()
                .filter_map(|v| match &v.problem {
                    Problem::PodHostPath {
                        path,
                        problem: PathProblem::Outside(_),
                        ..
                    } => HostPath::parse(path).ok(),
                    _ => None,
                })
                .next()
                .map_or_else(|| DATA_PATH.to_string(), |p| p.to_string());
            pod_denial(namespace, pod, &items, &example)
        }
        _ => violations
            .iter()
            .filter_map(sentence)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// One item of a multi-item denial (a disk, a volume), if the problem is one.
fn item(v: &Violation) -> Option<String> {
    Some(match &v.problem {
        Problem::DiskPath {
            disk,
            path,
            problem,
            ..
        } => disk_item(disk, path, problem),
        Problem::Hugepages {
            node,
            disk,
            have,
            need,
        } => hugepages_item(disk, node, *have, *need),
        Problem::PodHostPath {
            volume,
            path,
            problem,
            ..
        } => pod_volume_item(volume, path, problem),
        Problem::PodPropagation {
            container,
            volume,
            path,
            mount,
            ..
        } => pod_propagation_item(container, volume, path, mount),
        _ => return None,
    })
}

/// A problem whose denial is one whole sentence.
fn sentence(v: &Violation) -> Option<String> {
    Some(match &v.problem {
        Problem::NamespaceEnforce { namespace, problem } => namespace_enforce(namespace, problem),
        Problem::DefaultDisksUnreadable { node, error } => default_disks_unreadable(node, error),
        Problem::DataPathSetting {
            setting,
            value,
            problem,
        } => {
            let example = HostPath::parse(value)
                .ok()
                .filter(|p| !p.is_root())
                .map_or_else(|| DATA_PATH.to_string(), |p| p.to_string());
            setting_denial(setting, value, problem, &example)
        }
        _ => return None,
    })
}

/// The short form of a violation (under 120 characters): what `warn` mode
/// and problems that never deny put in the response's `warnings`.
pub fn short(v: &Violation) -> String {
    match &v.problem {
        Problem::NamespaceEnforce { namespace, problem } => {
            namespace_enforce_short(namespace, problem)
        }
        Problem::NamespaceNoisyLabel {
            namespace,
            mode,
            value,
        } => namespace_noisy_label(namespace, mode, value),
        Problem::DiskPath {
            node, disk, path, ..
        } => disk_item_short(node, disk, path),
        Problem::DiskPreexisting { node, disk, path } => disk_preexisting(node, disk, path),
        Problem::DefaultDisksUnreadable { node, .. } => default_disks_unreadable_short(node),
        Problem::DataPathSetting { setting, value, .. }
        | Problem::DataPathSettingUnchanged { setting, value } => setting_short(setting, value),
        Problem::Hugepages {
            node, have, need, ..
        } => hugepages_short(node, *have, *need),
        Problem::HugepagesUnknown { node, why } => hugepages_unknown(node, why),
        Problem::PodHostPath {
            namespace,
            pod,
            volume,
            ..
        }
        | Problem::PodPropagation {
            namespace,
            pod,
            volume,
            ..
        } => pod_short(namespace, pod, volume),
    }
}

/// The warnings for a list of violations: one short form each, except that
/// the block disks of one node share one hugepages warning.
pub fn warnings(violations: &[Violation]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(violations.len());
    for v in violations {
        let text = short(v);
        if matches!(v.problem, Problem::Hugepages { .. }) && out.contains(&text) {
            continue;
        }
        out.push(text);
    }
    out
}

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
pub fn mount_list(mounts: &[HostPath]) -> String {
    if mounts.is_empty() {
        return "none configured".to_string();
    }
    mounts
        .iter()
        .map(HostPath::as_str)
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

/// True when the fix is to mount the path into the kubelet.
fn needs_mount(problem: &PathProblem) -> bool {
    matches!(problem, PathProblem::Outside(_) | PathProblem::Root)
}

fn describe(problem: &PathProblem) -> String {
    match problem {
        PathProblem::Invalid(why) => format!("is not usable: {why}"),
        PathProblem::Root => "is / (the whole host), which can never hold Longhorn data".into(),
        PathProblem::Outside(mounts) => {
            format!("is outside the allowed mounts ({})", mount_list(mounts))
        }
        PathProblem::NotDevice => "is a block disk path but neither a device under /dev/ \
(ideally /dev/disk/by-id/...) nor a PCI address like 0000:05:00.0"
            .into(),
    }
}

/// One problem on one disk of a Longhorn node.
pub fn disk_item(disk: &str, path: &str, problem: &PathProblem) -> String {
    format!("disk {disk:?}: path {path:?} {}", describe(problem))
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

fn mount_fix(problems: &[&PathProblem], example: &str) -> String {
    let mut fix = String::new();
    if problems.iter().any(|p| needs_mount(p)) {
        let extra_mount = extra_mount_inline(example);
        // Under /var/mnt, Talos's own answer is a user volume of that name.
        let how = match volume_name_of(example) {
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
        describe(problem),
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

/// `2Gi` as people write it in prose: `2 GiB`.
fn prose_bytes(bytes: u64) -> String {
    let s = format_bytes(bytes);
    match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => format!("{} {}B", &s[..i], &s[i..]),
        None => format!("{s} bytes"),
    }
}

/// The fix for missing hugepages, for a minimum of `need` bytes.
pub fn hugepages_fix(need: u64) -> String {
    let pages = hugepages_for(need);
    let modules: Vec<String> = V2_MODULES
        .iter()
        .map(|m| format!("{{name: {m}}}"))
        .collect();
    format!(
        "in the node's Talos machine config set machine.sysctls: {{vm.nr_hugepages: \"{pages}\"}} \
({pages} x 2 MiB = {}) and machine.kernel.modules: [{}], apply it, and wait until the Kubernetes \
Node reports hugepages-2Mi.",
        prose_bytes(pages * HUGEPAGE_BYTES),
        modules.join(", ")
    )
}

/// The denial for block disks on a node without `need` bytes of hugepages.
pub fn hugepages_denial(node: &str, items: &[String], need: u64) -> String {
    object_denial(
        &format!("Longhorn node {node:?}: V2 prerequisites missing:"),
        items,
        &hugepages_fix(need),
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
                "is neither inside an allowed mount ({}) nor one of the system paths Longhorn's pods use",
                mount_list(mounts)
            ),
            other => describe(other),
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
