//! The kustomize manifests as an operator applies them: `manifests/base`, the
//! overlays and the longhorn-namespace component, each rendered by the newest
//! kubectl's kustomize (tests/envtest/build.sh) and by the oldest supported
//! one (tests/kubectl-old/build.sh), which must agree. Every rendered
//! object must survive a round trip through its k8s-openapi type unchanged
//! (k8s-openapi ignores unknown fields, so a dropped field means a typo or a
//! field the API does not have); cert-manager objects are checked by hand.
//! Then the properties the issue asks for: Pod Security restricted, HTTPS
//! probes, two spread replicas, a PDB and a Service that select them, RBAC
//! without wildcards and scoped by name, webhooks that call the Service and
//! never select kube-system or the guard's own namespace.

#[allow(dead_code)]
#[path = "e2e/controlplane.rs"]
mod controlplane;
#[allow(dead_code)]
#[path = "engine/expect.rs"]
mod engine;
#[allow(dead_code)]
#[path = "e2e/kubectl.rs"]
mod kubectl;
#[allow(dead_code)]
#[path = "e2e/process.rs"]
mod process;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingAdmissionPolicy, MutatingAdmissionPolicyBinding, MutatingWebhookConfiguration,
    RuleWithOperations, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, PodSpec, Service, ServiceAccount,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use longhorn_talos_guard::config::Config;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

const GUARD_NS: &str = "longhorn-talos-guard";
const NAME: &str = "longhorn-talos-guard";
const SECRET: &str = "longhorn-talos-guard-tls";
const CONFIG_PATH: &str = "/etc/longhorn-talos-guard/config.yaml";
const CERT_DIR: &str = "/etc/longhorn-talos-guard/tls";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The newest kubectl (built once by tests/envtest/build.sh).
fn kubectl() -> &'static Path {
    static KUBECTL: OnceLock<PathBuf> = OnceLock::new();
    KUBECTL.get_or_init(|| controlplane::assets().kubectl)
}

/// The oldest kubectl the manifests support (built once by
/// tests/kubectl-old/build.sh, whose progress goes straight to stderr). A
/// failed build is a test failure carrying the script's message.
fn kubectl_old() -> &'static Path {
    static KUBECTL: OnceLock<PathBuf> = OnceLock::new();
    KUBECTL.get_or_init(|| {
        let script = repo().join("tests/kubectl-old/build.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "the oldest supported kubectl is not available: {} exited {:?} (its message is above)",
            script.display(),
            out.status.code()
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let path = stdout
            .lines()
            .last()
            .unwrap_or_else(|| panic!("{} printed no path", script.display()));
        PathBuf::from(path.trim())
    })
}

/// `kubectl kustomize dir` with the kubectl `bin`, split into documents.
fn render_with(bin: &Path, dir: &Path) -> Vec<Value> {
    let out = Command::new(bin)
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} kustomize {} failed: {}",
        bin.display(),
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> = serde_saphyr::from_multiple(&stdout)
        .unwrap_or_else(|e| panic!("kustomize output is not YAML: {e}\n{stdout}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// `kubectl kustomize dir` with the newest and the oldest supported kubectl,
/// which must render the same objects; returns them.
fn render(dir: &Path) -> Vec<Value> {
    let new = render_with(kubectl(), dir);
    let old = render_with(kubectl_old(), dir);
    let mut diffs = Vec::new();
    differences(
        "",
        &Value::Array(old),
        &Value::Array(new.clone()),
        &mut diffs,
    );
    assert!(
        diffs.is_empty(),
        "{} renders {} differently from {} (each line: the oldest's value, then the newest's):\n{}",
        kubectl_old().display(),
        dir.display(),
        kubectl().display(),
        diffs.join("\n")
    );
    new
}

/// Every path where `typed` (the round trip) differs from `original`.
fn differences(path: &str, original: &Value, typed: &Value, out: &mut Vec<String>) {
    match (original, typed) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let here = format!("{path}.{key}");
                match b.get(key) {
                    Some(other) => differences(&here, value, other, out),
                    None => out.push(format!("{here}: unknown field (dropped by the API type)")),
                }
            }
            for key in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{path}.{key}: added by the API type"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}[{i}]"), x, y, out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: {a} reads back as {b}")),
    }
}

/// Deserialises `doc` into `T` and back; any field that does not survive is an error.
fn strict<T: DeserializeOwned + Serialize>(doc: &Value) -> Result<T, String> {
    let typed: T = serde_json::from_value(doc.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    let mut diffs = Vec::new();
    differences("", doc, &back, &mut diffs);
    if diffs.is_empty() {
        Ok(typed)
    } else {
        Err(diffs.join("; "))
    }
}

/// The objects of one rendering, each in its API type.
#[derive(Default)]
struct Rendered {
    namespaces: Vec<Namespace>,
    service_accounts: Vec<ServiceAccount>,
    cluster_roles: Vec<ClusterRole>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
    roles: Vec<Role>,
    role_bindings: Vec<RoleBinding>,
    config_maps: Vec<ConfigMap>,
    services: Vec<Service>,
    deployments: Vec<Deployment>,
    pdbs: Vec<PodDisruptionBudget>,
    mutating: Vec<MutatingWebhookConfiguration>,
    validating: Vec<ValidatingWebhookConfiguration>,
    leases: Vec<Lease>,
    crds: Vec<CustomResourceDefinition>,
    /// The admission policies of the cel-* components.
    vaps: Vec<ValidatingAdmissionPolicy>,
    vap_bindings: Vec<ValidatingAdmissionPolicyBinding>,
    maps: Vec<MutatingAdmissionPolicy>,
    map_bindings: Vec<MutatingAdmissionPolicyBinding>,
    /// cert-manager.io objects, by kind then name.
    cert_manager: BTreeMap<(String, String), Value>,
    /// talos.dev ServiceAccounts (Talos's, not Kubernetes').
    talos_service_accounts: Vec<Value>,
}

fn name_of(doc: &Value) -> String {
    doc["metadata"]["name"].as_str().unwrap_or("?").to_string()
}

/// Sorts the documents into their types; panics naming every object that is
/// not strictly valid or of an unexpected kind.
fn typed(docs: &[Value]) -> Rendered {
    let mut r = Rendered::default();
    let mut errors = Vec::new();
    for doc in docs {
        let api = doc["apiVersion"].as_str().unwrap_or_default();
        let kind = doc["kind"].as_str().unwrap_or_default();
        let name = name_of(doc);
        macro_rules! push {
            ($list:expr) => {
                match strict(doc) {
                    Ok(t) => $list.push(t),
                    Err(e) => errors.push(format!("{api} {kind} {name}: {e}")),
                }
            };
        }
        match (api, kind) {
            ("v1", "Namespace") => push!(r.namespaces),
            ("v1", "ServiceAccount") => push!(r.service_accounts),
            ("v1", "ConfigMap") => push!(r.config_maps),
            ("v1", "Service") => push!(r.services),
            ("apps/v1", "Deployment") => push!(r.deployments),
            ("policy/v1", "PodDisruptionBudget") => push!(r.pdbs),
            ("coordination.k8s.io/v1", "Lease") => push!(r.leases),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => push!(r.crds),
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => push!(r.cluster_roles),
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                push!(r.cluster_role_bindings)
            }
            ("rbac.authorization.k8s.io/v1", "Role") => push!(r.roles),
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => push!(r.role_bindings),
            ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration") => {
                push!(r.mutating)
            }
            ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration") => {
                push!(r.validating)
            }
            ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy") => push!(r.vaps),
            ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding") => {
                push!(r.vap_bindings)
            }
            ("admissionregistration.k8s.io/v1", "MutatingAdmissionPolicy") => push!(r.maps),
            ("admissionregistration.k8s.io/v1", "MutatingAdmissionPolicyBinding") => {
                push!(r.map_bindings)
            }
            ("cert-manager.io/v1", "Issuer" | "Certificate") => {
                match check_cert_manager(kind, doc) {
                    Ok(()) => {
                        r.cert_manager.insert((kind.to_string(), name), doc.clone());
                    }
                    Err(e) => errors.push(format!("{api} {kind} {name}: {e}")),
                }
            }
            ("talos.dev/v1alpha1", "ServiceAccount") => match check_talos_service_account(doc) {
                Ok(()) => r.talos_service_accounts.push(doc.clone()),
                Err(e) => errors.push(format!("{api} {kind} {name}: {e}")),
            },
            _ => errors.push(format!("{api} {kind} {name}: not an expected kind")),
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    r
}

/// cert-manager has no k8s-openapi type: the fields of its v1 API that these
/// manifests use, checked by hand (unknown ones are errors, as above).
/// The spec of a custom resource in the guard's namespace, checked by hand:
/// only `apiVersion`, `kind`, `metadata` (with a name) and `spec`.
fn custom_spec(doc: &Value) -> Result<&serde_json::Map<String, Value>, String> {
    let top: Vec<&str> = doc
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    if top != ["apiVersion", "kind", "metadata", "spec"] {
        return Err(format!("top-level fields {top:?}"));
    }
    let meta = &doc["metadata"];
    if meta["name"].as_str().is_none_or(str::is_empty) {
        return Err("metadata.name is missing".into());
    }
    if meta["namespace"] != GUARD_NS {
        return Err(format!("metadata.namespace is {}", meta["namespace"]));
    }
    doc["spec"]
        .as_object()
        .ok_or_else(|| "spec is not an object".to_string())
}

fn check_cert_manager(kind: &str, doc: &Value) -> Result<(), String> {
    let spec = custom_spec(doc)?;
    let known: &[&str] = match kind {
        "Issuer" => &["selfSigned", "ca"],
        _ => &[
            "isCA",
            "commonName",
            "secretName",
            "dnsNames",
            "duration",
            "renewBefore",
            "privateKey",
            "usages",
            "issuerRef",
        ],
    };
    if let Some(unknown) = spec.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!(
            "spec.{unknown}: not a field these manifests should use"
        ));
    }
    if kind == "Issuer" {
        let ca_ok = spec
            .get("ca")
            .is_some_and(|ca| ca["secretName"].as_str().is_some_and(|s| !s.is_empty()));
        let self_signed_ok = spec.get("selfSigned").is_some_and(Value::is_object);
        if spec.len() != 1 || !(ca_ok || self_signed_ok) {
            return Err("spec must be exactly one of selfSigned: {} or ca: {secretName}".into());
        }
        return Ok(());
    }
    for required in ["secretName", "duration", "renewBefore"] {
        if spec
            .get(required)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(format!("spec.{required} is required here"));
        }
    }
    let issuer = &spec["issuerRef"];
    if issuer["name"].as_str().is_none()
        || issuer["kind"] != "Issuer"
        || issuer["group"] != "cert-manager.io"
    {
        return Err(format!(
            "spec.issuerRef {issuer} must name an Issuer of cert-manager.io"
        ));
    }
    let key = &spec["privateKey"];
    if key["algorithm"] != "ECDSA" || key["size"] != 256 {
        return Err(format!("spec.privateKey {key} must be ECDSA P-256"));
    }
    let duration = go_duration(spec["duration"].as_str().unwrap_or_default())?;
    let renew = go_duration(spec["renewBefore"].as_str().unwrap_or_default())?;
    if renew >= duration || renew == 0 {
        return Err(format!(
            "spec.renewBefore ({renew} s) must be above 0 and below spec.duration ({duration} s)"
        ));
    }
    Ok(())
}

/// A `talos.dev/v1alpha1` ServiceAccount has no k8s-openapi type: the fields
/// of the CRD Talos installs (siderolabs/talos
/// internal/app/machined/pkg/controllers/k8s/internal/k8stemplates/crds.go,
/// v1.14.0-rc.1: `spec.roles`, a list of strings; `status.failureReason`,
/// written by Talos), checked by hand; roles are Talos's (`os:` prefix).
fn check_talos_service_account(doc: &Value) -> Result<(), String> {
    let spec = custom_spec(doc)?;
    if spec.keys().any(|k| k != "roles") {
        return Err(format!("spec has fields beyond roles: {spec:?}"));
    }
    let roles = spec["roles"].as_array().ok_or("spec.roles is not a list")?;
    if roles.is_empty()
        || !roles
            .iter()
            .all(|r| r.as_str().is_some_and(|r| r.starts_with("os:")))
    {
        return Err(format!("spec.roles {roles:?} are not Talos roles"));
    }
    Ok(())
}

/// Seconds in a Go duration made of h, m and s parts (what cert-manager parses).
fn go_duration(text: &str) -> Result<u64, String> {
    let mut total = 0;
    let mut number = String::new();
    for c in text.chars() {
        match c {
            '0'..='9' => number.push(c),
            'h' | 'm' | 's' if !number.is_empty() => {
                let n: u64 = number
                    .parse()
                    .map_err(|_| format!("bad duration {text:?}"))?;
                total += n * match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                number.clear();
            }
            _ => return Err(format!("bad duration {text:?}")),
        }
    }
    if !number.is_empty() || text.is_empty() {
        return Err(format!("bad duration {text:?}"));
    }
    Ok(total)
}

fn one<'a, T>(list: &'a [T], what: &str) -> &'a T {
    assert_eq!(list.len(), 1, "expected exactly one {what}");
    &list[0]
}

/// True when `selector` selects an object with `labels` (the API server's rules).
fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.clone().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => panic!("unknown selector operator {other}"),
        }
    });
    by_labels && by_expressions
}

fn namespace_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("kubernetes.io/metadata.name".to_string(), name.to_string())])
}

/// What the tests need of a mutating or a validating webhook.
struct Hook {
    name: String,
    client: WebhookClientConfig,
    namespace_selector: Option<LabelSelector>,
    object_selector: Option<LabelSelector>,
    rules: Vec<RuleWithOperations>,
}

fn hooks(r: &Rendered) -> Vec<Hook> {
    let mut out = Vec::new();
    for c in &r.mutating {
        for h in c.webhooks.iter().flatten() {
            out.push(Hook {
                name: h.name.clone(),
                client: h.client_config.clone(),
                namespace_selector: h.namespace_selector.clone(),
                object_selector: h.object_selector.clone(),
                rules: h.rules.clone().unwrap_or_default(),
            });
        }
    }
    for c in &r.validating {
        for h in c.webhooks.iter().flatten() {
            out.push(Hook {
                name: h.name.clone(),
                client: h.client_config.clone(),
                namespace_selector: h.namespace_selector.clone(),
                object_selector: h.object_selector.clone(),
                rules: h.rules.clone().unwrap_or_default(),
            });
        }
    }
    out
}

/// Whether `hook` can be called for objects in (or, for a Namespace rule, for)
/// the namespace `ns`. An objectSelector counts only for Namespace objects,
/// whose labels are the namespace's; for other objects it is chosen by
/// whoever writes them, so it protects nothing.
fn intercepts(hook: &Hook, ns: &BTreeMap<String, String>) -> bool {
    let only_namespaces = hook.rules.iter().all(|r| {
        r.resources
            .iter()
            .flatten()
            .all(|res| res.split('/').next() == Some("namespaces"))
    });
    let by_namespace = hook
        .namespace_selector
        .as_ref()
        .is_none_or(|s| selects(s, ns));
    let by_object =
        !only_namespaces || hook.object_selector.as_ref().is_none_or(|s| selects(s, ns));
    by_namespace && by_object
}

/// True for a webhook on Kubernetes Nodes only (cluster-scoped: namespace
/// selectors do not apply to them).
fn is_kubernetes_nodes(hook: &Hook) -> bool {
    hook.rules.iter().all(|r| {
        r.api_groups.as_deref() == Some(&[String::new()][..])
            && r.resources
                .iter()
                .flatten()
                .all(|res| res.split('/').next() == Some("nodes"))
    })
}

/// The same selectors with every `In` expression removed, as if an overlay
/// had widened the Longhorn namespace list to everything.
fn widened(hook: &Hook) -> Hook {
    let strip = |s: &Option<LabelSelector>| {
        s.clone().map(|mut s| {
            if let Some(exprs) = s.match_expressions.as_mut() {
                exprs.retain(|e| e.operator != "In");
            }
            s
        })
    };
    Hook {
        name: hook.name.clone(),
        client: hook.client.clone(),
        namespace_selector: strip(&hook.namespace_selector),
        object_selector: strip(&hook.object_selector),
        rules: hook.rules.clone(),
    }
}

/// The webhooks call the Service on its port, select `longhorn_ns`, and never
/// kube-system or the guard's namespace, even with the `In` lists widened.
fn assert_webhooks(r: &Rendered, longhorn_ns: &str) {
    let service = one(&r.services, "Service");
    let port = &service
        .spec
        .as_ref()
        .expect("Service spec")
        .ports
        .as_ref()
        .expect("ports")[0];
    let all = hooks(r);
    assert_eq!(all.len(), 8, "eight webhooks");
    for hook in &all {
        let svc = hook
            .client
            .service
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no clientConfig.service", hook.name));
        assert_eq!(
            (svc.name.as_str(), svc.namespace.as_str(), svc.port),
            (
                service.metadata.name.as_deref().unwrap_or_default(),
                service.metadata.namespace.as_deref().unwrap_or_default(),
                Some(port.port)
            ),
            "{} must call the rendered Service",
            hook.name
        );
        assert!(hook.client.url.is_none(), "{}", hook.name);
        if is_kubernetes_nodes(hook) {
            // Nodes belong to no namespace: scoped by the label Longhorn reads.
            let selector = hook.object_selector.as_ref().expect("an objectSelector");
            let labels = |v: &str| {
                BTreeMap::from([(
                    "node.longhorn.io/create-default-disk".to_string(),
                    v.to_string(),
                )])
            };
            // longhorn-manager lower-cases the value (strings.ToLower,
            // controller/kubernetes_node_controller.go, v1.10 to v1.12): every
            // spelling must reach the guard, which reads it as Longhorn does.
            for value in ["config", "Config", "CONFIG", "true"] {
                assert!(selects(selector, &labels(value)), "{} {value}", hook.name);
            }
            assert!(!selects(selector, &BTreeMap::new()), "{}", hook.name);
            continue;
        }
        assert!(
            intercepts(hook, &namespace_labels(longhorn_ns)),
            "{} does not select the Longhorn namespace {longhorn_ns}",
            hook.name
        );
        for other in ["kube-system", GUARD_NS, "default", "longhorn-system-2"] {
            if other == longhorn_ns {
                continue;
            }
            assert!(
                !intercepts(hook, &namespace_labels(other)),
                "{} selects {other}",
                hook.name
            );
        }
        for never in ["kube-system", GUARD_NS] {
            assert!(
                !intercepts(&widened(hook), &namespace_labels(never)),
                "{} would select {never} once its In list is widened: it needs a NotIn",
                hook.name
            );
        }
    }
}

fn container<'a>(spec: &'a PodSpec, name: &str) -> &'a Container {
    spec.containers
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn arg_after<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn env_value<'a>(c: &'a Container, name: &str) -> Option<&'a str> {
    c.env
        .iter()
        .flatten()
        .find(|e| e.name == name)
        .and_then(|e| e.value.as_deref())
}

/// A port by number or by name, resolved against the container's ports.
fn container_port(c: &Container, port: &IntOrString) -> Option<i32> {
    let ports = c.ports.iter().flatten();
    match port {
        IntOrString::Int(n) => ports.map(|p| p.container_port).find(|p| p == n),
        IntOrString::String(name) => ports
            .filter(|p| p.name.as_deref() == Some(name))
            .map(|p| p.container_port)
            .next(),
    }
}

/// The Pod Security "restricted" profile (latest), check by check, as
/// k8s.io/pod-security-admission defines it; plus what this Deployment needs.
fn assert_pod_template(d: &Deployment) {
    let spec = &d.spec;
    let pod = spec.template.spec.as_ref().expect("pod template spec");
    let psc = pod.security_context.clone().unwrap_or_default();

    // restricted: host namespaces, hostPath and host ports.
    assert_ne!(pod.host_network, Some(true), "hostNetwork");
    assert_ne!(pod.host_pid, Some(true), "hostPID");
    assert_ne!(pod.host_ipc, Some(true), "hostIPC");
    for v in pod.volumes.iter().flatten() {
        let allowed = v.config_map.is_some()
            || v.secret.is_some()
            || v.projected.is_some()
            || v.downward_api.is_some()
            || v.empty_dir.is_some()
            || v.csi.is_some()
            || v.ephemeral.is_some()
            || v.persistent_volume_claim.is_some();
        assert!(
            allowed && v.host_path.is_none(),
            "volume {} is not allowed by restricted",
            v.name
        );
    }
    // restricted: seccomp RuntimeDefault (or Localhost) at pod level.
    assert_eq!(
        psc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault"),
        "pod seccompProfile"
    );
    assert_eq!(psc.run_as_non_root, Some(true), "pod runAsNonRoot");
    assert_eq!(psc.run_as_user, Some(65532), "pod runAsUser");
    assert_eq!(psc.run_as_group, Some(65532), "pod runAsGroup");
    assert!(pod.init_containers.is_none() && pod.ephemeral_containers.is_none());
    assert_eq!(pod.containers.len(), 1, "one container");
    for c in &pod.containers {
        let sc = c.security_context.clone().unwrap_or_default();
        let who = format!("container {}", c.name);
        assert_ne!(sc.privileged, Some(true), "{who}: privileged");
        assert_eq!(
            sc.allow_privilege_escalation,
            Some(false),
            "{who}: allowPrivilegeEscalation"
        );
        let caps = sc.capabilities.clone().unwrap_or_default();
        assert!(
            caps.drop.iter().flatten().any(|d| d == "ALL"),
            "{who}: capabilities must drop ALL"
        );
        assert!(
            caps.add.is_none_or(|a| a.is_empty()),
            "{who}: adds capabilities"
        );
        assert_ne!(sc.run_as_non_root, Some(false), "{who}: runAsNonRoot false");
        assert_ne!(sc.run_as_user, Some(0), "{who}: runs as root");
        if let Some(p) = &sc.seccomp_profile {
            assert!(
                p.type_ == "RuntimeDefault" || p.type_ == "Localhost",
                "{who}: seccomp {}",
                p.type_
            );
        }
        assert_eq!(
            sc.read_only_root_filesystem,
            Some(true),
            "{who}: readOnlyRootFilesystem"
        );
        for p in c.ports.iter().flatten() {
            assert!(p.host_port.is_none_or(|h| h == 0), "{who}: hostPort");
        }
    }

    let c = container(pod, "guard");
    assert_eq!(spec.replicas, Some(2), "two replicas");
    // Spread across nodes, as a hard topology spread or a pod anti-affinity.
    let template_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let spread = pod.topology_spread_constraints.iter().flatten().any(|t| {
        t.topology_key == "kubernetes.io/hostname"
            && t.max_skew == 1
            && t.when_unsatisfiable == "DoNotSchedule"
            && t.label_selector
                .as_ref()
                .is_some_and(|s| selects(s, &template_labels))
    });
    let anti = pod
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .is_some_and(|a| {
            a.required_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
                .chain(
                    a.preferred_during_scheduling_ignored_during_execution
                        .iter()
                        .flatten()
                        .map(|w| &w.pod_affinity_term),
                )
                .any(|t| {
                    t.topology_key == "kubernetes.io/hostname"
                        && t.label_selector
                            .as_ref()
                            .is_some_and(|s| selects(s, &template_labels))
                })
        });
    assert!(
        spread || anti,
        "replicas are not spread across kubernetes.io/hostname"
    );
    assert!(
        spec.selector
            .match_labels
            .as_ref()
            .is_some_and(|_| selects(&spec.selector, &template_labels)),
        "the Deployment's selector does not select its own template"
    );

    // Probes: HTTPS on the serving port.
    let listen = arg_after(c.args.as_deref().unwrap_or_default(), "--listen").expect("--listen");
    let listen_port: i32 = listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("--listen port");
    assert_eq!(listen_port, 8443);
    for (probe, path) in [
        (&c.liveness_probe, "/healthz"),
        (&c.readiness_probe, "/readyz"),
        (&c.startup_probe, "/healthz"),
    ] {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .unwrap_or_else(|| panic!("no httpGet probe on {path}"));
        assert_eq!(get.path.as_deref(), Some(path));
        assert_eq!(get.scheme.as_deref(), Some("HTTPS"), "probe on {path}");
        assert_eq!(
            container_port(c, &get.port),
            Some(listen_port),
            "probe on {path}"
        );
    }

    // Termination: the preStop sleep and the drain fit in the grace period.
    // The sleep action: kubernetes/enhancements keps/sig-node/3960-pod-lifecycle-sleep-action
    // (alpha 1.29, beta and on by default 1.30, GA 1.34).
    let sleep = c
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
        .and_then(|p| p.sleep.as_ref())
        .expect("preStop sleep action (the image has no shell)")
        .seconds;
    let drain: i64 = env_value(c, "LTG_DRAIN_SECONDS")
        .and_then(|v| v.parse().ok())
        .expect("LTG_DRAIN_SECONDS");
    let grace = pod
        .termination_grace_period_seconds
        .expect("terminationGracePeriodSeconds");
    assert!(
        (3..=10).contains(&sleep) && grace >= sleep + drain + 2,
        "preStop {sleep} s + drain {drain} s must fit in {grace} s with room to spare"
    );

    // Resources: requests for both, a memory limit above the observed 17 MiB peak.
    let res = c.resources.as_ref().expect("resources");
    let requests = res.requests.as_ref().expect("requests");
    assert!(requests.contains_key("cpu") && requests.contains_key("memory"));
    let limit = &res.limits.as_ref().expect("limits")["memory"].0;
    let mib: u64 = limit
        .strip_suffix("Mi")
        .and_then(|m| m.parse().ok())
        .expect("memory limit in Mi");
    assert!(
        mib >= 32,
        "memory limit {limit} too close to the 17 MiB peak"
    );
    // The limits the memory limit is sized on (README, "Limits"): the idle
    // guard (about 12 MiB), 48 KiB per open connection (a bound: tests/dos.rs
    // worst_case_memory_... measures an idle connection's cost and fails
    // above it), and the body budget.
    let conns: u64 = env_value(c, "LTG_MAX_CONNECTIONS")
        .and_then(|v| v.parse().ok())
        .expect("LTG_MAX_CONNECTIONS");
    let budget: u64 = env_value(c, "LTG_BODY_BUDGET_BYTES")
        .and_then(|v| v.parse().ok())
        .expect("LTG_BODY_BUDGET_BYTES");
    let worst = 12 * 1024 * 1024 + conns * 48 * 1024 + budget;
    assert!(
        worst < mib * 1024 * 1024,
        "{conns} connections and a {budget}-byte body budget can hold {} MiB, over the {limit} limit",
        worst >> 20
    );

    // Identity and environment.
    assert_eq!(
        pod.automount_service_account_token,
        Some(true),
        "needs the API"
    );
    assert_eq!(pod.service_account_name.as_deref(), Some(NAME));
    let pod_ns = c
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "POD_NAMESPACE")
        .and_then(|e| e.value_from.as_ref())
        .and_then(|v| v.field_ref.as_ref())
        .map(|f| f.field_path.as_str());
    assert_eq!(
        pod_ns,
        Some("metadata.namespace"),
        "POD_NAMESPACE from the downward API"
    );
    assert!(
        pod.priority_class_name.is_none(),
        "no system priority class outside kube-system"
    );
    let image = c.image.as_deref().unwrap_or_default();
    assert!(
        image.ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))),
        "image {image} is not tagged with the crate version"
    );
}

/// The ConfigMap mounted where `--config` points.
fn mounted_config<'a>(r: &'a Rendered, d: &Deployment) -> &'a str {
    let pod = d.spec.template.spec.as_ref().expect("pod spec");
    let c = container(pod, "guard");
    let config = arg_after(c.args.as_deref().unwrap_or_default(), "--config").expect("--config");
    assert_eq!(config, CONFIG_PATH);
    let (dir, file) = config.rsplit_once('/').expect("absolute path");
    let mount = c
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path.trim_end_matches('/') == dir)
        .unwrap_or_else(|| panic!("nothing mounted at {dir}"));
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .expect("the mount's volume");
    let cm_name = volume
        .config_map
        .as_ref()
        .map(|c| c.name.as_str())
        .expect("a ConfigMap volume");
    let cm = r
        .config_maps
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(cm_name))
        .unwrap_or_else(|| panic!("ConfigMap {cm_name} is not rendered"));
    cm.data
        .as_ref()
        .and_then(|d| d.get(file))
        .map(String::as_str)
        .unwrap_or_else(|| panic!("ConfigMap {cm_name} has no key {file}"))
}

/// Everything both the base and the overlay must satisfy.
fn assert_common(r: &Rendered, longhorn_ns: &str) {
    let ns = one(&r.namespaces, "Namespace");
    assert_eq!(ns.metadata.name.as_deref(), Some(GUARD_NS));
    let labels = ns.metadata.labels.clone().unwrap_or_default();
    for mode in ["enforce", "audit", "warn"] {
        let key = format!("pod-security.kubernetes.io/{mode}");
        assert_eq!(
            labels.get(&key).map(String::as_str),
            Some("restricted"),
            "{key}"
        );
        assert_eq!(
            labels.get(&format!("{key}-version")).map(String::as_str),
            Some("latest"),
            "{key}-version"
        );
    }
    let namespaced = r
        .service_accounts
        .iter()
        .map(|o| &o.metadata)
        .chain(r.roles.iter().map(|o| &o.metadata))
        .chain(r.role_bindings.iter().map(|o| &o.metadata))
        .chain(r.config_maps.iter().map(|o| &o.metadata))
        .chain(r.services.iter().map(|o| &o.metadata))
        .chain(r.deployments.iter().map(|o| &o.metadata))
        .chain(r.pdbs.iter().map(|o| &o.metadata))
        .chain(r.leases.iter().map(|o| &o.metadata));
    for meta in namespaced {
        assert_eq!(meta.namespace.as_deref(), Some(GUARD_NS), "{:?}", meta.name);
    }

    let d = one(&r.deployments, "Deployment");
    assert_pod_template(d);
    let template_labels = d
        .spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let pod = d.spec.template.spec.as_ref().expect("pod spec");
    let guard = container(pod, "guard");

    let sa = one(&r.service_accounts, "ServiceAccount");
    assert_eq!(
        sa.metadata.name.as_deref(),
        pod.service_account_name.as_deref()
    );

    let pdb = one(&r.pdbs, "PodDisruptionBudget");
    let pdb_spec = pdb.spec.as_ref().expect("PDB spec");
    assert_eq!(pdb_spec.min_available, Some(IntOrString::Int(1)));
    assert!(
        pdb_spec
            .selector
            .as_ref()
            .is_some_and(|s| selects(s, &template_labels)),
        "the PDB does not select the Deployment's pods"
    );

    let svc = one(&r.services, "Service");
    let svc_spec = svc.spec.as_ref().expect("Service spec");
    let selector = svc_spec.selector.clone().unwrap_or_default();
    assert!(
        !selector.is_empty()
            && selector
                .iter()
                .all(|(k, v)| template_labels.get(k) == Some(v)),
        "the Service does not select the Deployment's pods"
    );
    let port = one(
        svc_spec.ports.as_deref().unwrap_or_default(),
        "Service port",
    );
    assert_eq!((port.port, port.name.as_deref()), (443, Some("https")));
    let target = port
        .target_port
        .clone()
        .unwrap_or(IntOrString::Int(port.port));
    assert_eq!(
        container_port(guard, &target),
        Some(8443),
        "the Service's targetPort"
    );

    let config = Config::from_yaml(mounted_config(r, d), "rendered ConfigMap")
        .unwrap_or_else(|e| panic!("the rendered config does not load: {e}"));
    assert_eq!(config.longhorn_namespace, longhorn_ns);
    let defaults = Config {
        longhorn_namespace: longhorn_ns.to_string(),
        ..Config::default()
    };
    assert_eq!(
        config, defaults,
        "the ConfigMap is the embedded defaults written out"
    );

    assert_webhooks(r, longhorn_ns);
    assert_rbac(r);
}

/// No wildcard anywhere; the bindings give the rules to the guard's account only.
fn assert_rbac(r: &Rendered) {
    let rules = r
        .cluster_roles
        .iter()
        .flat_map(|c| c.rules.iter().flatten())
        .chain(r.roles.iter().flat_map(|c| c.rules.iter().flatten()));
    for rule in rules {
        let words = rule
            .verbs
            .iter()
            .chain(rule.api_groups.iter().flatten())
            .chain(rule.resources.iter().flatten())
            .chain(rule.resource_names.iter().flatten());
        for w in words {
            assert!(!w.contains('*'), "wildcard {w:?} in {rule:?}");
        }
        assert!(rule.non_resource_urls.is_none(), "{rule:?}");
        let sensitive = rule.resources.iter().flatten().any(|res| {
            matches!(
                res.as_str(),
                "secrets" | "mutatingwebhookconfigurations" | "validatingwebhookconfigurations"
            )
        });
        let create_secrets = rule.verbs == ["create"]
            && rule.resources.as_deref() == Some(&["secrets".to_string()][..]);
        if sensitive && !create_secrets {
            assert!(
                rule.resource_names.as_ref().is_some_and(|n| !n.is_empty()),
                "{rule:?} must be restricted by resourceNames"
            );
        }
    }
    let subjects = r
        .cluster_role_bindings
        .iter()
        .flat_map(|b| b.subjects.iter().flatten())
        .chain(
            r.role_bindings
                .iter()
                .flat_map(|b| b.subjects.iter().flatten()),
        );
    for s in subjects {
        assert_eq!(
            (s.kind.as_str(), s.name.as_str(), s.namespace.as_deref()),
            ("ServiceAccount", NAME, Some(GUARD_NS))
        );
    }
    for b in &r.cluster_role_bindings {
        assert_eq!(
            (b.role_ref.kind.as_str(), b.role_ref.name.as_str()),
            ("ClusterRole", NAME)
        );
        assert!(
            r.cluster_roles
                .iter()
                .any(|c| c.metadata.name.as_deref() == Some(NAME))
        );
    }
    for b in &r.role_bindings {
        assert_eq!(
            (b.role_ref.kind.as_str(), b.role_ref.name.as_str()),
            ("Role", NAME)
        );
        assert!(
            r.roles
                .iter()
                .any(|c| c.metadata.name.as_deref() == Some(NAME))
        );
    }
}

fn rule(groups: &[&str], resources: &[&str], names: &[&str], verbs: &[&str]) -> PolicyRule {
    let strings = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    PolicyRule {
        api_groups: Some(strings(groups)),
        resources: Some(strings(resources)),
        resource_names: (!names.is_empty()).then(|| strings(names)),
        verbs: strings(verbs),
        non_resource_urls: None,
    }
}

fn nodes_get() -> PolicyRule {
    rule(&[""], &["nodes"], &[], &["get"])
}

/// What the background audit reads (lists only) and writes (its two reports,
/// its Lease), in base/rbac.yaml's order.
fn audit_rules() -> Vec<PolicyRule> {
    vec![
        rule(&[""], &["namespaces"], &[], &["get"]),
        rule(&[""], &["nodes", "pods", "configmaps"], &[], &["list"]),
        rule(
            &["apps"],
            &["daemonsets", "deployments", "statefulsets", "replicasets"],
            &[],
            &["list"],
        ),
        rule(&["batch"], &["jobs", "cronjobs"], &[], &["list"]),
        rule(&["longhorn.io"], &["nodes", "settings"], &[], &["list"]),
        rule(
            &["wgpolicyk8s.io"],
            &["policyreports", "clusterpolicyreports"],
            &[],
            &["create"],
        ),
        rule(
            &["wgpolicyk8s.io"],
            &["policyreports", "clusterpolicyreports"],
            &[NAME],
            &["get", "update"],
        ),
        rule(
            &["coordination.k8s.io"],
            &["leases"],
            &["longhorn-talos-guard-audit"],
            &["get", "update"],
        ),
    ]
}

/// The background audit is on, with its Lease shipped.
fn assert_audit_on(r: &Rendered, args: &[String]) {
    assert_eq!(arg_after(args, "--audit-interval"), Some("5m"));
    let lease = one(&r.leases, "Lease");
    assert_eq!(
        lease.metadata.name.as_deref(),
        Some("longhorn-talos-guard-audit")
    );
    assert!(lease.spec.is_none(), "the shipped Lease has no holder");
}

#[test]
fn base_renders_strictly_typed_with_the_promised_properties() {
    let r = typed(&render(&repo().join("manifests/base")));
    assert_common(&r, "longhorn-system");

    // Exactly the rules of the issue, and nothing cluster-wide beyond them.
    let cluster = one(&r.cluster_roles, "ClusterRole");
    let mut expected = vec![
        nodes_get(),
        rule(
            &["admissionregistration.k8s.io"],
            &[
                "mutatingwebhookconfigurations",
                "validatingwebhookconfigurations",
            ],
            &[NAME],
            &["get", "patch", "watch"],
        ),
    ];
    expected.extend(audit_rules());
    assert_eq!(cluster.rules.clone().unwrap_or_default(), expected);
    let role = one(&r.roles, "Role");
    assert_eq!(
        role.rules.clone().unwrap_or_default(),
        [
            rule(&[""], &["secrets"], &[], &["create"]),
            rule(&[""], &["secrets"], &[SECRET], &["get", "update"]),
        ]
    );

    // Self-managed mode, with the flags and the names RBAC allows.
    let d = one(&r.deployments, "Deployment");
    let pod = d.spec.template.spec.as_ref().expect("pod spec");
    let args = container(pod, "guard").args.clone().unwrap_or_default();
    assert_eq!(arg_after(&args, "--cert-mode"), Some("self-managed"));
    assert_eq!(arg_after(&args, "--secret-name"), Some(SECRET));
    let config_names: Vec<_> = r
        .mutating
        .iter()
        .map(|c| c.metadata.name.clone())
        .chain(r.validating.iter().map(|c| c.metadata.name.clone()))
        .collect();
    assert_eq!(
        config_names,
        [Some(NAME.to_string()), Some(NAME.to_string())]
    );
    assert_eq!(arg_after(&args, "--webhook-configuration"), Some(NAME));
    assert_audit_on(&r, &args);
    assert!(r.cert_manager.is_empty());
}

#[test]
fn cert_manager_overlay_mounts_the_issued_secret_and_drops_the_write_rules() {
    let r = typed(&render(&repo().join("manifests/overlays/cert-manager")));
    assert_common(&r, "longhorn-system");

    // RBAC: the Node look-up and the background audit only; no Role,
    // nothing on Secrets or webhooks.
    let mut expected = vec![nodes_get()];
    expected.extend(audit_rules());
    assert_eq!(
        one(&r.cluster_roles, "ClusterRole")
            .rules
            .clone()
            .unwrap_or_default(),
        expected
    );
    assert!(
        r.roles.is_empty() && r.role_bindings.is_empty(),
        "no Role is needed"
    );

    // The Deployment reads the Secret cert-manager writes, mounted at --cert-dir.
    let d = one(&r.deployments, "Deployment");
    let pod = d.spec.template.spec.as_ref().expect("pod spec");
    let c = container(pod, "guard");
    let args = c.args.clone().unwrap_or_default();
    assert_eq!(arg_after(&args, "--cert-mode"), Some("files"));
    assert_eq!(arg_after(&args, "--cert-dir"), Some(CERT_DIR));
    assert_audit_on(&r, &args);
    for flag in ["--secret-name", "--webhook-configuration"] {
        assert!(
            !args.iter().any(|a| a == flag),
            "{flag} is for self-managed mode"
        );
    }
    let mount = c
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == CERT_DIR)
        .expect("the Secret mounted at --cert-dir");
    assert_eq!(mount.read_only, Some(true));
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .expect("volume");
    let secret = volume.secret.as_ref().expect("a Secret volume");
    assert_eq!(secret.secret_name.as_deref(), Some(SECRET));

    // The bootstrap chain: selfSigned Issuer -> CA Certificate -> CA Issuer -> serving Certificate.
    let cm = &r.cert_manager;
    let get = |kind: &str, name: &str| {
        cm.get(&(kind.to_string(), name.to_string()))
            .unwrap_or_else(|| panic!("no {kind} {name} in {:?}", cm.keys()))
    };
    let serving = cm
        .values()
        .find(|c| c["kind"] == "Certificate" && c["spec"]["secretName"] == SECRET)
        .expect("a Certificate writing the mounted Secret");
    assert_ne!(serving["spec"]["isCA"], true);
    let svc = one(&r.services, "Service");
    let dns = format!(
        "{}.{}.svc",
        svc.metadata.name.as_deref().unwrap_or_default(),
        svc.metadata.namespace.as_deref().unwrap_or_default()
    );
    let names: Vec<&str> = serving["spec"]["dnsNames"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(names.contains(&dns.as_str()), "{names:?} lacks {dns}");
    assert_eq!(serving["spec"]["privateKey"]["encoding"], "PKCS8");
    let ca_issuer = get(
        "Issuer",
        serving["spec"]["issuerRef"]["name"]
            .as_str()
            .unwrap_or_default(),
    );
    let ca_secret = ca_issuer["spec"]["ca"]["secretName"]
        .as_str()
        .expect("a CA Issuer");
    let ca_cert = cm
        .values()
        .find(|c| c["kind"] == "Certificate" && c["spec"]["secretName"] == ca_secret)
        .expect("a Certificate writing the CA Issuer's Secret");
    assert_eq!(ca_cert["spec"]["isCA"], true);
    let root = get(
        "Issuer",
        ca_cert["spec"]["issuerRef"]["name"]
            .as_str()
            .unwrap_or_default(),
    );
    assert!(
        root["spec"]["selfSigned"].is_object(),
        "the CA is self-signed"
    );
    assert_eq!(cm.len(), 4, "{:?}", cm.keys());

    // cainjector fills both webhook configurations from the serving Certificate.
    let inject = format!("{GUARD_NS}/{}", name_of(serving));
    let annotations = r
        .mutating
        .iter()
        .map(|c| c.metadata.annotations.clone())
        .chain(r.validating.iter().map(|c| c.metadata.annotations.clone()));
    for a in annotations {
        let a = a.unwrap_or_default();
        assert_eq!(a.get("cert-manager.io/inject-ca-from"), Some(&inject));
    }
}

#[test]
fn example_image_overlay_changes_the_image_and_nothing_else() {
    let base = render(&repo().join("manifests/base"));
    let docs = render(&repo().join("manifests/overlays/example-image"));
    let mut diffs = Vec::new();
    differences(
        "",
        &Value::Array(base),
        &Value::Array(docs.clone()),
        &mut diffs,
    );
    assert_eq!(
        diffs.len(),
        1,
        "one difference, the image: {}",
        diffs.join("; ")
    );
    let r = typed(&docs);
    assert_common(&r, "longhorn-system");
    let d = one(&r.deployments, "Deployment");
    let pod = d.spec.template.spec.as_ref().expect("pod spec");
    assert_eq!(
        container(pod, "guard").image.as_deref(),
        Some(
            format!(
                "registry.example.com/longhorn-talos-guard:{}",
                env!("CARGO_PKG_VERSION")
            )
            .as_str()
        )
    );
}

/// Every folder under `manifests/` with a kustomization.yaml, by kind
/// (`Kustomization` or `Component`).
fn kustomizations() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![repo().join("manifests")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a manifests folder") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|n| n == "kustomization.yaml") {
                let text = std::fs::read_to_string(&path).expect("read");
                let doc: Value = serde_saphyr::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let kind = doc["kind"].as_str().unwrap_or_default().to_string();
                out.push((dir.clone(), kind));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_kustomization_renders_alike_with_the_oldest_and_newest_kubectl() {
    // render() runs both kubectls and fails when they disagree; a new overlay
    // or component is picked up here without a test of its own.
    let found = kustomizations();
    let names: Vec<String> = found
        .iter()
        .map(|(d, k)| format!("{} {k}", d.strip_prefix(repo()).unwrap_or(d).display()))
        .collect();
    assert_eq!(
        names,
        [
            "manifests/base Kustomization",
            "manifests/components/cel-mutating Component",
            "manifests/components/cel-only Component",
            "manifests/components/cel-only-validating Component",
            "manifests/components/cel-policies Component",
            "manifests/components/longhorn-namespace Component",
            "manifests/components/policy-reports Component",
            "manifests/components/talos-api Component",
            "manifests/overlays/cert-manager Kustomization",
            "manifests/overlays/example-image Kustomization",
        ]
    );
    let overlays: Vec<&PathBuf> = found
        .iter()
        .filter(|(_, k)| k == "Kustomization")
        .map(|(d, _)| d)
        .collect();
    for (dir, kind) in &found {
        if kind == "Kustomization" {
            typed(&render(dir));
            continue;
        }
        assert_eq!(kind, "Component", "{}", dir.display());
        // A component renders only inside a kustomization: inside each one.
        for overlay in &overlays {
            // Both named by relative path, as a user's kustomization would (a
            // component may name another one next to it: cel-only).
            let copy = tempfile::tempdir().expect("temp dir");
            let here = copy.path().canonicalize().expect("canonical temp dir");
            let base = engine::relative(&here, &overlay.canonicalize().expect("canonical overlay"));
            let component =
                engine::relative(&here, &dir.canonicalize().expect("canonical component"));
            std::fs::write(
                copy.path().join("kustomization.yaml"),
                format!(
                    "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [{}]\ncomponents: [{}]\n",
                    base.display(),
                    component.display()
                ),
            )
            .expect("write kustomization");
            typed(&render(copy.path()));
        }
    }
}

/// A kustomization in a temp dir using `base` (in the repository) and a copy
/// of the component whose one line `edit` rewrites; returns the rendering.
fn with_component(base: &str, edit: Option<(&str, &str)>) -> Vec<Value> {
    with_component_at(&repo().join(base), edit)
}

/// [`with_component`] for a base anywhere.
fn with_component_at(base: &Path, edit: Option<(&str, &str)>) -> Vec<Value> {
    with_component_then(base, edit, &[])
}

/// [`with_component_at`], then the repository's components `then` listed after it.
fn with_component_then(base: &Path, edit: Option<(&str, &str)>, then: &[&str]) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = repo().join("manifests/components/longhorn-namespace");
    let copy = dir.path().join("longhorn-namespace");
    std::fs::create_dir(&copy).expect("mkdir");
    for entry in std::fs::read_dir(&src).expect("read the component") {
        let entry = entry.expect("dir entry");
        std::fs::copy(entry.path(), copy.join(entry.file_name())).expect("copy");
    }
    if let Some((from, to)) = edit {
        let file = copy.join("longhorn-namespace.yaml");
        let text = std::fs::read_to_string(&file).expect("read");
        assert_eq!(text.matches(from).count(), 1, "the one edit is {from:?}");
        std::fs::write(&file, text.replace(from, to)).expect("write");
    }
    let here = dir.path().canonicalize().expect("canonical temp dir");
    let base = engine::relative(&here, &base.canonicalize().expect("canonical base"));
    let mut components = vec!["./longhorn-namespace".to_string()];
    for c in then {
        let path = repo().join("manifests/components").join(c);
        components.push(
            engine::relative(&here, &path.canonicalize().expect("canonical component"))
                .display()
                .to_string(),
        );
    }
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [{}]\ncomponents: [{}]\n",
            base.display(),
            components.join(", ")
        ),
    )
    .expect("write kustomization");
    render(dir.path())
}

/// Longhorn in another namespace with engine cel (README, "Longhorn in another
/// namespace"): longhorn-namespace listed first, then the cel components (which
/// drop webhooks whose selectors it would otherwise look for). Every webhook
/// kept selects the new namespace and the guard's config names it, so the
/// guard rewrites the shipped policies (written for longhorn-system) for it.
#[test]
fn longhorn_namespace_component_first_then_the_cel_components() {
    let edit = Some(("name: longhorn-system", "name: storage"));
    let docs = with_component_then(
        &repo().join("manifests/base"),
        edit,
        &["cel-policies", "cel-mutating", "cel-only"],
    );
    let r = typed(&docs);
    assert_eq!(engine_env(&r).as_deref(), Some("cel"));
    let config = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .and_then(|d| d["data"]["config.yaml"].as_str())
        .expect("the guard's config file");
    assert!(config.ends_with("\nlonghornNamespace: storage"), "{config}");
    // Every kept webhook of a namespaced kind (the Kubernetes Node one has no
    // namespace) selects the new namespace.
    let mut selecting = Vec::new();
    for doc in docs
        .iter()
        .filter(|d| d["kind"] == "ValidatingWebhookConfiguration")
    {
        for hook in doc["webhooks"].as_array().into_iter().flatten() {
            let name = hook["name"].as_str().unwrap_or_default();
            if name == "default-disks.longhorn-talos-guard.io" {
                continue;
            }
            let selector = if name == "namespaces.longhorn-talos-guard.io" {
                &hook["objectSelector"]
            } else {
                &hook["namespaceSelector"]
            };
            assert_eq!(
                selector["matchExpressions"][0]["values"],
                serde_json::json!(["storage"]),
                "{name}"
            );
            selecting.push(name.to_string());
        }
    }
    assert_eq!(selecting.len() + 1, hook_names(&r).len(), "{selecting:?}");
}

#[test]
fn longhorn_namespace_component_moves_selectors_and_config_with_one_edit() {
    // Unchanged, the component renders exactly the base with the default
    // namespace spelt out as the config file's last line.
    let mut expected = render(&repo().join("manifests/base"));
    let config = expected
        .iter_mut()
        .find(|d| d["kind"] == "ConfigMap")
        .and_then(|d| d["data"].get_mut("config.yaml"))
        .expect("the base's config file");
    let text = config.as_str().expect("a string").to_string();
    assert!(!text.contains("\nlonghornNamespace:"), "{text}");
    *config = Value::String(format!("{text}\nlonghornNamespace: longhorn-system"));
    let mut diffs = Vec::new();
    differences(
        "",
        &Value::Array(expected),
        &Value::Array(with_component("manifests/base", None)),
        &mut diffs,
    );
    assert!(
        diffs.is_empty(),
        "the component with its default value must only append the namespace: {}",
        diffs.join("; ")
    );

    let edit = Some(("name: longhorn-system", "name: storage"));
    for base in ["manifests/base", "manifests/overlays/cert-manager"] {
        let docs = with_component(base, edit);
        assert!(
            !docs.iter().any(|d| name_of(d) == "longhorn-namespace"),
            "{base}: the local-config source object must not reach the cluster"
        );
        let r = typed(&docs);
        // assert_common checks the webhooks select storage and not longhorn-system,
        // and that the config file says storage and is otherwise the defaults.
        assert_common(&r, "storage");
        let text = serde_json::to_string(&docs).expect("JSON");
        assert!(
            !text.contains("longhorn-system"),
            "{base}: longhorn-system left somewhere"
        );
    }
}

/// A copy of `manifests/base` in a temp dir whose ConfigMap's config file
/// `edit` rewrites.
fn base_copy(edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(repo().join("manifests/base")).expect("read the base") {
        let entry = entry.expect("dir entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
    }
    let file = dir.path().join("configmap.yaml");
    let text = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, edit(&text)).expect("write");
    dir
}

/// The config file of a rendering, loaded as the guard loads it.
fn rendered_config(docs: &[Value]) -> Config {
    let r = typed(docs);
    let d = one(&r.deployments, "Deployment");
    Config::from_yaml(mounted_config(&r, d), "rendered ConfigMap")
        .unwrap_or_else(|e| panic!("the rendered config does not load: {e}"))
}

#[test]
fn longhorn_namespace_component_survives_talos_mounts_pasted_into_the_config() {
    // What a user pastes: the real `talos mounts` output, whose paths are in
    // double quotes, above everything else in the config file (the old
    // component replaced "the first quoted value" and rewrote the first path).
    let out = Command::new(env!("CARGO_BIN_EXE_longhorn-talos-guard"))
        .args(["talos", "mounts"])
        .arg(repo().join("tests/fixtures/talos-layouts/longhorn-1.10-user-volume.yaml"))
        .output()
        .expect("run talos mounts");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mounts = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(mounts.contains("path: \"/var/mnt/longhorn\""), "{mounts}");
    let pasted = base_copy(|text| {
        let indented: String = mounts.lines().map(|l| format!("    {l}\n")).collect();
        let with_paste = text.replacen(
            "  config.yaml: |\n",
            &format!("  config.yaml: |\n{indented}"),
            1,
        );
        assert_ne!(with_paste, text, "the paste went in");
        let out = with_paste.replacen("    allowedMounts: []\n", "", 1);
        assert_ne!(out, with_paste, "the empty list went out");
        out
    });

    let plain = rendered_config(&render(pasted.path()));
    let paths: Vec<String> = plain
        .allowed_mounts
        .iter()
        .map(|m| m.path.to_string())
        .collect();
    assert_eq!(paths, ["/var/mnt/longhorn", "/var/lib/longhorn"]);
    assert_eq!(plain.longhorn_namespace, "longhorn-system");

    let moved = with_component_at(
        pasted.path(),
        Some(("name: longhorn-system", "name: storage")),
    );
    let config = rendered_config(&moved);
    assert_eq!(config.longhorn_namespace, "storage");
    assert_eq!(
        config,
        Config {
            longhorn_namespace: "storage".into(),
            ..plain
        },
        "the component changes the namespace and nothing else"
    );
    assert_webhooks(&typed(&moved), "storage");
}

#[test]
fn longhorn_namespace_written_in_the_config_and_by_the_component_is_refused() {
    // The component appends the key; written by hand as well, the guard must
    // refuse the file rather than pick one of the two.
    let both = base_copy(|text| {
        text.replacen(
            "  config.yaml: |\n",
            "  config.yaml: |\n    longhornNamespace: longhorn-system\n",
            1,
        )
    });
    let docs = with_component_at(
        both.path(),
        Some(("name: longhorn-system", "name: storage")),
    );
    let r = typed(&docs);
    let d = one(&r.deployments, "Deployment");
    let err = Config::from_yaml(mounted_config(&r, d), "rendered ConfigMap")
        .expect_err("longhornNamespace twice");
    assert!(
        err.to_string().contains("longhornNamespace"),
        "the error names the key: {err}"
    );
}

/// The strictness check itself: a misspelt field is reported by its path.
#[test]
fn strict_round_trip_names_an_unknown_field() {
    let doc = serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"spec": {"containers": [
                {"name": "c", "securityContext": {"runAsNonroot": true}}
            ]}}
        }
    });
    let err = strict::<Deployment>(&doc).expect_err("runAsNonroot is not a field");
    assert_eq!(
        err,
        ".spec.template.spec.containers[0].securityContext.runAsNonroot: unknown field (dropped by the API type)"
    );
    let mut cert = serde_json::json!({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": "c", "namespace": GUARD_NS},
        "spec": {"secretName": "s", "duration": "2160h", "renewBefore": "2400h",
                 "privateKey": {"algorithm": "ECDSA", "size": 256},
                 "issuerRef": {"group": "cert-manager.io", "kind": "Issuer", "name": "i"}}
    });
    let err = check_cert_manager("Certificate", &cert).expect_err("renewBefore above duration");
    assert!(err.contains("renewBefore"), "{err}");
    cert["spec"]["renewBefore"] = "720h".into();
    check_cert_manager("Certificate", &cert).expect("valid");
    cert["spec"]["dnsName"] = serde_json::json!(["x"]);
    let err = check_cert_manager("Certificate", &cert).expect_err("dnsName is misspelt");
    assert!(err.contains("spec.dnsName"), "{err}");
}

/// Runs the binary with a rendered Deployment's container args (outside a
/// cluster) and returns its exit code and stderr.
fn run_shipped_args(args: &[String]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_longhorn-talos-guard"))
        .args(args)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBECONFIG")
        .env("HOME", "/nonexistent")
        .output()
        .expect("run the binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_binary_accepts_the_shipped_container_args() {
    // Outside a cluster each variant stops at the first thing it cannot reach
    // (the config file, read before anything else), which proves every flag
    // parsed (a flag the CLI lacks exits 64 with a usage error).
    for (dir, expected) in [
        (
            "manifests/base",
            "cannot read config file /etc/longhorn-talos-guard/config.yaml",
        ),
        (
            "manifests/overlays/cert-manager",
            "cannot read config file /etc/longhorn-talos-guard/config.yaml",
        ),
    ] {
        let rendered = typed(&render(&repo().join(dir)));
        let deployment = one(&rendered.deployments, "Deployment");
        let pod = deployment.spec.template.spec.as_ref().expect("pod spec");
        let args = container(pod, "guard").args.clone().unwrap_or_default();
        let (code, err) = run_shipped_args(&args);
        assert_eq!(code, 1, "{dir}: {err}");
        assert!(err.contains(expected), "{dir}: {err}");
    }
}

#[test]
fn the_image_build_context_holds_what_the_release_build_embeds_and_no_test_data() {
    // No Docker engine here, so the image is never built in CI: check instead
    // that each include_bytes!/include_str! path of the default build is
    // copied by the Dockerfile and kept by .dockerignore, and that nothing
    // under tests/ (the fixtures the `bench` feature embeds) reaches the image.
    let root = repo();
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    let copied: Vec<&str> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter(|l| !l.starts_with("--from"))
        .flat_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            parts[..parts.len() - 1].to_vec()
        })
        .collect();
    let kept: Vec<&str> = ignore.lines().filter_map(|l| l.strip_prefix('!')).collect();
    for path in copied.iter().chain(&kept) {
        assert!(!path.starts_with("tests"), "the image context takes {path}");
    }
    for line in dockerfile.lines().filter(|l| l.contains("cargo build")) {
        assert!(
            !line.contains("--features") && !line.contains("--all-features"),
            "the image builds with default features only: {line}"
        );
    }
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("\ndefault = []\n"), "no default features");
    // The bench module, the one embedding test fixtures, is behind its feature.
    let cli = std::fs::read_to_string(root.join("src/cli/mod.rs")).unwrap();
    assert!(
        cli.contains("#[cfg(feature = \"bench\")]\npub mod bench;"),
        "src/cli/mod.rs declares bench behind its feature"
    );
    let bench_dir = root.join("src/cli/bench");
    let canonical_root = std::fs::canonicalize(root).unwrap();
    let mut sources = vec![root.join("src")];
    let mut embedded = Vec::new();
    while let Some(dir) = sources.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for part in text
                .split("include_bytes!(\"")
                .skip(1)
                .chain(text.split("include_str!(\"").skip(1))
            {
                let rel = &part[..part.find('"').unwrap()];
                let file = path.parent().unwrap().join(rel);
                let file = std::fs::canonicalize(&file)
                    .unwrap_or_else(|e| panic!("{}: {rel}: {e}", path.display()));
                let file = file
                    .strip_prefix(&canonical_root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                embedded.push((path.starts_with(&bench_dir), file));
            }
        }
    }
    assert!(
        embedded.iter().any(|(bench, _)| *bench),
        "src/cli/bench embeds the review fixtures"
    );
    for (bench, file) in &embedded {
        if *bench {
            assert!(file.starts_with("tests/fixtures/"), "{file}");
            continue;
        }
        assert!(
            !file.starts_with("tests"),
            "the release build embeds {file}"
        );
        assert!(
            copied
                .iter()
                .any(|c| file.starts_with(c.trim_end_matches('/'))),
            "Dockerfile does not COPY {file}"
        );
        assert!(
            kept.iter()
                .any(|k| file.starts_with(k.trim_end_matches('/'))),
            ".dockerignore excludes {file}"
        );
    }
}

/// `manifests/base` with the cel components `components` (in the
/// repository, in this order), rendered.
fn with_cel_components(components: &[&str]) -> Vec<Value> {
    render(engine::kustomization_with(components).path())
}

/// The webhook names of a rendering, mutating then validating.
fn hook_names(r: &Rendered) -> Vec<String> {
    hooks(r).into_iter().map(|h| h.name).collect()
}

/// The guard's LTG_ADMISSION_ENGINE (serve --admission-engine), if set.
fn engine_env(r: &Rendered) -> Option<String> {
    let d = one(&r.deployments, "Deployment");
    let spec = d.spec.template.spec.as_ref().expect("pod spec");
    env_value(container(spec, "guard"), "LTG_ADMISSION_ENGINE").map(str::to_string)
}

/// The cel-policies component's ClusterRole and binding: the agreed rule for
/// the four policy kinds, bound to the guard's ServiceAccount.
fn assert_policy_rbac(r: &Rendered) {
    let role = r
        .cluster_roles
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("longhorn-talos-guard-admission-policies"))
        .expect("the admission policies ClusterRole");
    assert_eq!(
        role.rules.as_deref(),
        Some(
            &[rule(
                &["admissionregistration.k8s.io"],
                &engine::POLICY_RESOURCES,
                &[],
                &engine::POLICY_VERBS
            )][..]
        )
    );
    let binding = r
        .cluster_role_bindings
        .iter()
        .find(|b| b.role_ref.name == "longhorn-talos-guard-admission-policies")
        .expect("its binding");
    let subjects = binding.subjects.as_deref().unwrap_or_default();
    assert_eq!(subjects.len(), 1);
    assert_eq!(
        (
            subjects[0].kind.as_str(),
            subjects[0].name.as_str(),
            subjects[0].namespace.as_deref()
        ),
        ("ServiceAccount", NAME, Some(GUARD_NS))
    );
}

/// The shipped policy files are what `policies cel` writes for the default
/// configuration (the Helm chart's copies too), so that they are active from
/// the first apply and equal to what the guard will apply itself.
#[test]
fn cel_components_ship_what_policies_cel_generates_for_the_defaults() {
    let validating = engine::validating();
    let mutating = engine::mutating();
    for (file, want) in [
        (
            "manifests/components/cel-policies/policies.yaml",
            &validating,
        ),
        (
            "manifests/chart/longhorn-talos-guard/files/cel/validating.yaml",
            &validating,
        ),
        ("manifests/components/cel-mutating/mutating.yaml", &mutating),
        (
            "manifests/chart/longhorn-talos-guard/files/cel/mutating.yaml",
            &mutating,
        ),
    ] {
        assert!(
            engine::shipped(&repo().join(file)) == *want,
            "{file} is not what `longhorn-talos-guard policies cel` writes for the default \
             configuration; write it anew (README, Admission engine)"
        );
    }
    // Every generated object carries the label the guard finds its own by.
    for doc in validating.iter().chain(&mutating) {
        assert_eq!(
            doc["metadata"]["labels"]["app.kubernetes.io/managed-by"], "longhorn-talos-guard",
            "{doc}"
        );
    }
}

/// Engine both (cel-policies): base plus the policies and the RBAC to keep
/// them in step, every webhook kept; engine cel (cel-policies, cel-mutating,
/// cel-only) drops exactly the webhooks whose every rule runs as a policy.
#[test]
fn cel_components_add_the_policies_and_narrow_only_what_cel_covers() {
    let base = typed(&render(&repo().join("manifests/base")));
    let all = hook_names(&base);
    assert_eq!(engine_env(&base), None);

    let both = typed(&with_cel_components(&["cel-policies"]));
    assert_eq!(hook_names(&both), all);
    assert_eq!(engine_env(&both).as_deref(), Some("both"));
    assert_policy_rbac(&both);
    assert_eq!(both.vaps.len(), both.vap_bindings.len());
    assert!(!both.vaps.is_empty() && both.maps.is_empty());

    let newest = typed(&with_cel_components(&["cel-policies", "cel-mutating"]));
    assert_eq!(hook_names(&newest), all);
    assert_eq!((newest.maps.len(), newest.map_bindings.len()), (1, 1));

    let cel_docs = with_cel_components(&["cel-policies", "cel-mutating", "cel-only"]);
    let cel = typed(&cel_docs);
    assert_eq!(engine_env(&cel).as_deref(), Some("cel"));
    assert_policy_rbac(&cel);
    // Nothing left unjudged, nothing judged twice (cel-only is for 1.36 or
    // newer: it needs cel-mutating).
    let problems = engine::cel_problems(&render(&repo().join("manifests/base")), &cel_docs);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        hook_names(&cel).len() < all.len(),
        "engine cel narrowed nothing: {:?}",
        hook_names(&cel)
    );
    // Engine cel on 1.34 and 1.35 (cel-policies, cel-only-validating): the
    // mutating namespace webhook stays for LTG-W001, nothing is left unjudged.
    let older_docs = with_cel_components(&["cel-policies", "cel-only-validating"]);
    let older = typed(&older_docs);
    assert_eq!(engine_env(&older).as_deref(), Some("cel"));
    assert!(older.maps.is_empty());
    let problems = engine::cel_problems(&render(&repo().join("manifests/base")), &older_docs);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let older_hooks = hook_names(&older);
    assert!(older_hooks.contains(&"namespaces.mutate.longhorn-talos-guard.io".to_string()));
    assert_eq!(
        older_hooks.len(),
        hook_names(&cel).len() + 1,
        "{older_hooks:?}"
    );
    // Every other field of the webhooks that stay is the base's.
    let base_docs = render(&repo().join("manifests/base"));
    for config in [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        let hooks_of = |docs: &[Value]| -> Vec<Value> {
            docs.iter()
                .filter(|d| d["kind"] == config)
                .flat_map(|d| d["webhooks"].as_array().cloned().unwrap_or_default())
                .collect()
        };
        let before = hooks_of(&base_docs);
        for hook in hooks_of(&cel_docs) {
            let mut was = before
                .iter()
                .find(|h| h["name"] == hook["name"])
                .cloned()
                .expect("a base webhook");
            was["rules"] = hook["rules"].clone();
            assert_eq!(hook, was, "only the rules of a kept webhook may change");
        }
    }
}

/// The base with one component of the repository, rendered by both kubectls.
fn base_with(component: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("temp dir");
    let here = dir.path().canonicalize().expect("canonical temp dir");
    let base = engine::relative(
        &here,
        &repo().join("manifests/base").canonicalize().expect("base"),
    );
    let comp = engine::relative(
        &here,
        &repo()
            .join("manifests/components")
            .join(component)
            .canonicalize()
            .expect("component"),
    );
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [{}]\ncomponents: [{}]\n",
            base.display(),
            comp.display()
        ),
    )
    .expect("write kustomization");
    render(dir.path())
}

#[test]
fn talos_api_component_mounts_the_service_accounts_secret_where_talos_clients_look() {
    let with = base_with("talos-api");
    let r = typed(&with);
    // Talos's ServiceAccount: os:reader only (the preflight reads nothing
    // sensitive), named as the guard's --talos-service-account default.
    let tsa = one(&r.talos_service_accounts, "talos.dev ServiceAccount");
    let name = tsa["metadata"]["name"].as_str().unwrap();
    assert_eq!(name, longhorn_talos_guard::audit::nodes::SERVICE_ACCOUNT);
    assert_eq!(tsa["spec"]["roles"], serde_json::json!(["os:reader"]));
    let d = one(&r.deployments, "Deployment");
    let spec = d.spec.template.spec.as_ref().unwrap();
    let guard = container(spec, "guard");
    let args = guard.args.clone().unwrap_or_default();
    assert_eq!(
        args.last().map(String::as_str),
        Some("--read-nodes"),
        "{args:?}"
    );
    // Talos writes the Secret under the ServiceAccount's own name, key
    // `config` (crd_controller.go newSecret, constants.TalosconfigFilename),
    // and its clients read /var/run/secrets/talos.dev/config
    // (constants.ServiceAccountMountPath; siderolabs/talos v1.14.0-rc.1).
    let volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "talos-secrets")
        .expect("the talos-secrets volume");
    let secret = volume.secret.as_ref().expect("a Secret volume");
    assert_eq!(secret.secret_name.as_deref(), Some(name));
    assert_eq!(
        secret.optional,
        Some(true),
        "the webhook must start without it"
    );
    assert_eq!(secret.default_mode, Some(0o440));
    let mount = guard
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == "talos-secrets")
        .expect("its mount");
    let config = std::path::Path::new(&mount.mount_path).join("config");
    let env = |_: &str| None;
    assert_eq!(
        longhorn_talos_guard::talos::api::talosconfig::default_paths(&env).last(),
        Some(&config),
        "mounted where Talos's clients (and the guard by default) look"
    );
    assert_eq!(mount.read_only, Some(true));
    // The audit's right to read the ServiceAccount's status, by name only.
    let role = r
        .roles
        .iter()
        .find(|x| x.metadata.name.as_deref() == Some(name))
        .expect("its Role");
    assert_eq!(
        role.rules.clone().unwrap_or_default(),
        vec![rule(
            &["talos.dev"],
            &["serviceaccounts"],
            &[name],
            &["get"]
        )]
    );
    let binding = r
        .role_bindings
        .iter()
        .find(|x| x.metadata.name.as_deref() == Some(name))
        .expect("its RoleBinding");
    assert_eq!(binding.role_ref.name, name);
    assert_eq!(
        binding.subjects.clone().unwrap_or_default()[0].name,
        "longhorn-talos-guard"
    );
    // Everything else is the base's, unchanged.
    let base = render(&repo().join("manifests/base"));
    let others = |docs: &[Value]| -> Vec<Value> {
        docs.iter()
            .filter(|d| d["kind"] != "Deployment" && d["metadata"]["name"] != name)
            .cloned()
            .collect()
    };
    assert_eq!(others(&with), others(&base));
}
