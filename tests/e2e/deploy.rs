//! The deployment manifests against the real API server: the rendered base
//! is accepted by a server-side dry run (schemas, RBAC escalation checks,
//! Service and PDB validation), and a pod made from the Deployment's template
//! is admitted by Pod Security `restricted` in the guard's namespace, without
//! a warning, while the same pod stripped of its security settings is not.

use serde_json::{Value, json};

use super::Env;
use super::guard::manifests_base;

const GUARD_NS: &str = "longhorn-talos-guard";

/// `kubectl kustomize manifests/base`, as JSON documents.
fn rendered_base(env: &Env) -> Vec<Value> {
    let run = env
        .k
        .run(&["kustomize", &manifests_base().to_string_lossy()])
        .ok();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&run.stdout)
        .unwrap_or_else(|e| panic!("kustomize output is not YAML: {e}\n{}", run.stdout));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("manifests/base renders no {kind}"))
}

fn list(items: &[Value]) -> String {
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// A Pod with the Deployment's pod template, as its ReplicaSet would create it.
fn pod_from_template(deployment: &Value, name: &str) -> Value {
    let template = &deployment["spec"]["template"];
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": GUARD_NS,
            "labels": template["metadata"]["labels"],
        },
        "spec": template["spec"],
    })
}

/// Applies the base's Namespace and ServiceAccount for real, dry-runs every
/// object of the base on the server, then creates a pod from the template.
pub fn deployment_passes_restricted_and_server_validation(env: &mut Env) {
    let docs = rendered_base(env);

    // The namespace, for real: the dry run of namespaced objects needs it, and
    // its labels make Pod Security judge the pod below at restricted.
    let namespace = find(&docs, "Namespace");
    assert_eq!(namespace["metadata"]["name"], GUARD_NS);
    env.k
        .with_manifest(&["apply"], &namespace.to_string())
        .ok()
        .stderr_lacks("Warning");

    // Everything on the server, dry run: the API server's validation of each
    // object, including the Deployment's template against warn=restricted
    // (a violation would print "Warning: would violate PodSecurity").
    let dry = env
        .k
        .with_manifest(&["apply", "--dry-run=server"], &list(&docs))
        .ok()
        .stderr_lacks("Warning");
    for doc in &docs {
        let kind = doc["kind"].as_str().unwrap_or_default().to_lowercase();
        let name = doc["metadata"]["name"].as_str().unwrap_or_default();
        // e.g. "deployment.apps/longhorn-talos-guard created (server dry run)"
        let listed = dry.stdout.lines().any(|l| {
            l.split_once('/').is_some_and(|(resource, rest)| {
                (resource == kind || resource.starts_with(&format!("{kind}.")))
                    && rest.starts_with(&format!("{name} "))
                    && rest.ends_with("(server dry run)")
            })
        });
        assert!(listed, "{kind}/{name} missing from the dry run: {dry}");
    }

    // The ServiceAccount, for real: the pod names it and the ServiceAccount
    // admission plugin looks it up (no controller-manager makes one here).
    env.k
        .with_manifest(&["apply"], &find(&docs, "ServiceAccount").to_string())
        .ok();

    let deployment = find(&docs, "Deployment");
    let pod = pod_from_template(deployment, "guard-template");
    env.k
        .with_manifest(&["create"], &pod.to_string())
        .ok()
        .stdout_has("pod/guard-template created")
        .stderr_lacks("Warning")
        .stderr_lacks("PodSecurity");
    let stored = env
        .k
        .run(&["get", "pod", "-n", GUARD_NS, "guard-template", "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        stored["spec"]["containers"][0]["securityContext"],
        deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"],
        "admitted unchanged"
    );

    // The namespace really enforces restricted: without the security settings
    // the same pod is refused by PodSecurity (so the admission above means something).
    let mut bare = pod_from_template(deployment, "guard-template-bare");
    bare["spec"]["securityContext"] = json!({});
    bare["spec"]["containers"][0]["securityContext"] = json!({});
    env.k
        .with_manifest(&["create"], &bare.to_string())
        .failed()
        .stderr_has("violates PodSecurity \"restricted:latest\"")
        .stderr_has("allowPrivilegeEscalation != false")
        .stderr_has("runAsNonRoot != true")
        .stderr_has("seccompProfile");

    env.k
        .run(&[
            "delete",
            "pod",
            "-n",
            GUARD_NS,
            "guard-template",
            "--wait=false",
        ])
        .ok();
}
