//! End to end with `helm install`: the chart installed into a real
//! kube-apiserver (tests/e2e/controlplane.rs) in its development mode
//! (`deployment.enabled=false`, `webhooks.url` with the `certs dev` CA as
//! caBundle), the real guard run out of cluster on that URL with the config
//! file the chart installed, then the namespace scenario and a Longhorn-like
//! chart (tests/fixtures/charts/longhorn-like) installed through the guard.
//! Then the admission engine's make-before-break order (README, "Admission
//! engine"): `admission.engine=both` until the policies deny, then `cel`,
//! after which the Longhorn namespace is labelled and judged with the guard
//! stopped.

mod common;

#[allow(dead_code)]
#[path = "e2e/controlplane.rs"]
mod controlplane;
#[allow(dead_code)]
#[path = "e2e/guard.rs"]
mod guard;
#[allow(dead_code)]
#[path = "helm/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "e2e/kubectl.rs"]
mod kubectl;
#[allow(dead_code)]
#[path = "e2e/process.rs"]
mod process;

use std::time::Duration;

use base64::Engine as _;
use controlplane::{ControlPlane, free_port, wait};
use guard::Guard;
use harness::Helm;

/// Longhorn's default namespace (the chart's default `config.longhornNamespace`).
const LONGHORN_NS: &str = "longhorn-system";

/// A Longhorn namespace labelled baseline, which the guard refuses.
const BASELINE_NAMESPACE: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: longhorn-system
  labels:
    pod-security.kubernetes.io/enforce: baseline
";

/// The guard's denial of BASELINE_NAMESPACE (tests/snapshots, LTG-W002).
const BASELINE_DENIAL: &str = "admission webhook \"namespaces.longhorn-talos-guard.io\" denied the request: namespace \"longhorn-system\": label pod-security.kubernetes.io/enforce is \"baseline\", but Longhorn needs \"privileged\"";

/// The guard's denial of a default-data-path on Talos's read-only root
/// (shared/FACTS.md, "Where data lands on a Talos node": `/` is a read-only
/// squashfs, so nothing can be created under /mnt).
const READ_ONLY_DENIAL: &str = "default-setting.yaml sets default-data-path to \"/mnt/ssd\", which is on Talos's read-only root filesystem";

/// The six labels Longhorn recommends on its namespace (shared/FACTS.md,
/// "Pod Security Admission").
const SIX_LABELS: [(&str, &str); 6] = [
    ("pod-security.kubernetes.io/enforce", "privileged"),
    ("pod-security.kubernetes.io/enforce-version", "latest"),
    ("pod-security.kubernetes.io/audit", "privileged"),
    ("pod-security.kubernetes.io/audit-version", "latest"),
    ("pod-security.kubernetes.io/warn", "privileged"),
    ("pod-security.kubernetes.io/warn-version", "latest"),
];

/// `kubectl create namespace longhorn-system --dry-run=server`: the object
/// the API server would store.
fn create_longhorn_namespace_dry_run(k: &kubectl::Kubectl) -> serde_json::Value {
    k.run(&[
        "create",
        "namespace",
        LONGHORN_NS,
        "--dry-run=server",
        "-o",
        "json",
    ])
    .ok()
    .json()
}

/// Asserts that a Namespace object carries the six labels.
fn assert_six_labels(ns: &serde_json::Value, what: &str) {
    for (label, value) in SIX_LABELS {
        assert_eq!(
            ns["metadata"]["labels"][label].as_str(),
            Some(value),
            "{what}: {label}\n{ns:#}"
        );
    }
}

#[test]
fn helm_v3_installs_the_chart_and_a_longhorn_like_chart() {
    scenario(Helm::V3);
}

#[test]
fn helm_v4_installs_the_chart_and_a_longhorn_like_chart() {
    scenario(Helm::V4);
}

/// A control plane of its own, and what the chart's development mode points
/// at: the dev certificates the guard will serve with (their folder, and the
/// CA as a base64 caBundle) and a free port on loopback where it will listen.
fn control_plane_for_the_chart() -> (ControlPlane, std::path::PathBuf, String, u16) {
    // Both tools first: a missing one fails here with its build script's message.
    let assets = controlplane::assets();
    harness::bin_dir();
    let cp = ControlPlane::start(&assets, guard::certs_dev);
    let tls = cp.dir.path().join("guard-tls");
    guard::certs_dev(&tls);
    let ca = std::fs::read(tls.join("ca.crt")).expect("read the dev ca.crt");
    let bundle = base64::engine::general_purpose::STANDARD.encode(ca);
    (cp, tls, bundle, free_port())
}

/// `helm VERB` of the chart as the release longhorn-talos-guard in the
/// namespace default, in its development mode: no Deployment, the webhooks
/// calling the guard on loopback at `port` and trusting the CA `bundle`;
/// `extra` arguments appended.
fn dev_mode(
    helm: Helm,
    verb: &str,
    port: u16,
    bundle: &str,
    extra: &[&str],
    kubeconfig: Option<&std::path::Path>,
) -> harness::Run {
    let chart = harness::chart();
    let url = format!("webhooks.url=https://127.0.0.1:{port}");
    let ca_bundle = format!("webhooks.caBundle={bundle}");
    let mut args = vec![
        verb,
        "longhorn-talos-guard",
        chart.to_str().unwrap(),
        "--namespace",
        "default",
        "--set",
        "deployment.enabled=false",
        "--set",
        &url,
        "--set",
        &ca_bundle,
    ];
    args.extend_from_slice(extra);
    harness::run(helm, &args, kubeconfig)
}

/// The whole scenario with one helm, on a control plane of its own.
fn scenario(helm: Helm) {
    let (cp, tls, bundle, port) = control_plane_for_the_chart();
    let k = cp.kubectl.clone();
    let kubeconfig = Some(cp.kubeconfig.as_path());
    let install = dev_mode(helm, "install", port, &bundle, &[], kubeconfig);
    assert!(install.success, "{install}");
    let status = harness::run(
        helm,
        &["status", "longhorn-talos-guard", "--namespace", "default"],
        kubeconfig,
    );
    assert!(status.stdout.contains("STATUS: deployed"), "{status}");

    // The guard runs on the config file the chart installed.
    let config = k
        .run(&[
            "get",
            "configmap",
            "-n",
            "longhorn-talos-guard",
            "longhorn-talos-guard-config",
            "-o",
            "jsonpath={.data.config\\.yaml}",
        ])
        .ok();
    let config_file = cp.dir.path().join("config.yaml");
    std::fs::write(&config_file, &config.stdout).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let cert_dir = tls.to_string_lossy().into_owned();
    let config_arg = config_file.to_string_lossy().into_owned();
    let g = Guard::start_with(
        "guard",
        &[
            "--listen",
            &listen,
            "--cert-dir",
            &cert_dir,
            "--config",
            &config_arg,
        ],
        &cp.kubeconfig,
        &cp.log_dir(),
    );

    // Namespace scenario. The API server calls the guard once it has loaded
    // the webhook configurations: a baseline Longhorn namespace is denied.
    wait(
        "the installed webhooks to call the guard",
        Duration::from_secs(30),
        || {
            let r = k.with_manifest(&["create", "--dry-run=server"], BASELINE_NAMESPACE);
            !r.success && r.stderr.contains(BASELINE_DENIAL)
        },
    );
    k.with_manifest(&["apply"], BASELINE_NAMESPACE)
        .failed()
        .stderr_has("Error from server (Forbidden)")
        .stderr_has(BASELINE_DENIAL);
    k.run(&["get", "namespace", LONGHORN_NS])
        .failed()
        .stderr_has("NotFound");
    // `kubectl create namespace longhorn-system` gets the six labels (server
    // dry run: the same admission chain, and the namespace stays free for
    // the Longhorn-like chart below, which creates it for real).
    assert_six_labels(
        &create_longhorn_namespace_dry_run(&k),
        "kubectl create namespace",
    );

    // The Longhorn-like chart with a data path on the read-only root: helm
    // install fails and prints the guard's message.
    let fixture = harness::longhorn_like();
    let bad = harness::run(
        helm,
        &[
            "install",
            "longhorn",
            fixture.to_str().unwrap(),
            "--namespace",
            "default",
            "--set",
            "defaultSettings.defaultDataPath=/mnt/ssd",
        ],
        kubeconfig,
    );
    assert!(!bad.success, "{bad}");
    assert!(
        bad.stderr.contains(
            "admission webhook \"default-settings.longhorn-talos-guard.io\" denied the request"
        ) && bad.stderr.contains(READ_ONLY_DENIAL),
        "{bad}\n{}",
        g.proc.log_tail(20)
    );
    k.run(&[
        "get",
        "configmap",
        "-n",
        LONGHORN_NS,
        "longhorn-default-setting",
    ])
    .failed()
    .stderr_has("NotFound");
    // Helm created the namespace before the ConfigMap: the mutating webhook
    // labelled it.
    let ns = k
        .run(&["get", "namespace", LONGHORN_NS, "-o", "json"])
        .ok()
        .json();
    assert_six_labels(&ns, "the namespace helm created");

    // With a user volume's path it installs (over the failed release).
    let good = harness::run(
        helm,
        &[
            "upgrade",
            "--install",
            "longhorn",
            fixture.to_str().unwrap(),
            "--namespace",
            "default",
            "--set",
            "defaultSettings.defaultDataPath=/var/mnt/longhorn",
        ],
        kubeconfig,
    );
    assert!(good.success, "{good}\n{}", g.proc.log_tail(20));
    let setting = k
        .run(&[
            "get",
            "configmap",
            "-n",
            LONGHORN_NS,
            "longhorn-default-setting",
            "-o",
            "jsonpath={.data.default-setting\\.yaml}",
        ])
        .ok();
    assert_eq!(setting.stdout, "default-data-path: /var/mnt/longhorn");
    k.run(&["get", "daemonset", "-n", LONGHORN_NS, "longhorn-manager"])
        .ok();

    // And the installed namespace keeps its level: baseline is denied on update.
    k.with_manifest(&["apply"], BASELINE_NAMESPACE)
        .failed()
        .stderr_has(BASELINE_DENIAL);
    drop(g);
}

/// The README's order for moving to CEL, on kube-apiserver 1.37: install
/// with `admission.engine=both` (the guard serving), wait until the
/// generated policy is the one that denies, upgrade to `cel`; then, with the
/// guard stopped, the Longhorn namespace still gets its six labels (the
/// MutatingAdmissionPolicy; the mutating webhook is gone) and a baseline
/// level is still denied (the ValidatingAdmissionPolicy).
#[test]
fn admission_engine_both_then_cel_judges_with_the_guard_down() {
    let (cp, tls, bundle, port) = control_plane_for_the_chart();
    let k = cp.kubectl.clone();
    let kubeconfig = Some(cp.kubeconfig.as_path());
    let helm = |verb: &str, engine: &str| {
        let engine = format!("admission.engine={engine}");
        let run = dev_mode(
            Helm::V3,
            verb,
            port,
            &bundle,
            &["--set", &engine],
            kubeconfig,
        );
        assert!(run.success, "{run}");
    };
    helm("install", "both");
    let listen = format!("127.0.0.1:{port}");
    let cert_dir = tls.to_string_lossy().into_owned();
    let g = Guard::start_with(
        "guard",
        &["--listen", &listen, "--cert-dir", &cert_dir],
        &cp.kubeconfig,
        &cp.log_dir(),
    );
    // Make: both judge; the policy runs before the validating webhooks, so
    // once it is active the denial names it.
    let by_policy = "ValidatingAdmissionPolicy 'longhorn-talos-guard-w002' with binding 'longhorn-talos-guard-w002' denied request: LTG-W002: ";
    wait(
        "the generated ValidatingAdmissionPolicy to deny",
        Duration::from_secs(60),
        || {
            let r = k.with_manifest(&["create", "--dry-run=server"], BASELINE_NAMESPACE);
            !r.success && r.stderr.contains(by_policy)
        },
    );
    // Break: the webhooks narrow.
    helm("upgrade", "cel");
    let mutating = k
        .run(&[
            "get",
            "mutatingwebhookconfiguration",
            "longhorn-talos-guard",
            "-o",
            "jsonpath={.webhooks[*].name}",
        ])
        .ok();
    assert_eq!(mutating.stdout, "", "{mutating}");
    drop(g);
    // The guard is down: the policies still judge.
    assert_six_labels(
        &create_longhorn_namespace_dry_run(&k),
        "kubectl create namespace, the guard down",
    );
    k.with_manifest(&["create", "--dry-run=server"], BASELINE_NAMESPACE)
        .failed()
        .stderr_has(by_policy);
    // The namespace is created for real: the validating webhook, kept for
    // the subresources, is not called for it (failurePolicy Fail would refuse).
    k.run(&["create", "namespace", LONGHORN_NS]).ok();
    k.with_manifest(&["apply"], BASELINE_NAMESPACE)
        .failed()
        .stderr_has(by_policy);
    // Uninstall removes the policies it shipped.
    let gone = harness::run(
        Helm::V3,
        &[
            "uninstall",
            "longhorn-talos-guard",
            "--namespace",
            "default",
        ],
        kubeconfig,
    );
    assert!(gone.success, "{gone}");
    let left = k
        .run(&[
            "get",
            "validatingadmissionpolicies,mutatingadmissionpolicies",
            "-l",
            "app.kubernetes.io/managed-by=longhorn-talos-guard",
            "-o",
            "name",
        ])
        .ok();
    assert_eq!(left.stdout.trim(), "", "{left}");
}
