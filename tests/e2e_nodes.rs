//! End to end, the nodes read inside the cluster (`serve --read-nodes`): a
//! real kube-apiserver (tests/envtest) with the talos.dev ServiceAccount CRD
//! Talos installs, the guard's shipped RBAC and the talos-api component's
//! objects, two Kubernetes Nodes routed by InternalIP to the Talos API double
//! (tests/talos-fake/), and the talosconfig in the Secret Talos would write.
//! The test plays the kubelet: it projects the Secret's `config` key into a
//! file, replaced atomically at each renewal, as a Secret volume is.
//!
//! The background audit writes each node's `talos preflight` findings and
//! the ServiceAccount's failure into the ClusterPolicyReport; a renewed
//! Secret is picked up without a restart, a bad one keeps the last good one
//! (log line and metric); admission warns from the fresh facts (LTG-W015).

mod common;

#[allow(dead_code)]
#[path = "e2e/controlplane.rs"]
mod controlplane;
#[allow(dead_code)]
#[path = "e2e/guard.rs"]
mod guard;
#[allow(dead_code)]
#[path = "e2e/kubectl.rs"]
mod kubectl;
#[allow(dead_code)]
#[path = "e2e/process.rs"]
mod process;
#[path = "talos-fake/harness.rs"]
mod talos_fake;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use controlplane::{ControlPlane, wait};
use guard::Guard;
use kubectl::Kubectl;
use longhorn_talos_guard::audit::nodes::SERVICE_ACCOUNT;
use serde_json::{Value, json};
use talos_fake::TalosFake;

const LH: &str = "longhorn-system";
const GUARD_NS: &str = "longhorn-talos-guard";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn apply(k: &Kubectl, file: &str) {
    k.run(&["apply", "-f", &repo().join(file).to_string_lossy()])
        .ok();
}

/// The talosconfig Talos writes into a ServiceAccount's Secret: one context,
/// named `default`, and no nodes (siderolabs/talos crd_controller.go,
/// `talosconfigContextName`, v1.14.0-rc.1); here the double's context
/// `from` with the double's endpoint (Talos's is `talos.default`).
fn secret_talosconfig(fake: &TalosFake, from: &str) -> String {
    let text = std::fs::read_to_string(fake.talosconfig()).expect("the double's talosconfig");
    let all: Value = serde_saphyr::from_str(&text).expect("a talosconfig");
    let context = all["contexts"][from].clone();
    assert!(context.is_object(), "no context {from} in {text}");
    serde_saphyr::to_string(&json!({"context": "default", "contexts": {"default": context}}))
        .expect("YAML")
}

/// Writes `text` as the Secret's key and projects it into `file` (a rename,
/// so the guard sees the whole file or the previous one).
fn renew(k: &Kubectl, file: &Path, text: &str) {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write the projection");
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": SERVICE_ACCOUNT, "namespace": GUARD_NS},
        "data": {"config": base64_encode(text.as_bytes())},
    });
    k.with_manifest(&["apply"], &secret.to_string()).ok();
    std::fs::rename(&tmp, file).expect("project the Secret");
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Patches the talos.dev ServiceAccount as Talos would write its status
/// (the CRD has no status subresource).
fn patch_account(k: &Kubectl, kind: &str, patch: &str) {
    k.run(&[
        "patch",
        "serviceaccounts.talos.dev",
        SERVICE_ACCOUNT,
        "-n",
        GUARD_NS,
        &format!("--type={kind}"),
        "-p",
        patch,
    ])
    .ok();
}

fn cluster_report(k: &Kubectl) -> Option<Value> {
    let run = k.run(&[
        "get",
        "clusterpolicyreport",
        "longhorn-talos-guard",
        "-o",
        "json",
    ]);
    run.success.then(|| run.json())
}

/// `policy object-name` of each result, sorted, and each message by that key.
fn results(report: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                format!(
                    "{} {}",
                    r["policy"].as_str().unwrap_or_default(),
                    r["resources"][0]["name"].as_str().unwrap_or_default()
                ),
                r["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn keys(report: &Option<Value>) -> Vec<String> {
    report
        .as_ref()
        .map(|r| results(r).into_iter().map(|(k, _)| k).collect())
        .unwrap_or_default()
}

/// Waits until the ClusterPolicyReport's results are `expected`; on a
/// timeout, fails with what it has and the guard's log.
fn until_results(k: &Kubectl, guard: &Guard, what: &str, expected: &[&str]) {
    let start = std::time::Instant::now();
    loop {
        let now = keys(&cluster_report(k));
        if now == expected {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}: results {now:?}, expected {expected:?}\n{}",
            guard.proc.log_tail(40)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn metrics(guard: &Guard) -> String {
    let out = Command::new("curl")
        .args(["-sk", &format!("https://{}/metrics", guard.addr)])
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The warnings of `/validate` for the review fixture with a new disk at
/// /var/mnt/data, sent for the Longhorn node `node`.
fn warnings_for(guard: &Guard, node: &str, dir: &Path) -> Vec<String> {
    let mut review: Value =
        serde_json::from_slice(&common::review_fixture("lhnode-create-var-mnt-disk"))
            .expect("the fixture");
    review["request"]["name"] = json!(node);
    review["request"]["object"]["metadata"]["name"] = json!(node);
    let body = dir.join("review.json");
    std::fs::write(&body, review.to_string()).expect("write the review");
    let out = Command::new("curl")
        .args([
            "-sk",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
        ])
        .arg(format!("@{}", body.display()))
        .arg(format!("https://{}/validate", guard.addr))
        .output()
        .expect("run curl");
    let answer: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    answer["response"]["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| w.as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_audit_reads_the_nodes_through_a_renewed_talosconfig() {
    let assets = controlplane::assets();
    let cp = ControlPlane::start(&assets, guard::certs_dev);
    let k = cp.kubectl.clone();
    for file in [
        "tests/fixtures/crds/longhorn.yaml",
        "tests/fixtures/crds/talos-serviceaccounts.yaml",
        "manifests/components/policy-reports/crds.yaml",
    ] {
        apply(&k, file);
    }
    k.run(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/nodes.longhorn.io",
        "crd/serviceaccounts.talos.dev",
        "crd/clusterpolicyreports.wgpolicyk8s.io",
        "crd/policyreports.wgpolicyk8s.io",
    ])
    .ok();
    k.run(&["create", "namespace", LH]).ok();
    // As Longhorn needs it, so that the reports hold only the nodes' findings.
    k.run(&[
        "label",
        "namespace",
        LH,
        "pod-security.kubernetes.io/enforce=privileged",
    ])
    .ok();
    k.run(&["create", "namespace", GUARD_NS]).ok();
    // The shipped RBAC, Lease, and the component's ServiceAccount and Role.
    for file in [
        "manifests/base/rbac.yaml",
        "manifests/base/lease.yaml",
        "manifests/components/talos-api/talos-api.yaml",
    ] {
        apply(&k, file);
    }
    // What Talos writes when the control plane does not allow the namespace
    // (crd_controller.go, messageNamespaceNotAllowed, v1.14.0-rc.1).
    let refused = format!("Namespace is not allowed: {GUARD_NS}");
    patch_account(
        &k,
        "merge",
        &json!({"status": {"failureReason": refused}}).to_string(),
    );
    // Two Kubernetes Nodes; the guard routes to their InternalIP.
    for (name, ip) in [("talos-w1", "10.5.0.2"), ("talos-w2", "10.5.0.3")] {
        k.with_manifest(
            &["create"],
            &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}).to_string(),
        )
        .ok();
        k.run(&[
            "patch",
            "node",
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            &json!({"status": {"addresses": [{"type": "InternalIP", "address": ip}]}}).to_string(),
        ])
        .ok();
    }
    // The Longhorn node of talos-w1 has its disk at /var/mnt/longhorn.
    k.with_manifest(
        &["create"],
        &json!({"apiVersion": "longhorn.io/v1beta2", "kind": "Node",
                "metadata": {"name": "talos-w1", "namespace": LH},
                "spec": {"allowScheduling": true, "disks": {"longhorn": {
                    "path": "/var/mnt/longhorn", "diskType": "filesystem",
                    "allowScheduling": true, "storageReserved": 0, "tags": []}}}})
        .to_string(),
    )
    .ok();

    // talos-w1: a Talos 1.14.1 with no extension and only EPHEMERAL (fields
    // of pkg/machinery resources/runtime/version.go and block/volume_status.go,
    // v1.14.1; the EPHEMERAL of tests/preflight.rs's healthy node); talos-w2
    // does not answer.
    let fake = TalosFake::start(&json!({
        "context": "reader",
        "contexts": {"reader": ["os:reader"], "etcd-backup": ["os:etcd:backup"]},
        "bare": ["reader", "etcd-backup"],
        "nodes": [
            {"address": "10.5.0.2", "tag": "v1.14.1",
             "meminfo": {"hugepagestotal": 0, "hugepagesfree": 0, "hugepagesize": 2048},
             "resources": [
                {"type": "Versions.runtime.talos.dev", "id": "version", "spec": "version: v1.14.1\n"},
                {"type": "VolumeStatuses.block.talos.dev", "id": "EPHEMERAL",
                 "spec": "phase: ready\ntype: partition\nlocation: /dev/sda6\nparentLocation: /dev/sda\nsize: 8589934592\nprettySize: 8.6 GB\nfilesystem: xfs\nmountSpec:\n  targetPath: /var\n"},
             ]},
            {"address": "10.5.0.3", "tag": "v1.14.1", "unreachable": true, "resources": []},
        ],
    }));
    let mounted = cp.dir.path().join("talos.dev");
    std::fs::create_dir_all(&mounted).expect("mkdir");
    let config = mounted.join("config");
    // First a certificate without os:reader: every node refuses it.
    renew(&k, &config, &secret_talosconfig(&fake, "etcd-backup"));

    let account = common::impersonating(
        &cp.kubeconfig,
        &format!("system:serviceaccount:{GUARD_NS}:longhorn-talos-guard"),
        cp.dir.path().join("guard-account-kubeconfig"),
    );
    let tls = cp.dir.path().join("guard-tls");
    guard::certs_dev(&tls);
    let tls = tls.to_string_lossy().into_owned();
    let config_arg = config.to_string_lossy().into_owned();
    let guard = Guard::start_with(
        "guard",
        &[
            "--listen",
            "127.0.0.1:0",
            "--cert-dir",
            &tls,
            "--audit-interval",
            "1s",
            "--namespace",
            GUARD_NS,
            "--read-nodes",
            "--read-nodes-interval",
            "1s",
            "--talosconfig",
            &config_arg,
        ],
        &account,
        &cp.log_dir(),
    );

    let refused_keys = [
        "LTG-P000 talos-w1",
        "LTG-P000 talos-w2",
        &format!("LTG-P040 {SERVICE_ACCOUNT}"),
    ];
    until_results(
        &k,
        &guard,
        "the node findings and the refused ServiceAccount",
        &refused_keys,
    );
    let report = cluster_report(&k).unwrap();
    let messages = results(&report);
    assert!(
        messages[0]
            .1
            .contains("refused the talosconfig's certificate")
            && messages[0].1.contains("not authorized"),
        "{messages:?}"
    );
    assert!(messages[1].1.contains("no route to host"), "{messages:?}");
    assert!(
        messages[2]
            .1
            .contains(&format!("its status says {refused:?}"))
            && messages[2].1.contains("kind: KubeTalosAPIAccessConfig")
            && messages[2]
                .1
                .contains(&format!("allowedKubernetesNamespaces:\n  - {GUARD_NS}")),
        "{}",
        messages[2].1
    );
    // The result names the ServiceAccount with its namespace.
    let tsa = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["policy"] == "LTG-P040")
        .unwrap();
    assert_eq!(tsa["resources"][0]["namespace"], GUARD_NS);
    assert_eq!(tsa["resources"][0]["apiVersion"], "talos.dev/v1alpha1");

    // The control plane now allows it: Talos clears the status.
    patch_account(&k, "json", r#"[{"op":"remove","path":"/status"}]"#);
    until_results(
        &k,
        &guard,
        "the ServiceAccount finding gone",
        &["LTG-P000 talos-w1", "LTG-P000 talos-w2"],
    );

    // A renewal that is not a talosconfig: the last good one stays.
    renew(&k, &config, "not: [a talosconfig\n");
    wait("the bad renewal noticed", Duration::from_secs(20), || {
        guard
            .proc
            .log()
            .contains("talosconfig unusable: keeping the last good one")
    });
    let m = metrics(&guard);
    assert!(m.contains("ltg_talosconfig_ok 0"), "{m}");
    assert!(
        m.contains("ltg_talosconfig_reloads_total{result=\"error\"}"),
        "{m}"
    );
    assert_eq!(
        keys(&cluster_report(&k)),
        ["LTG-P000 talos-w1", "LTG-P000 talos-w2"]
    );

    // Talos renews the Secret with the reader's certificate: picked up.
    renew(&k, &config, &secret_talosconfig(&fake, "reader"));
    until_results(
        &k,
        &guard,
        "the renewed talosconfig used",
        &[
            "LTG-P000 talos-w2",
            "LTG-P001 talos-w1",
            "LTG-P021 talos-w1",
        ],
    );
    assert!(guard.proc.log().contains("talosconfig renewed"));
    let m = metrics(&guard);
    assert!(m.contains("ltg_talosconfig_ok 1"), "{m}");
    assert!(
        m.contains("ltg_talosconfig_reloads_total{result=\"renewed\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("ltg_audit_findings{policy=\"LTG-P001\",severity=\"high\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("ltg_node_read_nodes{result=\"read\"} 1")
            && m.contains("ltg_node_read_nodes{result=\"unreadable\"} 1")
            && m.contains("ltg_node_read_last_timestamp_seconds "),
        "{m}"
    );
    let messages = results(&cluster_report(&k).unwrap());
    // The disk path is the Longhorn node's, and the message carries the fix.
    assert!(
        messages[2].1.contains("/var/mnt/longhorn") && messages[2].1.contains("\nfix:\n"),
        "{messages:?}"
    );

    // Admission: a new disk at /var/mnt/data on talos-w1, whose fresh facts
    // show no volume data, is allowed with a warning; on a node the guard
    // has no facts of, nothing is said.
    let warned = warnings_for(&guard, "talos-w1", cp.dir.path());
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("talos-w1") && warned[0].contains("/var/mnt/data"),
        "{warned:?}"
    );
    assert_eq!(
        warnings_for(&guard, "talos-w9", cp.dir.path()),
        Vec::<String>::new()
    );
}
