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

const NAMESPACE: &str = "@@namespace@@";
const POD: &str = "@@pod@@";
const OWNER: &str = "@@owner@@";
const VOLUME: &str = "@@volume@@";
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
fn allowed(cfg: &Config, clean: &str) -> String {
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

/// LTG-W031.
pub(super) fn pod_tmpfs(cfg: &Config) -> RuleCel {
    let old = format!(
        "request.operation == 'UPDATE' && oldObject != null ? ({}) : {{}}",
        spec_of("oldObject")
    );
    let name = |v: &str| format!("(has({v}.name) ? {v}.name : '')");
    let mut variables = vec![
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
                name("o"),
                name("v")
            ),
        ),
    ];
    variables.extend(paths::raw_path_variables());
    let clean = "variables.pathClean[k]";
    variables.extend(paths::verdict_variables(format!(
        "variables.raw.transformMap(k, v,\n{})",
        paths::pod_tmpfs_code("v", clean, &allowed(cfg, clean))
    )));
    variables.push((
        "podName".into(),
        "has(request.name) && request.name != '' ? request.name\n  : has(object.metadata.name) && object.metadata.name != '' ? object.metadata.name\n  : '(generated name)'".into(),
    ));
    variables.push((
        "quotedVolume".into(),
        quote(&name("variables.volumes[variables.first]")),
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
    let resources = Node::List(vec![
        pod_rule("", &["pods"]),
        pod_rule(
            "apps",
            &["daemonsets", "deployments", "statefulsets", "replicasets"],
        ),
        pod_rule("batch", &["jobs", "cronjobs"]),
    ]);
    RuleCel {
        floor: TWO_VAR_MINOR,
        resources,
        namespaced: true,
        conditions: Vec::new(),
        variables,
        validation: (expression, message),
        message: format!(
            "LTG-W031: a host path volume of this pod is on a tmpfs that a reboot empties ({}; bounds: {MAX_PATH_BYTES} bytes, {MAX_COMPONENTS} components)",
            POD_TMPFS.join(", ")
        ),
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
