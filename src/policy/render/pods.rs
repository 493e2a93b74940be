//! Words for pods' host paths: LTG-W030 (paths that fail on Talos) and
//! LTG-W031 (a tmpfs).

use super::common::*;

/// The words of this family.
pub(super) static WORDS: Words = Words { denial, short };

fn denial(violations: &[Violation], layout: Option<&Layout>) -> String {
    let items = || violations.iter().filter_map(item).collect::<Vec<_>>();
    match &violations[0].problem {
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
        // Other families' problems: [`words`] never sends them here.
        _ => String::new(),
    }
}

/// One volume of a pod's denial.
fn item(v: &Violation) -> Option<String> {
    match &v.problem {
        Problem::PodHostPath {
            volume,
            path,
            problem,
            ..
        } => Some(pod_volume_item(volume, path, problem)),
        Problem::PodTmpfs {
            volume,
            path,
            mount,
            ..
        } => Some(format!(
            "volume {volume:?}: hostPath {path:?} is on the tmpfs {mount}: what the pod keeps there is gone at the next reboot"
        )),
        _ => None,
    }
}

fn short(v: &Violation) -> String {
    match &v.problem {
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
        // Other families' problems: [`words`] never sends them here.
        _ => String::new(),
    }
}

/// `pod ns/name`, or `DaemonSet ns/name (pod template)`.
pub(super) fn pod_subject(owner: Option<&str>, namespace: &str, pod: &str) -> String {
    match owner {
        None => format!("pod {namespace}/{pod}"),
        Some(kind) => format!("{kind} {namespace}/{pod} (pod template)"),
    }
}

/// A host path volume that fails on Talos.
fn pod_volume_item(volume: &str, path: &str, problem: &PodPathProblem) -> String {
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
pub(super) fn pod_fix(violations: &[Violation], layout: Option<&Layout>) -> String {
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
fn pod_short(ns: &str, pod: &str, volume: &str) -> String {
    warning(format!(
        "pod {ns}/{pod}: hostPath volume {volume} fails on Talos"
    ))
}
