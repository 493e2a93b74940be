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

use crate::base::{HostPath, Mode, PathError};
use crate::config::Config;
use crate::host::{self, Place};
use crate::policy::apiserver;
use crate::policy::objects::PodSpec;
use crate::policy::rule::{Outcome, Rule, no_facts, nobody};
use crate::policy::violation::PodPathProblem;
use crate::policy::writes::{POD_KINDS, PodVolume, Writes};
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

fn problem_of(spec: &PodSpec, v: &PodVolume<'_>, cfg: &Config) -> Vec<PodPathProblem> {
    let path = match &v.path {
        Ok(p) => p,
        Err(PathError::Relative) => return vec![PodPathProblem::Relative],
        Err(e) => return vec![PodPathProblem::Invalid(e.to_string())],
    };
    // `None`: a path the operator vouches for.
    let Some(place) = &v.place else {
        return Vec::new();
    };
    if *place == (Place::ReadOnlyRoot { system_tree: false }) {
        return vec![PodPathProblem::ReadOnlyRoot];
    }
    if !kubelet_certainly_lacks(path, place, cfg) {
        return Vec::new();
    }
    let mut out = Vec::new();
    match v.path_type {
        "" | "DirectoryOrCreate" => {}
        "FileOrCreate" => out.push(PodPathProblem::FileOrCreateUnseen),
        other => out.push(PodPathProblem::TypeCheckUnseen(other.to_string())),
    }
    for container in spec.all_containers() {
        for m in container
            .volume_mounts
            .iter()
            .filter(|m| m.name == v.volume.name)
        {
            // An empty subPath is no subPath (Go's zero value): the
            // kubelet then expands subPathExpr.
            let sub = [m.sub_path.as_deref(), m.sub_path_expr.as_deref()]
                .into_iter()
                .flatten()
                .find(|s| !s.is_empty());
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

fn check(_: &Request<'_>, cfg: &Config, _: &Facts, writes: &Writes<'_>) -> Outcome {
    let mut out = Outcome::default();
    let Some(pod) = &writes.pod else {
        return out;
    };
    let spec_field = apiserver::pod_spec_field(pod.owner);
    for v in &pod.volumes {
        let field = format!("{spec_field}.volumes[{}].hostPath", v.index);
        // What kube-apiserver refuses never reaches a validating webhook;
        // when a review of it comes anyway, the answer is the API server's.
        let problems = match apiserver::host_path_error(&field, v.raw) {
            Some(e) => vec![PodPathProblem::RefusedByApiServer(e.to_string())],
            None => problem_of(pod.spec, v, cfg),
        };
        for problem in problems {
            out.violations.push(Violation {
                preexisting: false,
                field: field.clone(),
                value: v.raw.to_string(),
                problem: Problem::PodHostPath {
                    owner: pod.owner,
                    namespace: pod.namespace.to_string(),
                    pod: pod.name.to_string(),
                    volume: v.volume.name.to_string(),
                    path: v.raw.to_string(),
                    problem,
                },
            });
        }
    }
    out
}
