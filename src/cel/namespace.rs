//! LTG-W001 (the missing Pod Security labels, added by a
//! MutatingAdmissionPolicy) and LTG-W002 (the Longhorn namespace runs
//! privileged) in CEL.

use super::expr::{PLACEHOLDER, lit, quote, summary, template};
use super::yaml::{Node, map, s};
use super::{
    KubeVersion, MAP_V1_MINOR, MAP_V1BETA1_MINOR, OLDEST_MINOR, RuleCel, Served, metadata,
    policy_name, resource_rule,
};
use crate::base::Level;
use crate::base::longhorn::{NAMESPACE_LABELS, PSA_PREFIX};
use crate::config::Config;
use crate::policy::render;
use crate::policy::{EnforceProblem, Problem, Violation};

/// The ID of the labels rule.
pub const LABELS_ID: &str = "LTG-W001";
/// The ID of the enforce-level rule.
pub const ENFORCE_ID: &str = "LTG-W002";

fn is_longhorn(cfg: &Config) -> String {
    format!("object.metadata.name == {}", lit(&cfg.longhorn_namespace))
}

/// The webhook's first sentence for an enforce-label problem.
fn sentence(cfg: &Config, problem: EnforceProblem) -> String {
    let v = Violation {
        field: String::new(),
        value: String::new(),
        problem: Problem::NamespaceEnforce {
            namespace: cfg.longhorn_namespace.clone(),
            problem,
        },
        preexisting: false,
    };
    summary(&render::denial(&[v], cfg.host.as_ref()))
}

/// LTG-W002.
pub(super) fn enforce(cfg: &Config) -> RuleCel {
    let key = lit(&format!("{PSA_PREFIX}enforce"));
    let present = format!("has(object.metadata.labels) && {key} in object.metadata.labels");
    let value = format!("object.metadata.labels[{key}]");
    let absent_ok = cfg.cluster_default_enforce == Level::Privileged;
    let expression = format!("{present}\n  ? {value} == 'privileged'\n  : {absent_ok}");
    let level = |l: Level| lit(&sentence(cfg, EnforceProblem::Level(l)));
    let invalid = template(
        &sentence(cfg, EnforceProblem::Invalid(PLACEHOLDER.into())),
        &[(PLACEHOLDER, &quote(&value))],
    );
    let absent = lit(&sentence(
        cfg,
        EnforceProblem::Absent(cfg.cluster_default_enforce),
    ));
    let message = format!(
        "'LTG-W002: ' + (!({present}) ? {absent}\n  : {value} == 'baseline' ? {}\n  : {value} == 'restricted' ? {}\n  : {invalid})",
        level(Level::Baseline),
        level(Level::Restricted),
    );
    RuleCel {
        floor: OLDEST_MINOR,
        resources: resource_rule("", "v1", &["namespaces"]),
        namespaced: false,
        conditions: vec![("longhorn-namespace", is_longhorn(cfg))],
        variables: Vec::new(),
        validation: (expression, message),
        message: format!(
            "LTG-W002: namespace {:?} must run Pod Security enforce privileged",
            cfg.longhorn_namespace
        ),
        fail_open: false,
    }
}

/// LTG-W001: a MutatingAdmissionPolicy and its binding, adding each missing
/// label, with the oldest Kubernetes minor they work on: `v1` from 1.36,
/// `v1beta1` on 1.34 and 1.35 when the API server serves it (`served`).
pub(super) fn labels_policy(
    cfg: &Config,
    version: KubeVersion,
    served: Served,
) -> Result<(Vec<Node>, u32), String> {
    let (api_version, floor) = if version.0 >= MAP_V1_MINOR {
        ("admissionregistration.k8s.io/v1", MAP_V1_MINOR)
    } else if served.mutating_v1beta1 && version.0 >= MAP_V1BETA1_MINOR {
        ("admissionregistration.k8s.io/v1beta1", MAP_V1BETA1_MINOR)
    } else if version.0 >= MAP_V1BETA1_MINOR {
        return Err(format!(
            "MutatingAdmissionPolicy v1 is served from Kubernetes 1.{MAP_V1_MINOR}; on 1.34 and 1.35 it is v1beta1 behind the MutatingAdmissionPolicy feature gate and --runtime-config=admissionregistration.k8s.io/v1beta1=true: with both on, say so with --mutating-admission-policy-beta"
        ));
    } else {
        return Err(format!(
            "MutatingAdmissionPolicy is served from Kubernetes 1.{MAP_V1_MINOR} (v1beta1 from 1.{MAP_V1BETA1_MINOR} behind a feature gate)"
        ));
    };
    let all: Vec<String> = NAMESPACE_LABELS
        .iter()
        .map(|(k, v)| format!("{}: {}", lit(k), lit(v)))
        .collect();
    let pairs: Vec<String> = NAMESPACE_LABELS
        .iter()
        .map(|(k, v)| format!("[{}, {}]", lit(k), lit(v)))
        .collect();
    let expression = format!(
        "!has(object.metadata.labels)\n  ? [JSONPatch{{op: 'add', path: '/metadata/labels', value: {{{}}}}}]\n  : [{}]\n      .filter(e, !(e[0] in object.metadata.labels))\n      .map(e, JSONPatch{{op: 'add', path: '/metadata/labels/' + jsonpatch.escapeKey(e[0]), value: e[1]}})",
        all.join(", "),
        pairs.join(", ")
    );
    let name = policy_name(LABELS_ID);
    Ok((
        vec![
            map(vec![
                ("apiVersion", s(api_version)),
                ("kind", s("MutatingAdmissionPolicy")),
                ("metadata", metadata(&name, LABELS_ID, floor)),
                (
                    "spec",
                    map(vec![
                        ("failurePolicy", s("Fail")),
                        ("reinvocationPolicy", s("Never")),
                        (
                            "matchConstraints",
                            map(vec![
                                ("namespaceSelector", map(vec![])),
                                ("objectSelector", map(vec![])),
                                ("matchPolicy", s("Equivalent")),
                                ("resourceRules", resource_rule("", "v1", &["namespaces"])),
                            ]),
                        ),
                        (
                            "matchConditions",
                            Node::List(vec![map(vec![
                                ("name", s("longhorn-namespace")),
                                ("expression", Node::Text(is_longhorn(cfg))),
                            ])]),
                        ),
                        (
                            "mutations",
                            Node::List(vec![map(vec![
                                ("patchType", s("JSONPatch")),
                                (
                                    "jsonPatch",
                                    map(vec![("expression", Node::Text(expression))]),
                                ),
                            ])]),
                        ),
                    ]),
                ),
            ]),
            map(vec![
                ("apiVersion", s(api_version)),
                ("kind", s("MutatingAdmissionPolicyBinding")),
                ("metadata", metadata(&name, LABELS_ID, floor)),
                ("spec", map(vec![("policyName", s(name.clone()))])),
            ]),
        ],
        floor,
    ))
}
