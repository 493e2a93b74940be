//! LTG-W030: host path volumes of pods created in the Longhorn namespace,
//! judged for what really fails on Talos: a path on the read-only root
//! outside the trees Talos ships (containerd cannot create it:
//! `CreateContainerError`), and the places where the kubelet's own view
//! matters: a typed hostPath, `FileOrCreate` or a `subPath` on a host path
//! the kubelet container does not see. Everything Longhorn's own pods mount
//! (the whole host, `/dev`, `/proc`, `/sys`, `/boot`, `/etc`, `/lib/modules`,
//! `/var/lib/kubelet/...`, `/var/lib/longhorn/...` untyped or
//! `DirectoryOrCreate`, the disk paths) passes on every Talos layout.

use std::borrow::Cow;

use crate::base::{AllowedMount, HostPath, Mode};
use crate::config::Config;
use crate::host::{self, Place};
use crate::policy::disks::containing_mount;
use crate::policy::objects::{Pod, Volume};
use crate::policy::registry::{Outcome, Rule, no_facts};
use crate::policy::violation::PodPathProblem;
use crate::policy::{Facts, Kind, Operation, Phase, Problem, Request, Subject, Violation};

/// The rule. Volumes are immutable after creation, so only CREATE is judged.
pub static RULE: Rule = Rule {
    id: "LTG-W030",
    group: "podHostPaths",
    default_mode: Mode::Enforce,
    summary: "host path volumes of pods in the Longhorn namespace can be served on Talos",
    phase: Phase::Validate,
    kinds: &[Kind::Pod],
    operations: &[Operation::Create],
    warn_only_users: &[],
    facts: no_facts,
    check,
};

/// The paths the operator vouches for, for a pod: its node's when it is
/// bound to one that has its own list, else the global list and every node's
/// list (a DaemonSet pod may land on any node).
pub(crate) fn pod_mounts<'c>(pod: &Pod, cfg: &'c Config) -> Cow<'c, [AllowedMount]> {
    if let Some(node) = pod.spec.node_name.as_deref()
        && cfg.node_allowed_mounts.contains_key(node)
    {
        return Cow::Borrowed(cfg.mounts_for_node(node));
    }
    if cfg.node_allowed_mounts.is_empty() {
        return Cow::Borrowed(&cfg.allowed_mounts);
    }
    let mut all = cfg.allowed_mounts.clone();
    for list in cfg.node_allowed_mounts.values() {
        for m in list {
            if !all.contains(m) {
                all.push(m.clone());
            }
        }
    }
    Cow::Owned(all)
}

/// A pod of the Longhorn namespace with its namespace and display name.
pub(crate) fn longhorn_pod<'r>(
    req: &'r Request<'_>,
    cfg: &Config,
) -> Option<(&'r Pod<'r>, &'r str, &'r str)> {
    let Subject::Pod(pair) = &req.subject else {
        return None;
    };
    let pod = pair.object.as_ref()?;
    let ns = pod.metadata.namespace.as_deref().unwrap_or(&req.namespace);
    if ns != cfg.longhorn_namespace {
        return None;
    }
    let name = pod.metadata.name.as_deref().unwrap_or(&req.name);
    let name = if name.is_empty() {
        "(generated name)"
    } else {
        name
    };
    Some((pod, ns, name))
}

/// True when the kubelet's view of `place` certainly lacks what the host
/// has there: a writable host area (EPHEMERAL or a volume) it does not see.
/// (On the read-only root or a tmpfs the kubelet's own image has folders of
/// the same names, so nothing certain can be said.)
fn kubelet_certainly_lacks(path: &HostPath, place: &Place, cfg: &Config) -> bool {
    let writable_area = matches!(
        place,
        Place::Ephemeral | Place::LonghornData | Place::Volume(_) | Place::UndeclaredVolume { .. }
    );
    writable_area && host::kubelet_sees(path, cfg.host.as_ref()) == Some(false)
}

fn problem_of(
    pod: &Pod,
    volume: &Volume,
    cfg: &Config,
    mounts: &[AllowedMount],
) -> Vec<PodPathProblem> {
    let Some(host) = &volume.host_path else {
        return Vec::new();
    };
    let path = match HostPath::parse(&host.path) {
        Ok(p) => p,
        Err(e) => return vec![PodPathProblem::Invalid(e.to_string())],
    };
    if containing_mount(&path, mounts).is_some() {
        return Vec::new();
    }
    let place = host::classify(&path, cfg.host.as_ref());
    if place == (Place::ReadOnlyRoot { system_tree: false }) {
        return vec![PodPathProblem::ReadOnlyRoot];
    }
    if !kubelet_certainly_lacks(&path, &place, cfg) {
        return Vec::new();
    }
    let mut out = Vec::new();
    match host.path_type.as_deref().unwrap_or_default() {
        "" | "DirectoryOrCreate" => {}
        "FileOrCreate" => out.push(PodPathProblem::FileOrCreateUnseen),
        other => out.push(PodPathProblem::TypeCheckUnseen(other.to_string())),
    }
    for container in pod.spec.all_containers() {
        for m in container
            .volume_mounts
            .iter()
            .filter(|m| m.name == volume.name)
        {
            let sub = m
                .sub_path
                .as_deref()
                .or(m.sub_path_expr.as_deref())
                .filter(|s| !s.is_empty());
            if let Some(sub) = sub {
                out.push(PodPathProblem::SubPathUnseen {
                    container: container.name.to_string(),
                    sub_path: sub.to_string(),
                });
            }
        }
    }
    out
}

fn check(req: &Request<'_>, cfg: &Config, _: &Facts) -> Outcome {
    let mut out = Outcome::default();
    let Some((pod, ns, name)) = longhorn_pod(req, cfg) else {
        return out;
    };
    let mounts = pod_mounts(pod, cfg);
    for (i, volume) in pod.spec.volumes.iter().enumerate() {
        for problem in problem_of(pod, volume, cfg, &mounts) {
            let path = volume
                .host_path
                .as_ref()
                .map(|h| h.path.to_string())
                .unwrap_or_default();
            out.violations.push(Violation {
                field: format!("spec.volumes[{i}].hostPath"),
                value: path.clone(),
                problem: Problem::PodHostPath {
                    namespace: ns.to_string(),
                    pod: name.to_string(),
                    volume: volume.name.to_string(),
                    path,
                    problem,
                },
            });
        }
    }
    out
}
