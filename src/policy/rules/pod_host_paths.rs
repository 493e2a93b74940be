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

use crate::base::{AllowedMount, HostPath, Mode, PathError};
use crate::config::Config;
use crate::host::{self, Place};
use crate::policy::apiserver;
use crate::policy::disks::containing_mount;
use crate::policy::objects::{PodSpec, Volume};
use crate::policy::rule::{Outcome, Rule, no_facts, nobody};
use crate::policy::violation::PodPathProblem;
use crate::policy::writes::{POD_KINDS, pod_mounts, pod_under_review};
use crate::policy::{Facts, Operation, Phase, Problem, Request, Violation};

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
