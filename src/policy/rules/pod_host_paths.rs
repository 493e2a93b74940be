//! LTG-W030: host path volumes of pods created in the Longhorn namespace:
//! each must be inside an allowed mount or a system path Longhorn's own pods
//! use, and a Bidirectional mount needs an rshared allowed mount.

use std::borrow::Cow;

use crate::base::{AllowedMount, HostPath, Propagation};
use crate::config::Config;
use crate::policy::disks::{containing_mount, mount_paths};
use crate::policy::objects::Pod;
use crate::policy::registry::{Outcome, Rule, no_facts};
use crate::policy::{
    Facts, Kind, Operation, PathProblem, Phase, Problem, Request, Subject, Violation,
};

/// The rule. Volumes are immutable after creation, so only CREATE is judged.
pub static RULE: Rule = Rule {
    id: "LTG-W030",
    group: "podHostPaths",
    summary: "host path volumes of Longhorn pods are served safely by the kubelet on Talos",
    phase: Phase::Validate,
    kinds: &[Kind::Pod],
    operations: &[Operation::Create],
    warn_only_users: &[],
    facts: no_facts,
    check,
};

/// Host paths (and everything below them) that Longhorn's manager,
/// instance-manager and CSI pods mount and that Talos provides to the kubelet.
pub const SYSTEM_PATHS: [&str; 8] = [
    "/dev",
    "/proc",
    "/sys",
    "/boot",
    "/etc",
    "/lib/modules",
    "/run",
    "/var/lib/kubelet",
];

fn is_system_path(path: &HostPath) -> bool {
    // instance-manager mounts the whole host at /host: `/` exactly is allowed.
    path.is_root() || SYSTEM_PATHS.iter().any(|s| path.is_within_normalised(s))
}

/// The mounts a pod may use: its node's when it is bound to one that has its
/// own list, else the global list and every node's list (a DaemonSet pod may
/// land on any node).
fn pod_mounts<'c>(pod: &Pod, cfg: &'c Config) -> Cow<'c, [AllowedMount]> {
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

fn check(req: &Request<'_>, cfg: &Config, _: &Facts) -> Outcome {
    let mut out = Outcome::default();
    let Subject::Pod(pair) = &req.subject else {
        return out;
    };
    let Some(pod) = &pair.object else {
        return out;
    };
    let ns = pod.metadata.namespace.as_deref().unwrap_or(&req.namespace);
    if ns != cfg.longhorn_namespace {
        return out;
    }
    let name = pod.metadata.name.as_deref().unwrap_or(&req.name);
    let name = if name.is_empty() {
        "(generated name)"
    } else {
        name
    };
    let mounts = pod_mounts(pod, cfg);
    for (i, volume) in pod.spec.volumes.iter().enumerate() {
        let Some(host) = &volume.host_path else {
            continue;
        };
        let problem = match HostPath::parse(&host.path) {
            Err(e) => Some(PathProblem::Invalid(e.to_string())),
            Ok(p) if is_system_path(&p) => None,
            Ok(p) => match containing_mount(&p, &mounts) {
                None => Some(PathProblem::Outside(mount_paths(&mounts))),
                Some(mount) => {
                    bidirectional(pod, &volume.name, &host.path, mount, ns, name, &mut out);
                    None
                }
            },
        };
        if let Some(problem) = problem {
            out.violations.push(Violation {
                field: format!("spec.volumes[{i}].hostPath.path"),
                value: host.path.to_string(),
                problem: Problem::PodHostPath {
                    namespace: ns.to_string(),
                    pod: name.to_string(),
                    volume: volume.name.to_string(),
                    path: host.path.to_string(),
                    problem,
                },
            });
        }
    }
    out
}

fn bidirectional(
    pod: &Pod,
    volume: &str,
    path: &str,
    mount: &AllowedMount,
    ns: &str,
    name: &str,
    out: &mut Outcome,
) {
    if mount.propagation == Propagation::Rshared {
        return;
    }
    for container in pod.spec.all_containers() {
        let bidirectional = container
            .volume_mounts
            .iter()
            .any(|m| m.name == volume && m.mount_propagation.as_deref() == Some("Bidirectional"));
        if bidirectional {
            out.violations.push(Violation {
                field: format!("spec.containers[name={}].volumeMounts", container.name),
                value: "Bidirectional".into(),
                problem: Problem::PodPropagation {
                    namespace: ns.to_string(),
                    pod: name.to_string(),
                    container: container.name.to_string(),
                    volume: volume.to_string(),
                    path: path.to_string(),
                    mount: mount.clone(),
                },
            });
        }
    }
}
