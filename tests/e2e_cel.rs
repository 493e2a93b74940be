//! End to end, the CEL back end: the policies `policies cel` writes, applied
//! with kubectl to a real kube-apiserver, no guard running, on the newest
//! Kubernetes (tests/envtest, v1.37.2) and on Longhorn 1.13's floor
//! (tests/envtest-1.34, v1.34.4), each with the policies generated for it.
//! Once they are active, every review fixture that creates an
//! object and a sample of generated Settings and Longhorn Nodes are created
//! with server dry-run: kubectl's answer is the webhook's verdict, and its
//! error shows the policy's message. On 1.37 the Longhorn namespace created
//! without labels gets the six labels from the MutatingAdmissionPolicy; on
//! 1.34 there is none (LTG-W001 is listed as the webhook's) and the namespace
//! keeps no label. `bench apiserver` is run once too, with its generated mode.

mod common;

#[allow(dead_code)]
#[path = "e2e/controlplane.rs"]
mod controlplane;
#[allow(dead_code)]
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

/// One control plane at a time (two would share the machine's cores).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn kubectl_against_kube_apiserver_with_the_generated_cel_policies() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    run(controlplane::assets(), KubeVersion(cel::NEWEST_MINOR));
}

/// Kubernetes 1.34: ValidatingAdmissionPolicies only (MutatingAdmissionPolicy
/// is beta and off there: CEL.md, feature state), W001 left to the webhook.
#[test]
fn kubectl_against_kube_apiserver_1_34_with_the_generated_cel_policies() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    run(controlplane::assets_1_34(), KubeVersion(34));
}

fn run(assets: controlplane::Assets, version: KubeVersion) {
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
    cp.assert_version(&format!("v{version}"));
    let cfg = Config::default();
    let generated = cel::generate(&cfg, version);
    let mutating = generated.covered.iter().any(|(id, _)| *id == "LTG-W001");
    assert_eq!(
        mutating,
        version.0 >= cel::MAP_V1_MINOR,
        "W001 in CEL exactly where MutatingAdmissionPolicy v1 is served"
    );
    k.with_manifest(&["apply"], &generated.to_yaml()).ok();

    if mutating {
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
    } else {
        assert!(
            generated.left.iter().any(|l| l.id == "LTG-W001"),
            "{:?}",
            generated.left
        );
        // No MutatingAdmissionPolicy: the namespace is created with the
        // labels the webhook would add (what engine cel keeps it for).
        let labelled = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"longhorn-system","labels":{LABELS}}}"#
            .replace(
                "LABELS",
                &longhorn_talos_guard::base::longhorn::NAMESPACE_LABELS
                    .iter()
                    .map(|(k, v)| format!("\"{k}\":\"{v}\""))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        wait(
            "the Longhorn namespace to be created",
            Duration::from_secs(60),
            || k.with_manifest(&["create"], &labelled).success,
        );
    }
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
        let (want, _) = expect::expected_at(&cfg, version, request);
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

/// `bench apiserver` installs the generated policies next to the guard's
/// webhooks and the hand-written policies, checks that each mode judges
/// (labels the namespace, denies a baseline one, denies a Longhorn Node disk
/// on /mnt) before timing, and reports every mode with the API server's CPU
/// per Node create.
#[cfg(feature = "bench")]
#[test]
fn bench_apiserver_times_the_generated_policies_next_to_the_webhook() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let assets = controlplane::assets();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_longhorn-talos-guard"))
        .args([
            "bench",
            "apiserver",
            "--creates",
            "10",
            "-o",
            "json",
            "--assets",
        ])
        .arg(&assets.dir)
        .output()
        .expect("run bench apiserver");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert!(
        report["kubernetes"]
            .as_str()
            .is_some_and(|v| v.starts_with("v1.37.")),
        "{report}"
    );
    let modes = |key: &str| -> Vec<(String, u64)> {
        report[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                (
                    m["mode"].as_str().unwrap_or_default().to_string(),
                    m["creates"].as_u64().unwrap_or_default(),
                )
            })
            .collect()
    };
    let each = |names: &[&str]| -> Vec<(String, u64)> {
        names.iter().map(|n| (n.to_string(), 10)).collect()
    };
    assert_eq!(modes("modes"), each(&["none", "guard", "cel", "generated"]));
    assert_eq!(modes("nodes"), each(&["none", "guard", "generated"]));
    // 30 Node creates take the API server tens of milliseconds of CPU,
    // several clock ticks: some of it is counted.
    let cpu: f64 = report["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| n["apiserver_cpu_us"].as_f64().expect("apiserver_cpu_us"))
        .sum();
    assert!(cpu > 0.0, "{report}");
}
