//! LTG-W031 in CEL: host path volumes on a tmpfs a reboot empties, in pods
//! and the pod templates of DaemonSets, Deployments, StatefulSets,
//! ReplicaSets, Jobs and CronJobs of the Longhorn namespace, as the webhook
//! reads them (`policy::writes::pod_under_review`, `pod_mounts`): on UPDATE
//! a volume the old spec already had is not judged again.

use super::expr::{PLACEHOLDER, lit, quote, splice, summary};
use super::paths::{self, MAX_COMPONENTS, MAX_PATH_BYTES, POD_TMPFS};
use super::{RuleCel, TWO_VAR_MINOR, yaml::Node};
use crate::base::AllowedMount;
use crate::config::Config;
use crate::policy::render;
use crate::policy::{Problem, Violation};

/// The rule's ID.
pub const ID: &str = "LTG-W031";

/// The most volumes (in the new spec, and in the old one on UPDATE) the
/// CEL policy judges; past it the policy denies with an explicit message.
pub const MAX_VOLUMES: usize = 128;

/// The most host paths needing cleaning (`//`, `.`, `..`) it judges in one spec.
pub const MAX_UNCLEAN_PATHS: usize = 8;

pub(super) const NAMESPACE: &str = "@@namespace@@";
pub(super) const POD: &str = "@@pod@@";
pub(super) const OWNER: &str = "@@owner@@";
pub(super) const VOLUME: &str = "@@volume@@";
const MOUNT: &str = "@@mount@@";

/// The pod spec of `obj` (a CEL object) as the webhook reads it for the request's kind.
fn spec_of(obj: &str) -> String {
    let template = |t: &str| format!("(has({t}.spec) ? {t}.spec : {{}})");
    format!(
        "request.kind.kind == 'Pod' ? (has({obj}.spec) ? {obj}.spec : {{}})\n  : !has({obj}.spec) ? {{}}\n  : has({obj}.spec.template) ? {}\n  : has({obj}.spec.jobTemplate) && has({obj}.spec.jobTemplate.spec) && has({obj}.spec.jobTemplate.spec.template)\n    ? {} : {{}}",
        template(&format!("{obj}.spec.template")),
        template(&format!("{obj}.spec.jobTemplate.spec.template"))
    )
}

/// The mounts the operator vouches for, for a pod spec (`pod_mounts`): its
/// node's list when it is bound to a node that has one, else the global
/// list and every node's list.
pub(super) fn allowed(cfg: &Config, clean: &str) -> String {
    let mut all: Vec<AllowedMount> = cfg.allowed_mounts.clone();
    for list in cfg.node_allowed_mounts.values() {
        for m in list {
            if !all.contains(m) {
                all.push(m.clone());
            }
        }
    }
    let mut out = paths::within_any(clean, &all);
    for (node, mounts) in cfg.node_allowed_mounts.iter().rev() {
        out = format!(
            "(has(variables.spec.nodeName) && variables.spec.nodeName == {} ? ({}) : ({out}))",
            lit(node),
            paths::within_any(clean, mounts)
        );
    }
    out
}

fn violation(owner: Option<&'static str>, mount: &'static str) -> Violation {
    Violation {
        field: String::new(),
        value: PLACEHOLDER.into(),
        problem: Problem::PodTmpfs {
            owner,
            namespace: NAMESPACE.into(),
            pod: POD.into(),
            volume: VOLUME.into(),
            path: PLACEHOLDER.into(),
            mount,
        },
        preexisting: false,
    }
}

fn fill(text: &str) -> String {
    let volume = format!("{VOLUME:?}");
    let value = format!("{PLACEHOLDER:?}");
    splice(
        text,
        &[
            (&volume, "variables.quotedVolume"),
            (&value, "variables.quotedPath"),
            (NAMESPACE, "request.namespace"),
            (POD, "variables.podName"),
            (OWNER, "request.kind.kind"),
            (MOUNT, "variables.problem[variables.first]"),
        ],
    )
}

/// The name of the volume `v` (a CEL object), `''` when it has none.
pub(super) fn volume_name(v: &str) -> String {
    format!("(has({v}.name) ? {v}.name : '')")
}

/// `podName`: the object's name as the webhook gives it.
pub(super) fn pod_name_variable() -> (String, String) {
    (
        "podName".into(),
        "has(request.name) && request.name != '' ? request.name\n  : has(object.metadata.name) && object.metadata.name != '' ? object.metadata.name\n  : '(generated name)'".into(),
    )
}

/// The resources of pods and the controllers whose pod templates are judged.
pub(super) fn pod_resources() -> Node {
    Node::List(vec![
        pod_rule("", &["pods"]),
        pod_rule(
            "apps",
            &["daemonsets", "deployments", "statefulsets", "replicasets"],
        ),
        pod_rule("batch", &["jobs", "cronjobs"]),
    ])
}

/// The variables every pod host path policy starts with, as the webhook
/// reads a pod or a controller's pod template (`pod_under_review`): `spec`,
/// `oldSpec` (UPDATE), `volumes`, `oldVolumes`, and `raw` (volume index ->
/// `hostPath.path`, empty when absent) for the host path volumes the
/// request adds or changes; `raw` is empty past [`MAX_VOLUMES`].
pub(super) fn volume_variables() -> Vec<(String, String)> {
    let old = format!(
        "request.operation == 'UPDATE' && oldObject != null ? ({}) : {{}}",
        spec_of("oldObject")
    );
    vec![
        ("spec".to_string(), spec_of("object")),
        ("oldSpec".to_string(), old),
        (
            "volumes".to_string(),
            "has(variables.spec.volumes) ? variables.spec.volumes : []".to_string(),
        ),
        (
            "oldVolumes".to_string(),
            "has(variables.oldSpec.volumes) ? variables.oldSpec.volumes : []".to_string(),
        ),
        (
            "raw".to_string(),
            format!(
                "size(variables.volumes) > {MAX_VOLUMES} || size(variables.oldVolumes) > {MAX_VOLUMES} ? {{}}\n  : variables.volumes.transformMap(i, v, has(v.hostPath)\n      && !variables.oldVolumes.exists(o, has(o.hostPath) && {} == {} && o.hostPath == v.hostPath),\n    has(v.hostPath.path) ? v.hostPath.path : '')",
                volume_name("o"),
                volume_name("v")
            ),
        ),
    ]
}

/// LTG-W031.
pub(super) fn pod_tmpfs(cfg: &Config) -> RuleCel {
    let mut variables = volume_variables();
    variables.extend(paths::raw_path_variables());
    let clean = "variables.pathClean[k]";
    variables.extend(paths::verdict_variables(format!(
        "variables.raw.transformMap(k, v,\n{})",
        paths::pod_tmpfs_code("v", clean, &allowed(cfg, clean))
    )));
    variables.push(pod_name_variable());
    variables.push((
        "quotedVolume".into(),
        quote(&volume_name("variables.volumes[variables.first]")),
    ));
    variables.push(("quotedPath".into(), quote("variables.raw[variables.first]")));
    let within_bounds = format!(
        "size(variables.volumes) <= {MAX_VOLUMES} && size(variables.oldVolumes) <= {MAX_VOLUMES} && variables.unclean <= {MAX_UNCLEAN_PATHS}"
    );
    let expression = format!("{within_bounds} && size(variables.bad) == 0");
    // The subject: a pod, or a controller's pod template.
    let by_owner = |text: &dyn Fn(Option<&'static str>) -> String| {
        format!(
            "(request.kind.kind == 'Pod' ? {} : {})",
            fill(&text(None)),
            fill(&text(Some(OWNER)))
        )
    };
    let subject = |owner: Option<&'static str>| {
        let text = render::denial(&[violation(owner, "/tmp")], None);
        let head = text.lines().next().unwrap_or_default().to_string();
        head.trim_end_matches(": host paths on a tmpfs:")
            .to_string()
    };
    let first = by_owner(&|owner| {
        // The mount is a placeholder too: the sentence is the same for the three.
        let text = render::denial(&[violation(owner, MOUNT_STATIC)], None);
        summary(&text).replace(MOUNT_STATIC, MOUNT)
    });
    let bound = by_owner(&|owner| {
        format!(
            "{}: {}",
            subject(owner),
            super::setting::bound_sentence(&format!("volume {VOLUME:?}: the hostPath"))
        )
    });
    let too_many = by_owner(&|owner| {
        format!(
            "{}: more than {MAX_VOLUMES} volumes, or more than {MAX_UNCLEAN_PATHS} host paths with \"//\", \".\" or \"..\", past what the CEL policy judges within the API server's cost budget; the guard's webhook judges it.",
            subject(owner)
        )
    });
    let message = format!(
        "'LTG-W031: ' + (!({within_bounds}) ? {too_many}\n  : variables.problem[variables.first] == 'bound' ? {bound}\n  : {first})"
    );
    RuleCel {
        floor: TWO_VAR_MINOR,
        resources: pod_resources(),
        namespaced: true,
        conditions: Vec::new(),
        variables,
        validation: (expression, message),
        message: format!(
            "LTG-W031: a host path volume of this pod is on a tmpfs that a reboot empties ({}; bounds: {MAX_PATH_BYTES} bytes, {MAX_COMPONENTS} components)",
            POD_TMPFS.join(", ")
        ),
        fail_open: true,
    }
}

/// A mount the renderer accepts as `&'static str`, replaced by [`MOUNT`] after.
const MOUNT_STATIC: &str = "@@mount-static@@";

fn pod_rule(group: &str, resources: &[&str]) -> Node {
    match super::resource_rule(group, "v1", resources) {
        Node::List(mut rules) if rules.len() == 1 => rules.remove(0),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_placeholder_is_left_in_the_message() {
        let cel = pod_tmpfs(&Config::default());
        assert!(!cel.validation.1.contains("@@"), "{}", cel.validation.1);
        for v in &cel.variables {
            assert!(!v.1.contains("@@"), "{v:?}");
        }
        assert!(cel.validation.1.contains("request.kind.kind"));
    }
}
