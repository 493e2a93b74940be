//! What the admission engine choice (chart value `admission.engine`,
//! kustomize components cel-policies, cel-mutating, cel-only) must ship,
//! from the generator and the rule registry: shared by tests/manifests.rs
//! and tests/chart.rs.

use longhorn_talos_guard::cel::{self, KubeVersion};
use longhorn_talos_guard::config::Config;
use longhorn_talos_guard::policy::Phase;
use longhorn_talos_guard::policy::kinds::Kind;
use longhorn_talos_guard::policy::registry;
use serde_json::Value;
use std::path::{Component, Path, PathBuf};

/// The oldest Kubernetes the shipped policies are for (Longhorn 1.13's floor).
pub const OLDEST: u32 = 34;

/// The shipped webhooks, in manifests/base/webhooks.yaml's order, with the
/// rule phase and object kinds each sends to the guard (the webhook's
/// `rules`: namespaces for both namespace webhooks, pods, Longhorn Nodes and
/// Settings, Kubernetes Nodes, ConfigMaps, the pod controllers).
pub const WEBHOOKS: [(&str, Phase, &[Kind]); 8] = [
    (
        "namespaces.mutate.longhorn-talos-guard.io",
        Phase::Mutate,
        &[Kind::Namespace],
    ),
    (
        "namespaces.longhorn-talos-guard.io",
        Phase::Validate,
        &[Kind::Namespace],
    ),
    (
        "pods.longhorn-talos-guard.io",
        Phase::Validate,
        &[Kind::Pod],
    ),
    (
        "nodes.longhorn-talos-guard.io",
        Phase::Validate,
        &[Kind::LonghornNode],
    ),
    (
        "settings.longhorn-talos-guard.io",
        Phase::Validate,
        &[Kind::LonghornSetting],
    ),
    (
        "default-disks.longhorn-talos-guard.io",
        Phase::Validate,
        &[Kind::KubeNode],
    ),
    (
        "default-settings.longhorn-talos-guard.io",
        Phase::Validate,
        &[Kind::ConfigMap],
    ),
    (
        "pod-controllers.longhorn-talos-guard.io",
        Phase::Validate,
        &[
            Kind::DaemonSet,
            Kind::Deployment,
            Kind::StatefulSet,
            Kind::ReplicaSet,
            Kind::Job,
            Kind::CronJob,
        ],
    ),
];

/// The rules (IDs) a webhook serves: every registered rule of its phase on
/// one of its kinds.
pub fn rules_of(webhook: &str) -> Vec<&'static str> {
    let (_, phase, kinds) = WEBHOOKS
        .iter()
        .find(|(name, _, _)| *name == webhook)
        .unwrap_or_else(|| panic!("no webhook {webhook}"));
    registry::RULES
        .iter()
        .filter(|r| r.phase == *phase && r.kinds.iter().any(|k| kinds.contains(k)))
        .map(|r| r.id)
        .collect()
}

/// One (rule ID, API group, resource) a rendering judges.
pub type Judged = (String, String, String);

/// The rule IDs (not off in the default configuration) a webhook serves.
fn enabled_rules_of(webhook: &str) -> Vec<&'static str> {
    let cfg = Config::default();
    rules_of(webhook)
        .into_iter()
        .filter(|id| {
            // The registry's own IDs: an unknown one would be a bug here.
            cfg.policies.mode(id).expect("a registry rule") != longhorn_talos_guard::base::Mode::Off
        })
        .collect()
}

/// The (group, resource) pairs of a webhook's `rules` or a policy's
/// `matchConstraints.resourceRules`.
fn resources(rules: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for r in rules.as_array().into_iter().flatten() {
        for g in r["apiGroups"].as_array().into_iter().flatten() {
            for res in r["resources"].as_array().into_iter().flatten() {
                out.push((
                    g.as_str().unwrap_or_default().to_string(),
                    res.as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    out
}

/// What the webhooks of a rendering judge: each webhook's rules on each of
/// its resources.
pub fn judged_by_webhooks(docs: &[Value]) -> Vec<(String, Vec<Judged>)> {
    let mut out = Vec::new();
    for doc in docs {
        let kind = doc["kind"].as_str().unwrap_or_default();
        if !kind.ends_with("WebhookConfiguration") {
            continue;
        }
        for hook in doc["webhooks"].as_array().into_iter().flatten() {
            let name = hook["name"].as_str().unwrap_or_default().to_string();
            let mut judged = Vec::new();
            for id in enabled_rules_of(&name) {
                for (g, r) in resources(&hook["rules"]) {
                    judged.push((id.to_string(), g, r));
                }
            }
            out.push((name, judged));
        }
    }
    out
}

/// What the admission policies of a rendering judge: each policy's rule
/// (its annotation) on each resource it matches; a policy without a binding
/// judges nothing.
pub fn judged_by_policies(docs: &[Value]) -> Vec<Judged> {
    let bound: Vec<&str> = docs
        .iter()
        .filter(|d| {
            d["kind"]
                .as_str()
                .is_some_and(|k| k.ends_with("AdmissionPolicyBinding"))
        })
        .filter_map(|d| d["spec"]["policyName"].as_str())
        .collect();
    let mut out = Vec::new();
    for doc in docs {
        let kind = doc["kind"].as_str().unwrap_or_default();
        if !matches!(
            kind,
            "ValidatingAdmissionPolicy" | "MutatingAdmissionPolicy"
        ) || !bound.contains(&doc["metadata"]["name"].as_str().unwrap_or_default())
        {
            continue;
        }
        let id = doc["metadata"]["annotations"]["longhorn-talos-guard.io/rule"]
            .as_str()
            .unwrap_or_default();
        for (g, r) in resources(&doc["spec"]["matchConstraints"]["resourceRules"]) {
            out.push((id.to_string(), g, r));
        }
    }
    out
}

/// Engine `cel` is right for a rendering when (1) every (rule, resource) the
/// webhooks of `webhook_only` judge is still judged, by a webhook or by a
/// policy, and (2) no webhook is kept on a resource where policies judge all
/// its rules. Returns the problems found.
pub fn cel_problems(webhook_only: &[Value], cel: &[Value]) -> Vec<String> {
    let hooks = judged_by_webhooks(cel);
    let policies = judged_by_policies(cel);
    let mut problems = Vec::new();
    for (name, judged) in judged_by_webhooks(webhook_only) {
        for j in judged {
            let by_hook = hooks.iter().any(|(_, h)| h.contains(&j));
            if !by_hook && !policies.contains(&j) {
                problems.push(format!(
                    "{} on {}/{} (webhook {name}) is judged by nothing",
                    j.0, j.1, j.2
                ));
            }
        }
    }
    for (name, judged) in &hooks {
        let mut on: Vec<(String, String)> = judged
            .iter()
            .map(|(_, g, r)| (g.clone(), r.clone()))
            .collect();
        on.dedup();
        for (g, r) in on {
            let all_in_cel = judged
                .iter()
                .filter(|(_, jg, jr)| *jg == g && *jr == r)
                .all(|j| policies.contains(j));
            if all_in_cel && !kept_on_purpose(name, &g, &r, cel) {
                problems.push(format!(
                    "webhook {name} kept on {g}/{r}, where policies judge all its rules"
                ));
            }
        }
    }
    problems
}

/// A webhook that stays under engine cel although the policies judge each of
/// its rules on that resource, because the policies match fewer objects than
/// the webhook: the Settings webhook also warns on `default-control-path`
/// (no released Longhorn has it; src/policy/rules/data_path_setting.rs), which
/// the LTG-W011 and LTG-W013 policies do not match. Holds only while that is
/// true of the policies `cel`: once they match it, the webhook must go.
fn kept_on_purpose(hook: &str, group: &str, resource: &str, cel: &[Value]) -> bool {
    let policies_match_control_path = cel
        .iter()
        .filter(|d| d["kind"] == "ValidatingAdmissionPolicy")
        .any(|d| d.to_string().contains("default-control-path"));
    hook == "settings.longhorn-talos-guard.io"
        && (group, resource) == ("longhorn.io", "settings")
        && !policies_match_control_path
}

/// The documents `policies cel` writes for the default configuration on
/// Kubernetes 1.`minor`.
pub fn generated(minor: u32) -> Vec<Value> {
    let yaml = cel::generate(&Config::default(), KubeVersion(minor)).to_yaml();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&yaml).expect("the generated YAML parses");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn is_mutating(doc: &Value) -> bool {
    doc["kind"]
        .as_str()
        .is_some_and(|k| k.starts_with("MutatingAdmissionPolicy"))
}

/// The ValidatingAdmissionPolicies and bindings shipped (cel-policies,
/// files/cel/validating.yaml): the same on every minor from [`OLDEST`] to
/// the newest, which this checks.
pub fn validating() -> Vec<Value> {
    let oldest: Vec<Value> = generated(OLDEST)
        .into_iter()
        .filter(|d| !is_mutating(d))
        .collect();
    for minor in OLDEST + 1..=cel::NEWEST_MINOR {
        let these: Vec<Value> = generated(minor)
            .into_iter()
            .filter(|d| !is_mutating(d))
            .collect();
        assert_eq!(
            these, oldest,
            "the ValidatingAdmissionPolicies differ between 1.{OLDEST} and 1.{minor}: one shipped file cannot serve both"
        );
    }
    oldest
}

/// The MutatingAdmissionPolicy and binding shipped (cel-mutating,
/// files/cel/mutating.yaml): those of every minor that has them, checked equal.
pub fn mutating() -> Vec<Value> {
    let first: Vec<Value> = generated(cel::MAP_V1_MINOR)
        .into_iter()
        .filter(is_mutating)
        .collect();
    assert!(!first.is_empty(), "no MutatingAdmissionPolicy generated");
    for minor in cel::MAP_V1_MINOR + 1..=cel::NEWEST_MINOR {
        let these: Vec<Value> = generated(minor).into_iter().filter(is_mutating).collect();
        assert_eq!(
            these, first,
            "the MutatingAdmissionPolicies differ on 1.{minor}"
        );
    }
    for minor in OLDEST..cel::MAP_V1_MINOR {
        assert!(
            !generated(minor).iter().any(is_mutating),
            "a MutatingAdmissionPolicy generated for 1.{minor}"
        );
    }
    first
}

/// A shipped policy file, parsed (documents in order, comments dropped).
pub fn shipped(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// The one rule of the guard's ClusterRole for the policies, as agreed
/// (brief CEL-INTERFACE.md): the four kinds, these verbs, no names.
pub const POLICY_RESOURCES: [&str; 4] = [
    "validatingadmissionpolicies",
    "validatingadmissionpolicybindings",
    "mutatingadmissionpolicies",
    "mutatingadmissionpolicybindings",
];
/// Its verbs.
pub const POLICY_VERBS: [&str; 6] = ["get", "list", "watch", "create", "patch", "delete"];

/// `to` relative to `from` (kustomize refuses absolute paths to a base).
pub fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component<'_>> = from.components().collect();
    let to: Vec<Component<'_>> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out
}

/// A kustomization in a temp dir: `manifests/base` of the repository with
/// its cel components `components`, in this order, named by relative path.
pub fn kustomization_with(components: &[&str]) -> tempfile::TempDir {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("temp dir");
    let here = dir.path().canonicalize().expect("canonical temp dir");
    let at = |p: &str| {
        relative(&here, &repo.join(p).canonicalize().expect("canonical path"))
            .display()
            .to_string()
    };
    let list: Vec<String> = components
        .iter()
        .map(|c| at(&format!("manifests/components/{c}")))
        .collect();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [{}]\ncomponents: [{}]\n",
            at("manifests/base"),
            list.join(", ")
        ),
    )
    .expect("write kustomization");
    dir
}
