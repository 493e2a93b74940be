//! Words for disk paths: LTG-W010 (a Longhorn node's disks), LTG-W012 (the
//! default-disks annotation) and LTG-W013 (a path on EPHEMERAL), and the path
//! clauses and fixes LTG-W011 and LTG-W014 share.

use super::common::*;

/// The words of this family.
pub(super) static WORDS: Words = Words { denial, short };

fn denial(violations: &[Violation], layout: Option<&Layout>) -> String {
    let items = || violations.iter().filter_map(item).collect::<Vec<_>>();
    match &violations[0].problem {
        Problem::DiskPath { source, node, .. } => {
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
            source, node, path, ..
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
        _ => sentences(violations, layout, |v, _| match &v.problem {
            Problem::DefaultDisksUnreadable { node, error } => {
                Some(default_disks_unreadable(node, error))
            }
            _ => None,
        }),
    }
}

/// One disk of a multi-disk denial.
fn item(v: &Violation) -> Option<String> {
    match &v.problem {
        Problem::DiskPath {
            disk,
            path,
            problem,
            ..
        } => Some(disk_item(disk, path, problem)),
        Problem::DiskEphemeral {
            disk, path, why, ..
        } => Some(format!("disk {disk:?}: path {path:?} {}", ephemeral(why))),
        _ => None,
    }
}

fn short(v: &Violation) -> String {
    match &v.problem {
        // A Longhorn node's or a default disk that was bad before this request.
        Problem::DiskPath {
            node, disk, path, ..
        } if v.preexisting => disk_preexisting(node, disk, path),
        Problem::DiskPath {
            node, disk, path, ..
        } => disk_item_short(node, disk, path),
        // LTG-W015: say that the node itself reported it, so the warning is
        // not mistaken for LTG-W013's reading of the machine config.
        Problem::DiskEphemeral {
            node,
            disk,
            path,
            why: EphemeralWhy::NodeReports(name, behind),
            ..
        } => warning(format!(
            "node {node} disk {disk}: {path:?} is on EPHEMERAL: the node reports {}",
            reported_short(name, behind)
        )),
        Problem::DiskEphemeral {
            node, disk, path, ..
        } => on_ephemeral_short(&format!("node {node} disk {disk}:"), path),
        Problem::DiskTypeUnknown {
            node,
            disk,
            disk_type,
            ..
        } => warning(format!(
            "node {node} disk {disk}: diskType {disk_type:?} is not filesystem or block; its path was not checked"
        )),
        Problem::DefaultDisksUnreadable { node, .. } => default_disks_unreadable_short(node),
        // Other families' problems: [`words`] never sends them here.
        _ => String::new(),
    }
}

/// Who holds the disks, at the head of a disk denial.
pub(super) fn subject(source: DiskSource, node: &str) -> String {
    match source {
        DiskSource::DefaultDisks => format!(
            "Kubernetes node {node:?}: annotation {ANNOTATION} (Longhorn creates these disks because \
the node is labelled {LABEL}=config) has"
        ),
        _ => format!("Longhorn node {node:?}:"),
    }
}

/// What happens to data at a path with this problem, in one clause.
pub(super) fn describe(problem: &PathProblem) -> String {
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
pub(super) fn ephemeral(why: &EphemeralWhy) -> String {
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
        EphemeralWhy::NodeReports(name, behind) => format!(
            "is under /var/mnt/{name}, and the node reports {}: the data would land on the EPHEMERAL partition ({EPHEMERAL_COST}), not on a disk of its own",
            reported(name, behind)
        ),
    }
}

/// What a node reported behind `/var/mnt/<name>`, in a few words.
fn reported(name: &str, behind: &crate::host::Behind) -> String {
    use crate::host::Behind;
    match behind {
        Behind::OwnVolume => format!("the ready volume {name}"),
        Behind::Nothing => format!("no volume {name} (talosctl get volumestatus u-{name})"),
        Behind::NotReady { id, phase } => {
            format!("its volume {id} in phase {phase} (talosctl get volumestatus {id})")
        }
        Behind::Directory { id } => format!("its volume {id} of type directory"),
        Behind::NotMounted { id } => format!("its volume {id} not mounted at /var/mnt/{name}"),
    }
}

/// [`reported`] in fewer words, for a warning's one line.
fn reported_short(name: &str, behind: &crate::host::Behind) -> String {
    use crate::host::Behind;
    match behind {
        Behind::OwnVolume => format!("the ready volume {name}"),
        Behind::Nothing => format!("no volume {name}"),
        Behind::NotReady { id, phase } => format!("volume {id} in phase {phase}"),
        Behind::Directory { id } => format!("volume {id} of type directory"),
        Behind::NotMounted { id } => format!("volume {id} not mounted there"),
    }
}

/// One problem on one disk of a Longhorn node.
fn disk_item(disk: &str, path: &str, problem: &PathProblem) -> String {
    format!("disk {disk:?}: path {path:?} {}", describe(problem))
}

/// The short form of [`disk_item`], for warnings.
fn disk_item_short(node: &str, disk: &str, path: &str) -> String {
    warning(format!(
        "node {node} disk {disk}: path {path:?} is not a usable Longhorn data path"
    ))
}

/// A disk that was already wrong before this update.
fn disk_preexisting(node: &str, disk: &str, path: &str) -> String {
    warning(format!(
        "node {node} disk {disk}: existing path {path:?} fails or loses data on Talos"
    ))
}

/// A user volume to suggest for data that was meant for `path`.
pub(super) fn own_disk_fix(path: &str, layout: Option<&Layout>, setting: Option<&str>) -> String {
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
pub(super) fn path_fix(
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
pub(super) fn disks_denial(subject: &str, items: &[String], fix: &str) -> String {
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

/// A default-disks annotation Longhorn cannot read.
fn default_disks_unreadable(node: &str, error: &str) -> String {
    format!(
        "Kubernetes node {node:?}: annotation {ANNOTATION} is not a JSON list of disks ({error}); \
Longhorn would create no default disks on this node. Fix: write it as a JSON list of disks with a \
path each, e.g. [{{\"path\":\"/var/lib/longhorn\",\"allowScheduling\":true}}]."
    )
}

/// The short form of [`default_disks_unreadable`].
fn default_disks_unreadable_short(node: &str) -> String {
    warning(format!(
        "node {node}: annotation {ANNOTATION} is not a JSON list of disks"
    ))
}
