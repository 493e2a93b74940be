//! End to end, the CEL back end: the policies `policies cel` writes, applied
//! with kubectl to a real kube-apiserver (tests/envtest, v1.37.2), no guard
//! running. Once they are active, every review fixture that creates an
//! object and a sample of generated Settings and Longhorn Nodes are created
//! with server dry-run: kubectl's answer is the webhook's verdict, and its
//! error shows the policy's message. The Longhorn namespace created without
//! labels gets the six labels from the MutatingAdmissionPolicy.

mod common;

#[allow(dead_code)]
#[path = "e2e/controlplane.rs"]
mod controlplane;
#[path = "cel-oracle/expect.rs"]
mod expect;
#[allow(dead_code)]
#[path = "e2e/guard.rs"]
mod guard;
#[allow(dead_code)]
#[path = "e2e/kubectl.rs"]
mod kubectl;
#[allow(dead_code)]
#[path = "e2e/process.rs"]
mod process;

use std::path::Path;
use std::time::Duration;

use controlplane::{ControlPlane, wait};
use longhorn_talos_guard::cel::{self, KubeVersion};
use longhorn_talos_guard::config::Config;
use serde_json::{Value, json};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture_creates() -> Vec<Value> {
    let dir = repo().join("tests/fixtures/admission");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            serde_json::from_slice::<Value>(&std::fs::read(p).unwrap()).unwrap()["request"].clone()
        })
        .filter(|r| r["operation"] == "CREATE")
        .collect()
}

fn setting(value: &str) -> Value {
    json!({"apiVersion": "longhorn.io/v1beta2", "kind": "Setting",
        "metadata": {"name": "default-data-path", "namespace": "longhorn-system"}, "value": value})
}

fn node(disks: Value) -> Value {
    json!({"apiVersion": "longhorn.io/v1beta2", "kind": "Node",
        "metadata": {"name": "worker-1", "namespace": "longhorn-system"}, "spec": {"disks": disks}})
}

/// The review kubectl's create sends for `object` as the admin.
fn create_request(object: &Value, group: &str, resource: &str) -> Value {
    json!({
        "uid": "u",
        "kind": {"group": group, "version": if group.is_empty() { "v1" } else { "v1beta2" }, "kind": object["kind"]},
        "resource": {"group": group, "version": if group.is_empty() { "v1" } else { "v1beta2" }, "resource": resource},
        "name": object["metadata"]["name"],
        "namespace": object["metadata"]["namespace"].as_str().unwrap_or_default(),
        "operation": "CREATE",
        "userInfo": {"username": "admin"},
        "object": object,
    })
}

#[test]
fn kubectl_against_kube_apiserver_with_the_generated_cel_policies() {
    let assets = controlplane::assets();
    let cp = ControlPlane::start(&assets, guard::certs_dev);
    let k = cp.kubectl.clone();
    k.run(&[
        "apply",
        "-f",
        &repo()
            .join("tests/fixtures/crds/longhorn.yaml")
            .to_string_lossy(),
    ])
    .ok();
    k.run(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/nodes.longhorn.io",
        "crd/settings.longhorn.io",
    ])
    .ok();
    let cfg = Config::default();
    let generated = cel::generate(&cfg, KubeVersion(cel::NEWEST_MINOR));
    k.with_manifest(&["apply"], &generated.to_yaml()).ok();

    // Active: the Longhorn namespace created without labels comes back with the six (W001).
    wait(
        "the MutatingAdmissionPolicy to label the namespace",
        Duration::from_secs(60),
        || {
            let run = k.run(&[
                "create",
                "namespace",
                "longhorn-system",
                "--dry-run=server",
                "-o",
                "jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}",
            ]);
            run.success && run.stdout == "privileged"
        },
    );
    k.run(&["create", "namespace", "longhorn-system"]).ok();
    // Active: a Setting on the read-only root is denied (W011), the Node check too (W010).
    let probe = setting("/mnt/probe").to_string();
    wait(
        "the ValidatingAdmissionPolicies to deny",
        Duration::from_secs(60),
        || {
            let s = k.with_manifest(&["create", "--dry-run=server"], &probe);
            let n = k.with_manifest(
                &["create", "--dry-run=server"],
                &node(json!({"d": {"path": "/mnt/probe"}})).to_string(),
            );
            !s.success
                && s.stderr.contains("longhorn-talos-guard-w011")
                && !n.success
                && n.stderr.contains("longhorn-talos-guard-w010")
        },
    );

    let mut requests = fixture_creates();
    // A sample of generated objects (paths as tests/cel_oracle.rs draws them).
    for p in [
        "/var/lib/longhorn",
        "/var/mnt/fast",
        "/tmp/x",
        "/run/../var/lib/longhorn",
        "/srv/a\"b",
        "relative",
        "/var/lib/longhorn/../../dev/sdb",
        "/opt//x/",
    ] {
        requests.push(create_request(&setting(p), "longhorn.io", "settings"));
        requests.push(create_request(
            &node(json!({"a": {"path": p}, "b": {"path": "/dev/shm/x", "diskType": "block"}})),
            "longhorn.io",
            "nodes",
        ));
    }
    let (mut denied, mut allowed) = (0, 0);
    for request in &requests {
        let (want, _) = expect::expected(&cfg, request);
        let run = k.with_manifest(
            &["create", "--dry-run=server"],
            &request["object"].to_string(),
        );
        match want {
            Some(message) => {
                assert!(!run.success, "{request}\n{run}");
                // kubectl: Error from server (Forbidden): error when creating "STDIN": <message>
                assert!(
                    run.stderr.contains(&format!(
                        "Error from server (Forbidden): error when creating \"STDIN\": {message}"
                    )),
                    "{run}\nwanted: {message}"
                );
                denied += 1;
            }
            None => {
                // Not denied by a policy: created (dry run), or refused for another
                // reason before or after the policies (already there, an invalid object).
                assert!(
                    !run.stderr.contains("ValidatingAdmissionPolicy"),
                    "{request}\n{run}"
                );
                allowed += 1;
            }
        }
    }
    assert!(
        denied >= 10 && allowed >= 10,
        "{denied} denied, {allowed} allowed"
    );
}
