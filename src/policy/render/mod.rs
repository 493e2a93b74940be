//! The one renderer: every sentence a person reads in a denial, a warning,
//! `check`'s output or `talos lint`'s default-disk finding is written here
//! from the rules' structured [`Violation`]s, so the wording can change
//! without touching a rule: the object, the field, the value, what happens on
//! a Talos node, and a fix that is safe there.
//!
//! This file dispatches on the problem; the words of each family of problems
//! are in their own file (namespace, disks, settings, hugepages, pods), each
//! naming the rule IDs it serves: a new family is one new file.

use crate::base::HostPath;
use crate::base::longhorn::{
    CREATE_DEFAULT_DISK_LABEL as LABEL, DATA_PATH, DEFAULT_DISKS_ANNOTATION as ANNOTATION,
    DEFAULT_SETTING_KEY, HUGEPAGE_BYTES, PSA_PREFIX, RELEASES, hugepages_for, v2_modules_to_load,
};
use crate::base::quantity::format_bytes;
use crate::base::talos::{
    EPHEMERAL_COST, extra_mount_inline, suggest_volume_name, user_volume_inline, volume_mount_point,
};
use crate::host::Layout;
use crate::policy::violation::{
    DiskSource, EnforceProblem, EphemeralWhy, PathProblem, PodPathProblem, Problem, Violation,
};

mod disks;
mod hugepages;
mod namespace;
mod pods;
mod settings;

pub use disks::*;
pub use hugepages::*;
pub use namespace::*;
pub use pods::*;
pub use settings::*;

/// kubectl prints warnings on one line; Kubernetes advises keeping them short.
pub const MAX_WARNING_CHARS: usize = 119;

/// The denial message for one rule's violations (all from one object);
/// `layout` is the node's machine config when known (it picks a safe fix).
pub fn denial(violations: &[Violation], layout: Option<&Layout>) -> String {
    let Some(first) = violations.first() else {
        return String::new();
    };
    let items = || violations.iter().filter_map(item).collect::<Vec<_>>();
    match &first.problem {
        Problem::DiskPath {
            source: source @ (DiskSource::LonghornNode | DiskSource::DefaultDisks),
            node,
            ..
        } => {
            let problems: Vec<&PathProblem> = violations
                .iter()
                .filter_map(|v| match &v.problem {
                    Problem::DiskPath { problem, .. } => Some(problem),
                    _ => None,
                })
                .collect();
            let example = violations
                .iter()
                .find_map(|v| match &v.problem {
                    Problem::DiskPath { path, .. } => Some(path.as_str()),
                    _ => None,
                })
                .unwrap_or(DATA_PATH);
            let fix = path_fix(&problems, example, layout, None);
            disks_denial(&subject(*source, node), &items(), &fix)
        }
        Problem::DiskEphemeral {
            source: source @ (DiskSource::LonghornNode | DiskSource::DefaultDisks),
            node,
            path,
            ..
        } => {
            let noun = if violations.len() == 1 {
                "disk"
            } else {
                "disks"
            };
            object_denial(
                &format!(
                    "{} {} {noun} on the EPHEMERAL partition:",
                    subject(*source, node),
                    violations.len()
                ),
                &items(),
                &own_disk_fix(path, layout, None),
            )
        }
        Problem::Hugepages { node, need, .. } => hugepages_denial(node, &items(), *need),
        Problem::PodHostPath {
            owner,
            namespace,
            pod,
            ..
        } => object_denial(
            &format!(
                "{}: host paths that fail on Talos:",
                pod_subject(*owner, namespace, pod)
            ),
            &items(),
            &pod_fix(violations, layout),
        ),
        Problem::PodTmpfs {
            owner,
            namespace,
            pod,
            ..
        } => object_denial(
            &format!(
                "{}: host paths on a tmpfs:",
                pod_subject(*owner, namespace, pod)
            ),
            &items(),
            &format!(
                "keep data under {DATA_PATH} or in a user volume under /var/mnt/<name>; /tmp, /system and /dev/shm are emptied at every boot."
            ),
        ),
        _ => violations
            .iter()
            .filter_map(|v| sentence(v, layout))
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
        Problem::DiskEphemeral {
            disk, path, why, ..
        } => format!("disk {disk:?}: path {path:?} {}", ephemeral(why)),
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
        Problem::PodTmpfs {
            volume,
            path,
            mount,
            ..
        } => format!(
            "volume {volume:?}: hostPath {path:?} is on the tmpfs {mount}: what the pod keeps there is gone at the next reboot"
        ),
        _ => return None,
    })
}

/// A problem whose denial is one whole sentence.
fn sentence(v: &Violation, layout: Option<&Layout>) -> Option<String> {
    Some(match &v.problem {
        Problem::NamespaceEnforce { namespace, problem } => namespace_enforce(namespace, problem),
        Problem::DefaultDisksUnreadable { node, error } => default_disks_unreadable(node, error),
        Problem::DataPathSetting {
            setting,
            value,
            problem,
        } => setting_denial(setting, value, problem, layout),
        Problem::DiskEphemeral {
            source: DiskSource::Setting,
            node: setting,
            path,
            why,
            ..
        } => format!(
            "Longhorn setting {setting:?}: value {path:?} {}. Fix: {}",
            ephemeral(why),
            own_disk_fix(path, layout, Some(setting))
        ),
        Problem::DiskEphemeral {
            source: DiskSource::SettingsConfigMap,
            node: configmap,
            disk: setting,
            path,
            why,
        } => format!(
            "ConfigMap {configmap}: {DEFAULT_SETTING_KEY} sets {setting} to {path:?}, which {}. Fix: {}",
            ephemeral(why),
            own_disk_fix(path, layout, Some(&helm_setting(setting)))
        ),
        Problem::DefaultSettingPath {
            configmap,
            setting,
            value,
            problem,
        } => format!(
            "ConfigMap {configmap}: {DEFAULT_SETTING_KEY} sets {setting} to {value:?}, which {}; \
longhorn-manager creates that Setting from it, and a failure there stops the manager at start. Fix: {}",
            describe(problem),
            path_fix(&[problem], value, layout, Some(&helm_setting(setting)))
        ),
        Problem::DefaultSettingUnreadable { configmap, error } => format!(
            "ConfigMap {configmap}: {DEFAULT_SETTING_KEY} is not a YAML map of settings Longhorn can read \
({error}); longhorn-manager reads it at start and stops on the error. Fix: write it as a flat map of \
setting names, e.g. default-data-path: /var/mnt/longhorn (Helm: defaultSettings.defaultDataPath)."
        ),
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
        // A Longhorn node's or a default disk that was bad before this request.
        Problem::DiskPath {
            node, disk, path, ..
        } if v.preexisting => disk_preexisting(node, disk, path),
        Problem::DiskPath {
            source: DiskSource::Setting,
            node,
            path,
            ..
        }
        | Problem::DataPathSetting {
            setting: node,
            value: path,
            ..
        } => setting_short(node, path),
        Problem::DiskPath {
            node, disk, path, ..
        } => disk_item_short(node, disk, path),
        Problem::DiskEphemeral {
            source,
            node,
            disk,
            path,
            ..
        } => warning(match source {
            DiskSource::Setting => format!(
                "Longhorn setting {node}: {path:?} is on EPHEMERAL (system disk, wiped by talosctl reset)"
            ),
            DiskSource::SettingsConfigMap => format!(
                "ConfigMap {node}: {disk} {path:?} is on EPHEMERAL (system disk, wiped by talosctl reset)"
            ),
            _ => format!(
                "node {node} disk {disk}: {path:?} is on EPHEMERAL (system disk, wiped by talosctl reset)"
            ),
        }),
        Problem::DiskTypeUnknown {
            node,
            disk,
            disk_type,
            ..
        } => warning(format!(
            "node {node} disk {disk}: diskType {disk_type:?} is not filesystem or block; its path was not checked"
        )),
        Problem::DefaultSettingPath {
            configmap,
            setting,
            value,
            ..
        } => warning(format!(
            "ConfigMap {configmap}: {setting} {value:?} is not a usable data path on Talos"
        )),
        Problem::DefaultSettingUnreadable { configmap, .. } => warning(format!(
            "ConfigMap {configmap}: {DEFAULT_SETTING_KEY} is not readable YAML; longhorn-manager would not start"
        )),
        Problem::UnreleasedSetting { setting, .. } => warning(format!(
            "Longhorn {RELEASES} has no setting {setting}; engine binaries, sockets, logs stay in {DATA_PATH}"
        )),
        Problem::DefaultSettingUnreleased {
            configmap, setting, ..
        } => {
            let name = configmap.rsplit('/').next().unwrap_or(configmap);
            warning(format!(
                "ConfigMap {name}: Longhorn {RELEASES} skips {setting}; its files stay in {DATA_PATH}"
            ))
        }
        Problem::DefaultSettingIgnoredKey { configmap, key } => {
            let name = configmap.rsplit('/').next().unwrap_or(configmap);
            warning(format!(
                "ConfigMap {name}: data.{key} is ignored; Longhorn reads {DEFAULT_SETTING_KEY}"
            ))
        }
        Problem::DefaultDisksUnreadable { node, .. } => default_disks_unreadable_short(node),
        Problem::Hugepages {
            node, have, need, ..
        } => hugepages_short(node, *have, *need),
        Problem::HugepagesUnknown { node, why } => hugepages_unknown(node, why),
        Problem::PodHostPath {
            owner: None,
            namespace,
            pod,
            volume,
            ..
        } => pod_short(namespace, pod, volume),
        Problem::PodHostPath {
            owner: Some(kind),
            namespace,
            pod,
            volume,
            ..
        } => warning(format!(
            "{kind} {namespace}/{pod}: template hostPath volume {volume} fails on Talos"
        )),
        Problem::PodTmpfs {
            owner,
            namespace,
            pod,
            volume,
            mount,
            ..
        } => warning(format!(
            "{}: hostPath volume {volume} is on the tmpfs {mount}, emptied at every boot",
            pod_subject(*owner, namespace, pod)
        )),
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
