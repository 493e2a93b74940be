//! The one renderer: every sentence a person reads in a denial, a warning,
//! `check`'s output or `talos lint`'s default-disk finding is written here
//! from the rules' structured [`Violation`]s, so the wording can change
//! without touching a rule: the object, the field, the value, what happens on
//! a Talos node, and a fix that is safe there.

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

/// kubectl prints warnings on one line; Kubernetes advises keeping them short.
pub const MAX_WARNING_CHARS: usize = 119;

/// Why Longhorn needs `privileged`, in one clause.
const WHY_PRIVILEGED: &str = "Longhorn's manager, instance-manager and CSI plugin pods run privileged \
containers with hostPath volumes, which Pod Security baseline and restricted reject";

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

/// A setting as Longhorn's Helm chart names it: `default-data-path` is
/// `default-data-path (Helm: defaultSettings.defaultDataPath)`.
fn helm_setting(setting: &str) -> String {
    let mut camel = String::new();
    let mut upper = false;
    for c in setting.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            camel.extend(c.to_uppercase());
            upper = false;
        } else {
            camel.push(c);
        }
    }
    format!("{setting} (Helm: defaultSettings.{camel})")
}

/// `pod ns/name`, or `DaemonSet ns/name (pod template)`.
fn pod_subject(owner: Option<&str>, namespace: &str, pod: &str) -> String {
    match owner {
        None => format!("pod {namespace}/{pod}"),
        Some(kind) => format!("{kind} {namespace}/{pod} (pod template)"),
    }
}

/// Who holds the disks, at the head of a disk denial.
fn subject(source: DiskSource, node: &str) -> String {
    match source {
        DiskSource::DefaultDisks => format!(
            "Kubernetes node {node:?}: annotation {ANNOTATION} (Longhorn creates these disks because \
the node is labelled {LABEL}=config) has"
        ),
        _ => format!("Longhorn node {node:?}:"),
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

/// What happens to data at a path with this problem, in one clause.
fn describe(problem: &PathProblem) -> String {
    match problem {
        PathProblem::Invalid(why) => format!("is not usable: {why}"),
        PathProblem::Root => "is / (the whole host), which can never hold Longhorn data".into(),
        PathProblem::ReadOnlyRoot => {
            "is on Talos's read-only root filesystem: Longhorn cannot create \
longhorn-disk.cfg there, so a disk there never becomes Ready"
                .into()
        }
        PathProblem::Tmpfs(mount) => format!(
            "is on the tmpfs {mount}: everything Longhorn writes there is gone at the next reboot, with no error"
        ),
        PathProblem::DevFs => {
            "is inside /dev, which holds device nodes, not data (a V2 block disk \
needs diskType: block)"
                .into()
        }
        PathProblem::KernelFs => {
            "is inside a kernel filesystem (/proc or /sys), which cannot hold data".into()
        }
        PathProblem::NotDevice => "is a block disk path but neither a device under /dev/ \
(ideally /dev/disk/by-id/...) nor a PCI address like 0000:05:00.0"
            .into(),
        PathProblem::DevFilesystem { mount, fs } => format!(
            "is a block disk path inside {mount}, where Talos mounts a {fs} filesystem: what is \
there is a file, not a block device, so Longhorn's V2 data engine has no disk to open"
        ),
    }
}

/// Why a working path keeps its data on EPHEMERAL, in one clause.
fn ephemeral(why: &EphemeralWhy) -> String {
    match why {
        EphemeralWhy::Folder => format!(
            "is a folder on Talos's EPHEMERAL partition ({EPHEMERAL_COST}, and before Talos 1.8 by an upgrade without --preserve)"
        ),
        EphemeralWhy::UndeclaredVolume(name) => format!(
            "is under /var/mnt/{name}, but the machine config declares no volume {name}: it is a plain folder on the EPHEMERAL partition ({EPHEMERAL_COST}), not a disk of its own"
        ),
        EphemeralWhy::DirectoryVolume(name) => format!(
            "is in the user volume {name} of volumeType: directory, a folder on the EPHEMERAL partition ({EPHEMERAL_COST})"
        ),
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
        "node {node} disk {disk}: existing path {path:?} fails or loses data on Talos"
    ))
}

/// A user volume to suggest for data that was meant for `path`.
fn own_disk_fix(path: &str, layout: Option<&Layout>, setting: Option<&str>) -> String {
    if let Some(l) = layout.filter(|l| l.before(1, 10)) {
        let (major, minor) = l.talos_version.unwrap_or((1, 9));
        return format!(
            "Talos {major}.{minor} has no user volumes: keep Longhorn's data under {DATA_PATH} (on EPHEMERAL), \
or upgrade to Talos 1.10 or later and give Longhorn a UserVolumeConfig."
        );
    }
    let name = HostPath::parse(path)
        .ok()
        .and_then(|p| p.as_str().rsplit('/').next().map(str::to_string))
        .map_or_else(|| "longhorn".to_string(), |n| suggest_volume_name(&n));
    let mount = volume_mount_point(&name);
    let then = match setting {
        Some(s) => format!("set {s} to {mount}"),
        None => format!("use {mount} as the disk path"),
    };
    format!(
        "give Longhorn a disk of its own with a Talos UserVolumeConfig ({}); \
Talos mounts it at {mount}, where the kubelet sees it; then {then}.",
        user_volume_inline(&name)
    )
}

/// The fix for disk paths that fail: a place that lasts, never an extraMount
/// (its source would be on the read-only root, and Talos 1.14's KubeletConfig
/// has none).
fn path_fix(
    problems: &[&PathProblem],
    example: &str,
    layout: Option<&Layout>,
    setting: Option<&str>,
) -> String {
    let mut fix = String::new();
    let lasting = problems.iter().any(|p| {
        matches!(
            p,
            PathProblem::Root
                | PathProblem::ReadOnlyRoot
                | PathProblem::Tmpfs(_)
                | PathProblem::DevFs
                | PathProblem::KernelFs
        )
    });
    if lasting {
        fix.push_str(&own_disk_fix(example, layout, setting));
        if !layout.is_some_and(|l| l.before(1, 10)) {
            fix.push_str(&format!(
                " Or keep it under {DATA_PATH}, Longhorn's default (on the EPHEMERAL partition)."
            ));
        }
    }
    let mut add = |text: &str| {
        if !fix.is_empty() {
            fix.push(' ');
        }
        fix.push_str(text);
    };
    if problems
        .iter()
        .any(|p| matches!(p, PathProblem::Invalid(_)))
    {
        add("Write every filesystem disk path as an absolute path, e.g. /var/lib/longhorn.");
    }
    if problems.iter().any(|p| {
        matches!(
            p,
            PathProblem::NotDevice | PathProblem::DevFilesystem { .. }
        )
    }) {
        add("Give a block disk its device, e.g. /dev/disk/by-id/nvme-..., or its PCI address.");
    }
    fix
}

/// `<subject> N disk problem(s):`, the items, then the fix.
fn disks_denial(subject: &str, items: &[String], fix: &str) -> String {
    let noun = if items.len() == 1 {
        "problem"
    } else {
        "problems"
    };
    object_denial(
        &format!("{subject} {} disk {noun}:", items.len()),
        items,
        fix,
    )
}

/// The denial for a Longhorn node with disk paths that fail on Talos.
pub fn node_denial(
    node: &str,
    items: &[String],
    problems: &[&PathProblem],
    example: &str,
) -> String {
    disks_denial(
        &subject(DiskSource::LonghornNode, node),
        items,
        &path_fix(problems, example, None, None),
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
        &subject(DiskSource::DefaultDisks, node),
        items,
        &path_fix(problems, example, None, None),
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
pub fn setting_denial(
    name: &str,
    value: &str,
    problem: &PathProblem,
    layout: Option<&Layout>,
) -> String {
    format!(
        "Longhorn setting {name:?}: value {value:?} {}. Fix: {}",
        describe(problem),
        path_fix(&[problem], value, layout, Some(name))
    )
}

/// The short form of [`setting_denial`].
pub fn setting_short(name: &str, value: &str) -> String {
    warning(format!(
        "Longhorn setting {name}: {value:?} is not a usable data path on Talos"
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
    let modules: Vec<String> = v2_modules_to_load()
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

/// A host path volume that fails on Talos.
pub fn pod_volume_item(volume: &str, path: &str, problem: &PodPathProblem) -> String {
    match problem {
        PodPathProblem::RefusedByApiServer(error) => format!(
            "volume {volume:?}: kube-apiserver refuses this before any webhook is called: {error}"
        ),
        PodPathProblem::Relative => format!(
            "volume {volume:?}: hostPath {path:?} is relative; kube-apiserver accepts it, but containerd \
creates it relative to its own working directory and the container runtime resolves a relative bind \
source against the container's bundle folder, so the container does not get the host folder meant"
        ),
        PodPathProblem::Invalid(why) => {
            format!("volume {volume:?}: hostPath {path:?} is not usable: {why}")
        }
        PodPathProblem::ReadOnlyRoot => format!(
            "volume {volume:?}: hostPath {path:?} is on Talos's read-only root filesystem, where containerd \
cannot create it: the container fails with CreateContainerError (mkdir {path}: read-only file system)"
        ),
        PodPathProblem::TypeCheckUnseen(t) => format!(
            "volume {volume:?}: hostPath {path:?} has type {t}, which the kubelet checks inside its own \
container, and Talos does not mount {path} into it: the pod never starts (hostPath type check failed)"
        ),
        PodPathProblem::FileOrCreateUnseen => format!(
            "volume {volume:?}: hostPath {path:?} has type FileOrCreate: the kubelet creates the file inside \
its own container, which does not see {path}, and containerd then finds no file on the host and makes a \
directory there instead"
        ),
        PodPathProblem::SubPathUnseen {
            container,
            sub_path,
        } => format!(
            "container {container:?} mounts volume {volume:?} with subPath {sub_path:?}: the kubelet makes \
subPath mounts inside its own container, which does not see hostPath {path:?}, so the subPath lands in \
the kubelet's own filesystem (recreated at every kubelet restart) and its data is lost"
        ),
    }
}

/// The fix for pod host paths that fail on Talos.
fn pod_fix(violations: &[Violation], layout: Option<&Layout>) -> String {
    let problems: Vec<(&str, &PodPathProblem)> = violations
        .iter()
        .filter_map(|v| match &v.problem {
            Problem::PodHostPath { path, problem, .. } => Some((path.as_str(), problem)),
            _ => None,
        })
        .collect();
    let mut fix = Vec::new();
    if problems
        .iter()
        .any(|(_, p)| matches!(p, PodPathProblem::ReadOnlyRoot))
    {
        fix.push(format!(
            "keep host data under /var (e.g. {DATA_PATH}/...) or in a user volume under /var/mnt/<name>: \
Talos's root filesystem is read-only."
        ));
    }
    let unseen = problems.iter().find(|(_, p)| {
        matches!(
            p,
            PodPathProblem::TypeCheckUnseen(_)
                | PodPathProblem::FileOrCreateUnseen
                | PodPathProblem::SubPathUnseen { .. }
        )
    });
    if let Some((path, _)) = unseen {
        if layout.is_some_and(|l| l.kubelet_config_document) {
            fix.push(
                "drop the hostPath type or the subPath (an untyped hostPath is not looked at by the kubelet), \
or use a path the kubelet sees (/var/lib/kubelet/..., /var/mnt/<volume>): Talos 1.14's KubeletConfig has no \
extraMounts."
                    .to_string(),
            );
        } else {
            let p = HostPath::parse(path).map_or_else(|_| path.to_string(), |p| p.to_string());
            fix.push(format!(
                "drop the hostPath type or the subPath (an untyped hostPath is not looked at by the kubelet), \
or make the path visible to the kubelet with {} (its source is on /var, which Talos can create).",
                extra_mount_inline(&p)
            ));
        }
    }
    if problems.iter().any(|(_, p)| {
        matches!(
            p,
            PodPathProblem::Invalid(_)
                | PodPathProblem::Relative
                | PodPathProblem::RefusedByApiServer(_)
        )
    }) {
        fix.push(
            "Write every hostPath as an absolute path without '..' components, e.g. /var/lib/longhorn/data."
                .to_string(),
        );
    }
    fix.join(" ")
}

/// The short form of a pod problem.
pub fn pod_short(ns: &str, pod: &str, volume: &str) -> String {
    warning(format!(
        "pod {ns}/{pod}: hostPath volume {volume} fails on Talos"
    ))
}
