//! LTG-W030: host path volumes of pods (and pod templates of DaemonSets,
//! Deployments, StatefulSets, ReplicaSets, Jobs and CronJobs) in the Longhorn namespace,
//! judged for what really fails on Talos: a path on the read-only root
//! outside the trees Talos ships (containerd cannot create it:
//! `CreateContainerError`), and the places where the kubelet's own view
//! matters: a typed hostPath, `FileOrCreate` or a `subPath` on a host path
//! the kubelet container does not see. Everything Longhorn's own pods mount
//! (the whole host, `/dev`, `/proc`, `/sys`, `/boot`, `/etc`, `/lib/modules`,
//! `/var/lib/kubelet/...`, `/var/lib/longhorn/...` untyped or
//! `DirectoryOrCreate`, the disk paths) passes on every Talos layout.

use std::borrow::Cow;

use crate::base::{AllowedMount, HostPath, Mode, PathError};
use crate::config::Config;
use crate::host::{self, Place};
use crate::policy::apiserver;
use crate::policy::disks::containing_mount;
use crate::policy::objects::{PodSpec, Volume};
use crate::policy::rule::{Outcome, Rule, no_facts, nobody};
use crate::policy::violation::PodPathProblem;
use crate::policy::{Facts, Kind, Operation, Phase, Problem, Request, Subject, Violation};

/// The kinds whose pod spec the pod rules read.
pub(crate) const POD_KINDS: &[Kind] = &[
    Kind::Pod,
    Kind::DaemonSet,
    Kind::Deployment,
    Kind::StatefulSet,
    Kind::ReplicaSet,
    Kind::Job,
    Kind::CronJob,
];

/// The rule. A Pod's volumes are immutable; a controller's template is
/// judged on CREATE and on UPDATE for the volumes the update adds or changes.
pub static RULE: Rule = Rule {
    id: "LTG-W030",
    group: "podHostPaths",
    default_mode: Mode::Enforce,
    summary: "host path volumes of pods and pod templates in the Longhorn namespace can be served on Talos",
    phase: Phase::Validate,
    kinds: POD_KINDS,
    operations: &[Operation::Create, Operation::Update],
    warn_only: nobody,
    facts: no_facts,
    check,
};

/// The paths the operator vouches for, for a pod: its node's when it is
/// bound to one that has its own list, else the global list and every node's
/// list (a DaemonSet pod may land on any node).
pub(crate) fn pod_mounts<'c>(spec: &PodSpec, cfg: &'c Config) -> Cow<'c, [AllowedMount]> {
    if let Some(node) = spec.node_name.as_deref()
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

/// A pod spec under review: a Pod's, or the pod template of a controller
/// (as Kyverno's autogen does for pod policies, so that `kubectl apply` and
/// `helm install` print the denial rather than a controller event).
pub(crate) struct PodUnderReview<'r, 'a> {
    /// The spec judged.
    pub spec: &'r PodSpec<'a>,
    /// The spec before an UPDATE: volumes it already had are not judged again.
    pub old: Option<&'r PodSpec<'a>>,
    /// The namespace.
    pub namespace: &'r str,
    /// The object's name.
    pub name: &'r str,
    /// The controller kind, for a pod template.
    pub owner: Option<&'static str>,
}

impl PodUnderReview<'_, '_> {
    /// True when the old spec had this very host path volume.
    pub fn had(&self, volume: &Volume) -> bool {
        self.old
            .is_some_and(|old| old.volumes.iter().any(|v| v == volume))
    }
}

/// The pod spec of a request in the Longhorn namespace, if it has one.
pub(crate) fn pod_under_review<'r, 'a>(
    req: &'r Request<'a>,
    cfg: &Config,
) -> Option<PodUnderReview<'r, 'a>> {
    let (meta, spec, old, owner) = match &req.subject {
        Subject::Pod(pair) => {
            let pod = pair.object.as_ref()?;
            (
                &pod.metadata,
                &pod.spec,
                pair.old.as_ref().map(|p| &p.spec),
                None,
            )
        }
        subject => {
            let (owner, pair) = subject.pod_controller()?;
            let c = pair.object.as_ref()?;
            let old = pair.old.as_ref().and_then(|o| o.pod_spec());
            (&c.metadata, c.pod_spec()?, old, Some(owner))
        }
    };
    let namespace = req.namespace_of(meta.namespace.as_deref());
    if namespace != cfg.longhorn_namespace {
        return None;
    }
    let name = req.name_of(meta.name.as_deref());
    let name = if name.is_empty() {
        "(generated name)"
    } else {
        name
    };
    Some(PodUnderReview {
        spec,
        old: if req.operation == Operation::Update {
            old
        } else {
            None
        },
        namespace,
        name,
        owner,
    })
}

/// True when the kubelet's view of `place` certainly lacks what the host
/// has there: a writable host area (EPHEMERAL or a volume) it does not see.
/// (On the read-only root or a tmpfs the kubelet's own image has folders of
/// the same names, so nothing certain can be said.)
fn kubelet_certainly_lacks(path: &HostPath, place: &Place, cfg: &Config) -> bool {
    let writable_area = matches!(
        place,
        Place::Ephemeral
            | Place::LonghornData
            | Place::Volume(_)
            | Place::UndeclaredVolume { .. }
            | Place::SystemVolume { .. }
    );
    writable_area && host::kubelet_sees(path, cfg.host.as_ref()) == Some(false)
}

fn problem_of(
    spec: &PodSpec,
    volume: &Volume,
    cfg: &Config,
    mounts: &[AllowedMount],
) -> Vec<PodPathProblem> {
    let Some(host) = &volume.host_path else {
        return Vec::new();
    };
    let path = match HostPath::parse(&host.path) {
        Ok(p) => p,
        Err(PathError::Relative) => return vec![PodPathProblem::Relative],
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
    for container in spec.all_containers() {
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
    let Some(pod) = pod_under_review(req, cfg) else {
        return out;
    };
    let mounts = pod_mounts(pod.spec, cfg);
    let spec_field = apiserver::pod_spec_field(pod.owner);
    for (i, volume) in pod.spec.volumes.iter().enumerate() {
        if pod.had(volume) {
            continue;
        }
        let field = format!("{spec_field}.volumes[{i}].hostPath");
        // What kube-apiserver refuses never reaches a validating webhook;
        // when a review of it comes anyway, the answer is the API server's.
        let refused = volume
            .host_path
            .as_ref()
            .and_then(|h| apiserver::host_path_error(&field, &h.path))
            .map(|e| vec![PodPathProblem::RefusedByApiServer(e.to_string())]);
        let problems = refused.unwrap_or_else(|| problem_of(pod.spec, volume, cfg, &mounts));
        for problem in problems {
            let path = volume
                .host_path
                .as_ref()
                .map(|h| h.path.to_string())
                .unwrap_or_default();
            out.violations.push(Violation {
                preexisting: false,
                field: field.clone(),
                value: path.clone(),
                problem: Problem::PodHostPath {
                    owner: pod.owner,
                    namespace: pod.namespace.to_string(),
                    pod: pod.name.to_string(),
                    volume: volume.name.to_string(),
                    path,
                    problem,
                },
            });
        }
    }
    out
}
