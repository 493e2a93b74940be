//! The scenarios of issue 4, in order. Each drives the pinned kubectl and
//! asserts what a user sees: the exit status, stdout and stderr.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use longhorn_talos_guard::config::Config;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::Value;

use super::Env;
use super::common::LONGHORN_LABELS;
use super::controlplane::wait;
use super::guard::Guard;

const NS: &str = "longhorn-system";
const FORBIDDEN: &str = "Error from server (Forbidden)";

fn denied_by(webhook: &str) -> String {
    format!("admission webhook \"{webhook}\" denied the request: ")
}

fn failed_calling(webhook: &str) -> String {
    format!("failed calling webhook \"{webhook}\"")
}

/// A pod shaped like Longhorn's manager: privileged, `/var/lib/longhorn`
/// Bidirectional, `/dev` and `/proc` from the host.
fn manager_pod(name: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: longhorn-manager}}
spec:
  automountServiceAccountToken: false
  containers:
    - name: longhorn-manager
      image: longhornio/longhorn-manager:v1.12.1
      securityContext:
        privileged: true
      volumeMounts:
        - {{name: longhorn, mountPath: /var/lib/longhorn/, mountPropagation: Bidirectional}}
        - {{name: dev, mountPath: /host/dev/}}
        - {{name: proc, mountPath: /host/proc/}}
  volumes:
    - {{name: longhorn, hostPath: {{path: /var/lib/longhorn/}}}}
    - {{name: dev, hostPath: {{path: /dev/}}}}
    - {{name: proc, hostPath: {{path: /proc/}}}}
"
    )
}

/// A Longhorn node with `(disk name, path)` filesystem disks.
fn longhorn_node(name: &str, disks: &[(&str, &str)]) -> String {
    let mut out = format!(
        "apiVersion: longhorn.io/v1beta2
kind: Node
metadata:
  name: {name}
  namespace: {NS}
spec:
  allowScheduling: true
  disks:
"
    );
    for (disk, path) in disks {
        out.push_str(&format!(
            "    {disk}: {{path: {path}, diskType: filesystem, allowScheduling: true, storageReserved: 0}}\n"
        ));
    }
    out
}

fn setting(name: &str, value: &str) -> String {
    format!(
        "apiVersion: longhorn.io/v1beta2
kind: Setting
metadata:
  name: {name}
  namespace: {NS}
value: {value:?}
"
    )
}

/// Creates the `default` ServiceAccount (no controller-manager makes it).
fn service_account(env: &Env, ns: &str) {
    let run = env
        .k
        .run(&["create", "serviceaccount", "default", "-n", ns]);
    assert!(run.success || run.stderr.contains("AlreadyExists"), "{run}");
}

/// Scenario 1: `kubectl create namespace longhorn-system` gets the six labels.
pub fn namespace_gets_labels(env: &mut Env) {
    env.k
        .run(&["create", "namespace", NS])
        .ok()
        .stdout_has("namespace/longhorn-system created");
    let ns = env
        .k
        .run(&["get", "namespace", NS, "-o", "json"])
        .ok()
        .json();
    for (key, value) in LONGHORN_LABELS {
        assert_eq!(
            ns["metadata"]["labels"][key].as_str(),
            Some(value),
            "label {key} on {}",
            ns["metadata"]["labels"]
        );
    }
}

const BASELINE_NAMESPACE: &str = "apiVersion: v1
kind: Namespace
metadata:
  name: longhorn-system
  labels:
    pod-security.kubernetes.io/enforce: baseline
";

const NAMESPACES: &str = "namespaces.longhorn-talos-guard.io";
const NODES: &str = "nodes.longhorn-talos-guard.io";

/// Scenario 2a: Applying the Longhorn namespace with `enforce: baseline` before it
/// exists is denied with the project's message, and creates nothing.
pub fn apply_baseline_denied_on_create(env: &mut Env) {
    let run = env
        .k
        .with_manifest(&["apply"], BASELINE_NAMESPACE)
        .failed()
        .stderr_has(&format!("{FORBIDDEN}: error when creating \"STDIN\": "));
    insta::assert_snapshot!("e2e-namespace-baseline", run.denial(NAMESPACES));
    env.k
        .run(&["get", "namespace", NS])
        .failed()
        .stderr_has("Error from server (NotFound)");
}

/// Scenario 2b: Applying it over the existing namespace is denied the same way.
pub fn apply_baseline_denied_on_update(env: &mut Env) {
    let run = env
        .k
        .with_manifest(&["apply"], BASELINE_NAMESPACE)
        .failed()
        .stderr_has(FORBIDDEN)
        .stderr_has("error when patching \"STDIN\": ");
    // The same words as on create.
    insta::assert_snapshot!("e2e-namespace-baseline", run.denial(NAMESPACES));
    assert_enforce_privileged(env);
}

fn assert_enforce_privileged(env: &Env) {
    let ns = env
        .k
        .run(&["get", "namespace", NS, "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"].as_str(),
        Some("privileged"),
        "the denied change left the namespace as it was"
    );
}

/// Scenario 3: Relabelling the namespace `restricted` is denied.
pub fn label_restricted_denied(env: &mut Env) {
    let run = env
        .k
        .run(&[
            "label",
            "--overwrite",
            "namespace",
            NS,
            "pod-security.kubernetes.io/enforce=restricted",
        ])
        .failed()
        .stderr_has(FORBIDDEN);
    insta::assert_snapshot!("e2e-namespace-restricted", run.denial(NAMESPACES));
    assert_enforce_privileged(env);
}

/// Scenario 4: A manager-shaped pod runs in longhorn-system; the same pod in an
/// unlabelled namespace meets Talos's baseline default.
pub fn privileged_pod_only_in_longhorn_namespace(env: &mut Env) {
    let plain = "e2e-plain";
    env.k.run(&["create", "namespace", plain]).ok();
    let labels = env
        .k
        .run(&[
            "get",
            "namespace",
            plain,
            "-o",
            "jsonpath={.metadata.labels}",
        ])
        .ok();
    assert!(
        !labels.stdout.contains("pod-security"),
        "no Pod Security label on {plain}: {labels}"
    );
    service_account(env, NS);
    service_account(env, plain);

    let pod = manager_pod("longhorn-manager-e2e");
    env.k
        .with_manifest(&["create", "-n", NS], &pod)
        .ok()
        .stdout_has("pod/longhorn-manager-e2e created")
        .stderr_lacks("Warning");
    env.k
        .with_manifest(&["create", "-n", plain], &pod)
        .failed()
        .stderr_has(FORBIDDEN)
        .stderr_has("violates PodSecurity \"baseline:latest\"")
        .stderr_has("privileged")
        .stderr_has("hostPath volumes")
        .stderr_lacks("admission webhook");

    // The guard's own pod check: a host path on Talos's read-only root, which
    // containerd cannot create.
    let bad = manager_pod("bad-hostpath-e2e").replace(
        "{name: proc, hostPath: {path: /proc/}}",
        "{name: proc, hostPath: {path: /mnt/data}}",
    );
    env.k
        .with_manifest(&["create", "-n", NS], &bad)
        .failed()
        .stderr_has(FORBIDDEN)
        .stderr_has(&format!(
            "{}pod longhorn-system/bad-hostpath-e2e: host paths that fail on Talos:",
            denied_by("pods.longhorn-talos-guard.io")
        ))
        .stderr_has(
            "volume \"proc\": hostPath \"/mnt/data\" is on Talos's read-only root filesystem",
        );

    // A `..` component: kube-apiserver refuses the pod itself, before any webhook
    // (kubernetes pkg/apis/core/validation/validation.go, validatePathNoBacksteps), with the
    // very words `check` reports (issue 19.4).
    let backsteps = manager_pod("backsteps-e2e").replace(
        "{name: proc, hostPath: {path: /proc/}}",
        "{name: proc, hostPath: {path: /var/lib/longhorn/../../proc}}",
    );
    let objects = longhorn_talos_guard::check::parse_objects("-", &backsteps).unwrap();
    let reason =
        match longhorn_talos_guard::check::check_object(&objects[0], &Config::default(), NS) {
            longhorn_talos_guard::check::Outcome::Refused { reason } => reason,
            other => panic!("check does not report the refusal: {other:?}"),
        };
    assert_eq!(
        reason,
        "The Pod \"backsteps-e2e\" is invalid: \n\
* spec.volumes[2].hostPath.path: Invalid value: \"/var/lib/longhorn/../../proc\": must not contain '..'\n\
* spec.containers[0].volumeMounts[2].name: Not found: \"proc\""
    );
    for ns in [NS, plain] {
        env.k
            .with_manifest(&["create", "-n", ns], &backsteps)
            .failed()
            .stderr_has(&reason)
            .stderr_lacks("admission webhook");
    }
    // A relative path passes kube-apiserver's validation (nothing there requires an absolute
    // path): the guard's webhook is called, and denies it.
    let relative = manager_pod("relative-e2e").replace(
        "{name: proc, hostPath: {path: /proc/}}",
        "{name: proc, hostPath: {path: proc}}",
    );
    env.k
        .with_manifest(&["create", "-n", NS], &relative)
        .failed()
        .stderr_has(&denied_by("pods.longhorn-talos-guard.io"))
        .stderr_has("volume \"proc\": hostPath \"proc\" is relative; kube-apiserver accepts it");
    // A pod template: kubectl names the kind without its group.
    let deployment = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: backsteps-e2e
spec:
  selector:
    matchLabels: {app: backsteps}
  template:
    metadata:
      labels: {app: backsteps}
    spec:
      containers:
        - name: c
          image: busybox
      volumes:
        - {name: data, hostPath: {path: /var/lib/longhorn/..}}
";
    let objects = longhorn_talos_guard::check::parse_objects("-", deployment).unwrap();
    let reason =
        match longhorn_talos_guard::check::check_object(&objects[0], &Config::default(), NS) {
            longhorn_talos_guard::check::Outcome::Refused { reason } => reason,
            other => panic!("check does not report the refusal: {other:?}"),
        };
    env.k
        .with_manifest(&["create", "-n", NS], deployment)
        .failed()
        .stderr_has(&reason)
        .stderr_lacks("admission webhook");
}

/// Scenario 5: Longhorn nodes: bad disks denied (each named), a good one created; a
/// server-side dry run gives the same verdicts and stores nothing.
pub fn longhorn_node_disks(env: &mut Env) {
    let bad_disks = [
        ("data-1", "/mnt/ssd"),
        ("data-2", "/run/longhorn"),
        ("default", "/var/lib/longhorn/"),
    ];
    let bad = longhorn_node("e2e-node-bad", &bad_disks);
    let good = longhorn_node("e2e-node-good", &[("default", "/var/lib/longhorn/")]);
    for dry_run in [true, false] {
        let mut args = vec!["create"];
        if dry_run {
            args.push("--dry-run=server");
        }
        let run = env
            .k
            .with_manifest(&args, &bad)
            .failed()
            .stderr_has(FORBIDDEN)
            .stderr_has("disk \"data-1\": path \"/mnt/ssd\"")
            .stderr_has("disk \"data-2\": path \"/run/longhorn\"")
            .stderr_lacks("disk \"default\"");
        // A dry run gets the same words.
        insta::assert_snapshot!("e2e-longhorn-node-bad", run.denial(NODES));
        let created = env.k.with_manifest(&args, &good).ok();
        let get = env
            .k
            .run(&["get", "nodes.longhorn.io", "-n", NS, "e2e-node-good"]);
        if dry_run {
            created.stdout_has("node.longhorn.io/e2e-node-good created (server dry run)");
            get.failed().stderr_has("Error from server (NotFound)");
        } else {
            created.stdout_has("node.longhorn.io/e2e-node-good created");
            get.ok();
        }
        env.k
            .run(&["get", "nodes.longhorn.io", "-n", NS, "e2e-node-bad"])
            .failed()
            .stderr_has("Error from server (NotFound)");
    }

    // An update that moves a disk outside is judged too.
    env.k
        .run(&[
            "patch",
            "nodes.longhorn.io",
            "-n",
            NS,
            "e2e-node-good",
            "--type=merge",
            "-p",
            r#"{"spec":{"disks":{"default":{"path":"/srv/longhorn"}}}}"#,
        ])
        .failed()
        .stderr_has(FORBIDDEN)
        .stderr_has(&denied_by("nodes.longhorn-talos-guard.io"))
        .stderr_has("disk \"default\": path \"/srv/longhorn\"");
}

/// A Kubernetes Node whose status reports `hugepages` of hugepages-2Mi.
fn kubernetes_node(name: &str, hugepages: &str) -> String {
    format!(
        "apiVersion: v1
kind: Node
metadata:
  name: {name}
status:
  capacity: {{cpu: \"4\", memory: 16Gi, pods: \"110\", hugepages-2Mi: {hugepages}}}
  allocatable: {{cpu: \"4\", memory: 14Gi, pods: \"110\", hugepages-2Mi: {hugepages}}}
"
    )
}

fn block_disk_node(name: &str) -> String {
    format!(
        "apiVersion: longhorn.io/v1beta2
kind: Node
metadata:
  name: {name}
  namespace: {NS}
spec:
  disks:
    nvme: {{path: /dev/disk/by-id/nvme-e2e, diskType: block, diskDriver: auto, allowScheduling: true}}
"
    )
}

/// Scenario 5b: V2 block disks are judged on the Kubernetes Node's
/// hugepages, which the guard reads through `--kube auto` and KUBECONFIG.
pub fn block_disks_use_node_hugepages(env: &mut Env) {
    // The API server keeps a Node's status on create.
    env.k
        .with_manifest(&["create"], &kubernetes_node("e2e-worker-1", "0"))
        .ok();
    env.k
        .with_manifest(&["create"], &kubernetes_node("e2e-worker-2", "2Gi"))
        .ok();
    let run = env
        .k
        .with_manifest(&["create"], &block_disk_node("e2e-worker-1"))
        .failed()
        .stderr_has(FORBIDDEN);
    insta::assert_snapshot!("e2e-block-disk-without-hugepages", run.denial(NODES));
    env.k
        .with_manifest(&["create"], &block_disk_node("e2e-worker-2"))
        .ok()
        .stdout_has("node.longhorn.io/e2e-worker-2 created")
        .stderr_lacks("Warning");
    // No Kubernetes Node to read: allowed, with a warning kubectl prints.
    let run = env
        .k
        .with_manifest(&["create"], &block_disk_node("e2e-worker-3"))
        .ok()
        .stdout_has("node.longhorn.io/e2e-worker-3 created");
    insta::assert_snapshot!("e2e-block-disk-node-unknown", run.warnings().join("\n"));
}

/// Scenario 6: The setting `default-data-path` on Talos's read-only root is denied.
pub fn default_data_path_setting(env: &mut Env) {
    let run = env
        .k
        .with_manifest(&["create"], &setting("default-data-path", "/mnt/ssd"))
        .failed()
        .stderr_has(FORBIDDEN);
    insta::assert_snapshot!(
        "e2e-setting-on-read-only-root",
        run.denial("settings.longhorn-talos-guard.io")
    );
    env.k
        .with_manifest(
            &["create"],
            &setting("default-data-path", "/var/lib/longhorn/"),
        )
        .ok()
        .stdout_has("setting.longhorn.io/default-data-path created");
}

const DEFAULT_DISKS: &str = "node.longhorn.io/default-disks-config";

/// Scenario 6b: the default-disks annotation of a Kubernetes node labelled
/// create-default-disk=config is judged when it is written; unlabelled nodes
/// never reach the guard.
pub fn default_disks_annotation(env: &mut Env) {
    env.k
        .with_manifest(&["create"], &kubernetes_node("e2e-disks-1", "0"))
        .ok();
    env.k
        .run(&[
            "label",
            "node",
            "e2e-disks-1",
            "node.longhorn.io/create-default-disk=config",
        ])
        .ok()
        .stdout_has("node/e2e-disks-1 labeled");

    let bad = r#"[{"path":"/var/lib/longhorn"},{"name":"ssd","path":"/mnt/ssd"}]"#;
    let run = env
        .k
        .run(&[
            "annotate",
            "node",
            "e2e-disks-1",
            &format!("{DEFAULT_DISKS}={bad}"),
        ])
        .failed()
        .stderr_has(FORBIDDEN);
    insta::assert_snapshot!(
        "e2e-default-disks-on-read-only-root",
        run.denial("default-disks.longhorn-talos-guard.io")
    );
    env.k
        .run(&[
            "annotate",
            "node",
            "e2e-disks-1",
            &format!("{DEFAULT_DISKS}=[{{\"path\":\"/var/lib/longhorn\"}}"),
        ])
        .failed()
        .stderr_has("is not a JSON list of disks (EOF while parsing a list");
    let good = r#"[{"path":"/var/lib/longhorn","allowScheduling":true}]"#;
    env.k
        .run(&[
            "annotate",
            "node",
            "e2e-disks-1",
            &format!("{DEFAULT_DISKS}={good}"),
        ])
        .ok()
        .stdout_has("node/e2e-disks-1 annotated");

    // Without the label Longhorn ignores the annotation, and so does the guard.
    env.k
        .with_manifest(&["create"], &kubernetes_node("e2e-disks-2", "0"))
        .ok();
    env.k
        .run(&[
            "annotate",
            "node",
            "e2e-disks-2",
            &format!("{DEFAULT_DISKS}={bad}"),
        ])
        .ok()
        .stdout_has("node/e2e-disks-2 annotated");
    // Labelling it config afterwards makes Longhorn read it: judged then.
    env.k
        .run(&[
            "label",
            "node",
            "e2e-disks-2",
            "node.longhorn.io/create-default-disk=config",
        ])
        .failed()
        .stderr_has(&denied_by("default-disks.longhorn-talos-guard.io"))
        .stderr_has("disk \"ssd\": path \"/mnt/ssd\"");
}

/// Scenario 7: The guard is killed: namespaces, nodes and default-data-path fail
/// closed; pods, other settings, label-only node updates, other namespaces
/// and kube-system go on.
pub fn guard_down_follows_failure_policy(env: &mut Env) {
    let mut guard = env.guard.take().expect("the guard runs");
    guard.proc.kill();
    assert!(
        std::net::TcpStream::connect(guard.addr).is_err(),
        "nothing listens on {} any more",
        guard.addr
    );

    // Fail closed (failurePolicy: Fail).
    env.k
        .run(&["label", "namespace", NS, "e2e=guard-down"])
        .failed()
        .stderr_has("Error from server (InternalError)")
        .stderr_has(&failed_calling("namespaces.mutate.longhorn-talos-guard.io"));
    env.k
        .with_manifest(
            &["create"],
            &longhorn_node("e2e-node-down", &[("default", "/var/lib/longhorn/")]),
        )
        .failed()
        .stderr_has("Error from server (InternalError)")
        .stderr_has(&failed_calling("nodes.longhorn-talos-guard.io"));
    env.k
        .run(&[
            "patch",
            "settings.longhorn.io",
            "-n",
            NS,
            "default-data-path",
            "--type=merge",
            "-p",
            r#"{"value":"/var/lib/longhorn/data"}"#,
        ])
        .failed()
        .stderr_has("Error from server (InternalError)")
        .stderr_has(&failed_calling("settings.longhorn-talos-guard.io"));

    // longhorn-manager's own writes are not sent to the fail-closed webhooks
    // (matchConditions), so a manager that restarts while the guard is down
    // does not crash-loop: its Node create goes through.
    let manager = format!("system:serviceaccount:{NS}:longhorn-service-account");
    let rbac = format!(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: e2e-longhorn-nodes, namespace: {NS}}}
rules:
  - {{apiGroups: [longhorn.io], resources: [nodes, settings], verbs: [create, get, update, patch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: e2e-longhorn-nodes, namespace: {NS}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: e2e-longhorn-nodes}}
subjects:
  - {{kind: ServiceAccount, name: longhorn-service-account, namespace: {NS}}}
"
    );
    env.k.with_manifest(&["apply"], &rbac).ok();
    env.k
        .with_manifest(
            &["create", &format!("--as={manager}")],
            &longhorn_node("e2e-node-by-manager", &[("default", "/var/lib/longhorn/")]),
        )
        .ok()
        .stdout_has("node.longhorn.io/e2e-node-by-manager created");

    // Fail open (failurePolicy: Ignore) and out of scope (matchConditions).
    env.k
        .with_manifest(&["create", "-n", NS], &manager_pod("longhorn-manager-down"))
        .ok()
        .stdout_has("pod/longhorn-manager-down created");
    env.k
        .run(&[
            "label",
            "nodes.longhorn.io",
            "-n",
            NS,
            "e2e-node-good",
            "e2e=guard-down",
        ])
        .ok()
        .stdout_has("node.longhorn.io/e2e-node-good labeled");
    env.k
        .run(&[
            "annotate",
            "--overwrite",
            "node",
            "e2e-disks-1",
            &format!("{DEFAULT_DISKS}=[{{\"path\":\"/mnt/other\"}}]"),
        ])
        .ok()
        .stdout_has("node/e2e-disks-1 annotated");
    env.k
        .with_manifest(
            &["create"],
            &setting("storage-over-provisioning-percentage", "100"),
        )
        .ok();

    // Everything else never calls the guard.
    env.k.run(&["create", "namespace", "e2e-other"]).ok();
    env.k
        .run(&["label", "namespace", "e2e-other", "team=e2e"])
        .ok();
    service_account(env, "kube-system");
    env.k
        .with_manifest(
            &["create", "-n", "kube-system"],
            &manager_pod("privileged-in-kube-system"),
        )
        .ok()
        .stdout_has("pod/privileged-in-kube-system created");
}

/// One serving pair signed by `issuer`, for 127.0.0.1 and localhost.
fn leaf(issuer: &Issuer<'_, &KeyPair>, cn: &str) -> (String, String, Vec<u8>) {
    let key = KeyPair::generate().expect("generate a key");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("leaf parameters");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, issuer).expect("sign the leaf");
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

/// Replaces the pair in `dir` by writing new files and renaming them over
/// the old ones (key first: for a moment the pair does not match).
fn install_pair(dir: &std::path::Path, cert_pem: &str, key_pem: &str) {
    for (name, text) in [("tls.key", key_pem), ("tls.crt", cert_pem)] {
        let tmp = dir.join(format!(".{name}.new"));
        std::fs::write(&tmp, text).expect("write the new file");
        std::fs::rename(&tmp, dir.join(name)).expect("rename over the old file");
    }
}

/// Scenario 8: The serving certificate is replaced on disk (same CA) twice while
/// kubectl keeps creating objects: no call fails.
pub fn certificate_rotation_under_load(env: &mut Env) {
    // `certs dev` does not keep its CA key, so this CA is made here.
    let ca_key = KeyPair::generate().expect("generate the CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.distinguished_name
        .push(DnType::CommonName, "e2e rotation CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).expect("self-sign the CA");
    let issuer = Issuer::new(ca, &ca_key);
    let pairs: Vec<_> = ["first", "second", "third"]
        .iter()
        .map(|cn| leaf(&issuer, cn))
        .collect();

    let dir = env.cp.dir.path().join("guard-rotation-tls");
    std::fs::create_dir_all(&dir).expect("make the cert folder");
    install_pair(&dir, &pairs[0].0, &pairs[0].1);
    let guard = Guard::start(
        "guard-rotation",
        &dir,
        &env.cp.kubeconfig,
        &env.cp.log_dir(),
    );
    let addr = guard.addr;
    env.guard = Some(guard);
    env.install_webhooks(&addr.to_string(), ca_cert.pem().as_bytes(), false);

    let done = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let rounds = 24;
    let loop_thread = {
        let (k, done, failures) = (env.k.clone(), done.clone(), failures.clone());
        let bad = longhorn_node("e2e-rotation-bad", &[("data", "/mnt/ssd")]);
        std::thread::spawn(move || {
            for i in 0..rounds {
                // A create the guard allows, and one it must answer with a denial.
                let good = longhorn_node(
                    &format!("e2e-rotation-{i}"),
                    &[("default", "/var/lib/longhorn/")],
                );
                let created = k.with_manifest(&["create"], &good);
                if !created.success {
                    failures.lock().unwrap().push(created.to_string());
                }
                let denied = k.with_manifest(&["create", "--dry-run=server"], &bad);
                if denied.success
                    || !denied
                        .stderr
                        .contains(&denied_by("nodes.longhorn-talos-guard.io"))
                {
                    failures.lock().unwrap().push(denied.to_string());
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
        })
    };

    let ca_pem = ca_cert.pem().into_bytes();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let served_leaf = || {
        runtime
            .block_on(super::common::https(
                addr,
                &ca_pem,
                super::common::Proto::Http1,
                "GET",
                "/healthz",
                Vec::new(),
            ))
            .map(|a| a.leaf)
            .ok()
    };
    assert_eq!(served_leaf(), Some(pairs[0].2.clone()));
    for (n, pair) in pairs.iter().enumerate().skip(1) {
        let before = done.load(Ordering::SeqCst);
        wait(
            "the kubectl loop to make progress",
            Duration::from_secs(60),
            || done.load(Ordering::SeqCst) >= before + 4,
        );
        install_pair(&dir, &pair.0, &pair.1);
        wait(
            &format!("the guard to serve certificate {n}"),
            Duration::from_secs(10),
            || served_leaf().as_ref() == Some(&pair.2),
        );
    }
    let started = Instant::now();
    loop_thread.join().expect("the kubectl loop panicked");
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} calls failed during rotation:\n{}",
        failures.len(),
        2 * rounds,
        failures.join("\n\n")
    );
    let reloads = env
        .guard
        .as_ref()
        .map(|g| g.proc.log().matches("serving certificate reloaded").count())
        .unwrap_or(0);
    assert!(reloads >= 2, "the guard logged {reloads} reloads");
    // The API server kept its connection to the guard through the rotation;
    // a new URL host makes it dial anew and check the last certificate
    // against the unchanged caBundle.
    env.install_webhooks(
        &format!("localhost:{}", addr.port()),
        ca_cert.pem().as_bytes(),
        false,
    );
    eprintln!(
        "e2e: rotation: {} kubectl calls, 0 failed, {reloads} reloads (loop tail {:.1} s)",
        2 * rounds,
        started.elapsed().as_secs_f64()
    );
}

/// Scenario 10: real AdmissionReview bodies. A recording webhook with the
/// shipped rules and selectors (plus DELETEs of Longhorn objects) sees the
/// same requests as the guard while kubectl drives a handful of
/// representative ones; the bodies and the guard's live verdicts are written
/// with `LTG_RECORD=1` or compared with the committed ones
/// (tests/fixtures/admission/recorded/), and every body must carry
/// `request.kind` before `request.object` and `request.oldObject`.
pub fn record_admission_reviews(env: &mut Env) {
    use super::recorder::{Recorder, Session};

    let recorder = Recorder::start();
    recorder.install(env);
    let mut s = Session::new(&recorder);
    let ns_denied = denied_by("namespaces.longhorn-talos-guard.io");

    // Namespaces: the guard's mutating webhook patches a create; the
    // namespace exists, so the create fails in storage after admission.
    let run = env.k.run(&["create", "namespace", NS]);
    let run = run
        .failed()
        .stderr_has("Error from server (AlreadyExists)")
        .stderr_lacks("admission webhook");
    s.step("namespace-create", &run, &["mutate", "validate"]);
    let run = env
        .k
        .with_manifest(&["create", "--dry-run=server"], BASELINE_NAMESPACE)
        .failed();
    insta::assert_snapshot!("e2e-namespace-baseline", run.denial(NAMESPACES));
    s.step(
        "namespace-create-baseline-dryrun",
        &run,
        &["mutate", "validate"],
    );
    let run = env
        .k
        .run(&["label", "--overwrite", "namespace", NS, "e2e-record=1"])
        .ok();
    s.step("namespace-update-label", &run, &["mutate", "validate"]);
    let run = env
        .k
        .run(&[
            "label",
            "--overwrite",
            "namespace",
            NS,
            "pod-security.kubernetes.io/enforce=restricted",
        ])
        .failed()
        .stderr_has(&ns_denied);
    s.step("namespace-update-restricted", &run, &["mutate", "validate"]);

    // Pods in the Longhorn namespace.
    let run = env
        .k
        .with_manifest(
            &["create", "-n", NS],
            &manager_pod("longhorn-manager-record"),
        )
        .ok();
    s.step("pod-create", &run, &["validate"]);
    let bad = manager_pod("bad-hostpath-record").replace(
        "{name: proc, hostPath: {path: /proc/}}",
        "{name: proc, hostPath: {path: /mnt/data}}",
    );
    let run = env
        .k
        .with_manifest(&["create", "-n", NS], &bad)
        .failed()
        .stderr_has(&denied_by("pods.longhorn-talos-guard.io"));
    s.step("pod-create-bad-hostpath", &run, &["validate"]);

    // Longhorn nodes: a create with disks, an update adding one, a bad update, a delete.
    let node = "e2e-record-node";
    let run = env
        .k
        .with_manifest(
            &["create"],
            &longhorn_node(node, &[("default", "/var/lib/longhorn/")]),
        )
        .ok();
    s.step("lhnode-create", &run, &["validate"]);
    let patch = |disks: &str| {
        env.k.run(&[
            "patch",
            "nodes.longhorn.io",
            "-n",
            NS,
            node,
            "--type=merge",
            "-p",
            &format!(r#"{{"spec":{{"disks":{disks}}}}}"#),
        ])
    };
    let run = patch(
        r#"{"data-1":{"path":"/var/lib/longhorn/data-1","diskType":"filesystem","allowScheduling":true,"storageReserved":0}}"#,
    )
    .ok();
    s.step("lhnode-update-disks", &run, &["validate"]);
    let run = patch(r#"{"data-1":{"path":"/mnt/ssd"}}"#)
        .failed()
        .stderr_has(&denied_by("nodes.longhorn-talos-guard.io"));
    s.step("lhnode-update-bad-disk", &run, &["validate"]);
    let run = env
        .k
        .run(&["delete", "nodes.longhorn.io", "-n", NS, node])
        .ok();
    s.step("lhnode-delete", &run, &["validate"]);

    // The default-data-path setting (it exists: scenario 6 made it).
    let run = env
        .k
        .with_manifest(
            &["create", "--dry-run=server"],
            &setting("default-data-path", "/mnt/ssd"),
        )
        .failed()
        .stderr_has(&denied_by("settings.longhorn-talos-guard.io"));
    s.step("setting-create-bad-dryrun", &run, &["validate"]);
    let run = env
        .k
        .run(&[
            "patch",
            "settings.longhorn.io",
            "-n",
            NS,
            "default-data-path",
            "--type=merge",
            "-p",
            r#"{"value":"/var/lib/longhorn/"}"#,
        ])
        .ok();
    s.step("setting-update", &run, &["validate"]);

    // A Kubernetes node labelled create-default-disk=config (scenario 6b).
    let good = r#"[{"path":"/var/lib/longhorn","allowScheduling":true}]"#;
    let run = env
        .k
        .run(&[
            "annotate",
            "--overwrite",
            "node",
            "e2e-disks-1",
            &format!("{DEFAULT_DISKS}={good}"),
        ])
        .ok();
    s.step("knode-update-annotation", &run, &["validate"]);
    let run = env
        .k
        .run(&[
            "annotate",
            "--overwrite",
            "node",
            "e2e-disks-1",
            &format!("{DEFAULT_DISKS}=[{{\"name\":\"ssd\",\"path\":\"/mnt/ssd\"}}]"),
        ])
        .failed()
        .stderr_has(&denied_by("default-disks.longhorn-talos-guard.io"));
    s.step("knode-update-annotation-bad", &run, &["validate"]);

    let summary = s.finish();
    recorder.uninstall(env);
    eprint!("e2e: recorded bodies:\n{summary}");
}

/// A pod of the Longhorn pod corpus (tests/fixtures/longhorn-pods/), made
/// creatable without a controller-manager: no ServiceAccount, no token.
fn corpus_pod(file: &str, name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/longhorn-pods")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut pod: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    pod["metadata"]["name"] = Value::from(name);
    let spec = pod["spec"].as_object_mut().expect("a pod spec");
    spec.remove("serviceAccountName");
    spec.insert("automountServiceAccountToken".into(), Value::Bool(false));
    pod.to_string()
}

/// Scenario 11: the guard started with the Talos 1.10+ layout Longhorn's docs
/// give (a UserVolumeConfig named longhorn, default-data-path /var/mnt/longhorn)
/// admits Longhorn's own pods (which still mount /var/lib/longhorn), denies a
/// disk on the read-only root and warns about a /var/mnt folder with no volume.
pub fn talos_user_volume_layout(env: &mut Env) {
    let layout = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/talos-layouts/longhorn-1.10-user-volume.yaml");
    let tls = env.cp.dir.path().join("guard-tls");
    let (tls_s, layout_s) = (tls.to_string_lossy(), layout.to_string_lossy());
    let guard = Guard::start_with(
        "guard-talos-layout",
        &[
            "--listen",
            "127.0.0.1:0",
            "--cert-dir",
            &tls_s,
            "--talos-config",
            &layout_s,
        ],
        &env.cp.kubeconfig,
        &env.cp.log_dir(),
    );
    let addr = guard.addr;
    env.guard = Some(guard);
    let ca = std::fs::read(tls.join("ca.crt")).expect("read the guard's ca.crt");
    env.install_webhooks(&addr.to_string(), &ca, false);
    // The ServiceAccount `default` of the namespace exists since scenario 4.

    // Longhorn v1.12.1's own pods: manager (DaemonSet template), instance-manager, engine image.
    for (file, name) in [
        ("v1.12/longhorn-manager.yaml", "longhorn-manager-e2e-layout"),
        (
            "v1.12/instance-manager-v1.yaml",
            "instance-manager-e2e-layout",
        ),
        ("v1.12/engine-image.yaml", "engine-image-e2e-layout"),
    ] {
        env.k
            .with_manifest(&["create", "-n", NS], &corpus_pod(file, name))
            .ok()
            .stdout_has(&format!("pod/{name} created"))
            .stderr_lacks("Warning");
    }

    let run = env
        .k
        .with_manifest(
            &["create"],
            &longhorn_node("e2e-layout-bad", &[("ssd", "/mnt/ssd")]),
        )
        .failed()
        .stderr_has(FORBIDDEN);
    insta::assert_snapshot!("e2e-layout-node-on-read-only-root", run.denial(NODES));
    env.k
        .with_manifest(
            &["create"],
            &longhorn_node("e2e-layout-good", &[("longhorn", "/var/mnt/longhorn/")]),
        )
        .ok()
        .stderr_lacks("Warning");
    env.k
        .with_manifest(
            &["create"],
            &longhorn_node("e2e-layout-folder", &[("fast", "/var/mnt/fast")]),
        )
        .ok()
        .stderr_has("Warning: node e2e-layout-folder disk fast: \"/var/mnt/fast\" is on EPHEMERAL");
}

/// Scenario 12: what `helm install` of Longhorn writes is judged at the door:
/// the longhorn-default-setting ConfigMap (a bad defaultDataPath is refused
/// with the guard's message) and pod templates of controllers (a DaemonSet
/// with a host path on the read-only root is refused; Longhorn's own manager
/// DaemonSet is admitted).
pub fn helm_style_install(env: &mut Env) {
    let configmap = |path: &str| {
        format!(
            "apiVersion: v1
kind: ConfigMap
metadata: {{name: longhorn-default-setting, namespace: {NS}}}
data:
  default-setting.yaml: |
    default-data-path: {path}
    replica-soft-anti-affinity: \"true\"
"
        )
    };
    env.k
        .with_manifest(&["apply"], &configmap("/mnt/ssd"))
        .failed()
        .stderr_has(FORBIDDEN)
        .stderr_has(&format!(
            "{}ConfigMap {NS}/longhorn-default-setting: default-setting.yaml sets default-data-path to \"/mnt/ssd\", which is on Talos's read-only root filesystem",
            denied_by("default-settings.longhorn-talos-guard.io")
        ));
    env.k
        .with_manifest(&["apply"], &configmap("/var/mnt/longhorn"))
        .ok()
        .stdout_has("configmap/longhorn-default-setting created");
    // Any other ConfigMap never reaches the guard.
    env.k
        .with_manifest(
            &["apply"],
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: e2e-other, namespace: {NS}}}\ndata: {{default-setting.yaml: \"default-data-path: /mnt/ssd\"}}\n"),
        )
        .ok();

    let pod: Value = serde_json::from_str(&corpus_pod("v1.12/longhorn-manager.yaml", "x")).unwrap();
    let daemonset = |name: &str, spec: &Value| {
        serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": spec}
            }
        })
        .to_string()
    };
    env.k
        .with_manifest(&["apply"], &daemonset("longhorn-manager", &pod["spec"]))
        .ok()
        .stdout_has("daemonset.apps/longhorn-manager created")
        .stderr_lacks("Warning");
    let mut bad = pod["spec"].clone();
    bad["volumes"][0]["hostPath"]["path"] = Value::from("/mnt/ssd");
    let volume = bad["volumes"][0]["name"].as_str().unwrap().to_string();
    env.k
        .with_manifest(&["apply"], &daemonset("bad-daemonset", &bad))
        .failed()
        .stderr_has(FORBIDDEN)
        .stderr_has(&format!(
            "{}DaemonSet {NS}/bad-daemonset (pod template): host paths that fail on Talos:\n  - volume \"{volume}\": hostPath \"/mnt/ssd\"",
            denied_by("pod-controllers.longhorn-talos-guard.io")
        ));
}

/// Merge-patches `target` through its `status` subresource.
fn patch_status(env: &Env, target: &[&str], patch: &Value) -> super::kubectl::Run {
    let patch = patch.to_string();
    let mut args = vec!["patch"];
    args.extend_from_slice(target);
    args.extend(["--subresource=status", "--type=merge", "-p", &patch]);
    env.k.run(&args)
}

/// The value of `jsonpath` on `target`.
fn get_path(env: &Env, target: &[&str], jsonpath: &str) -> String {
    let expr = format!("jsonpath={jsonpath}");
    let mut args = vec!["get"];
    args.extend_from_slice(target);
    args.extend(["-o", &expr]);
    env.k.run(&args).ok().stdout
}

/// Scenario 6c: the default-disks annotation is read as longhorn-manager
/// reads it: the label in any case (`strings.ToLower`), the annotation with
/// Go's encoding/json (keys without regard to case, the last one winning),
/// and through `nodes/status` too, whose strategy resets only `spec`
/// (kubernetes pkg/registry/core/node/strategy.go, v1.37.2).
pub fn default_disks_every_spelling_and_nodes_status(env: &mut Env) {
    const LABEL: &str = "node.longhorn.io/create-default-disk";
    let webhook = denied_by("default-disks.longhorn-talos-guard.io");
    let node = "e2e-disks-3";
    env.k
        .with_manifest(&["create"], &kubernetes_node(node, "0"))
        .ok();
    let bad = r#"[{"path":"/mnt/ssd"}]"#;
    for value in ["Config", "CONFIG"] {
        env.k
            .run(&[
                "label",
                "--overwrite",
                "node",
                node,
                &format!("{LABEL}={value}"),
            ])
            .ok();
        env.k
            .run(&[
                "annotate",
                "--overwrite",
                "node",
                node,
                &format!("{DEFAULT_DISKS}={bad}"),
            ])
            .failed()
            .stderr_has(FORBIDDEN)
            .stderr_has(&webhook)
            .stderr_has("disk \"[0]\": path \"/mnt/ssd\"");
    }
    // Go's reading: "Path" after "path" is the path Longhorn uses.
    env.k
        .run(&[
            "annotate",
            "--overwrite",
            "node",
            node,
            &format!(
                "{DEFAULT_DISKS}={}",
                r#"[{"path":"/var/lib/longhorn/ok","Path":"/mnt/ssd"}]"#
            ),
        ])
        .failed()
        .stderr_has(&webhook)
        .stderr_has("path \"/mnt/ssd\"");
    // An unknown disk type is allowed with a warning that names it.
    env.k
        .run(&[
            "annotate",
            "--overwrite",
            "node",
            node,
            &format!(
                "{DEFAULT_DISKS}={}",
                r#"[{"name":"n","path":"/","diskType":"nvme-of"}]"#
            ),
        ])
        .ok()
        .stderr_has(
            "Warning: node e2e-disks-3 disk n: diskType \"nvme-of\" is not filesystem or block",
        );

    // nodes/status changes annotations: shown on a node the webhook does not select...
    let free = "e2e-disks-4";
    env.k
        .with_manifest(&["create"], &kubernetes_node(free, "0"))
        .ok();
    patch_status(
        env,
        &["node", free],
        &serde_json::json!({"metadata": {"annotations": {DEFAULT_DISKS: bad}}}),
    )
    .ok();
    assert_eq!(
        get_path(
            env,
            &["node", free],
            "{.metadata.annotations.node\\.longhorn\\.io/default-disks-config}"
        ),
        bad,
        "nodes/status changed the annotation"
    );
    // ... and on a labelled node the guard sees it and denies it.
    patch_status(
        env,
        &["node", node],
        &serde_json::json!({"metadata": {"annotations": {DEFAULT_DISKS: bad}}}),
    )
    .failed()
    .stderr_has(&webhook)
    .stderr_has("path \"/mnt/ssd\"");
    // Labelling the annotated node through nodes/status is judged too.
    patch_status(
        env,
        &["node", free],
        &serde_json::json!({"metadata": {"labels": {LABEL: "Config"}}}),
    )
    .failed()
    .stderr_has(&webhook);
    // The kubelet's own status updates (no label or annotation change) pass.
    patch_status(
        env,
        &["node", node],
        &serde_json::json!({"status": {"capacity": {"cpu": "8"}}}),
    )
    .ok();
}

/// Scenario 13: subresources. `namespaces/status` and `namespaces/finalize`
/// can change a namespace's labels (their strategies reset only spec or
/// status: kubernetes pkg/registry/core/namespace/strategy.go, v1.37.2), so
/// the namespace webhook registers them and the Longhorn namespace cannot be
/// relabelled through them; a Longhorn Node's `status` subresource cannot
/// change its spec (apiextensions-apiserver
/// pkg/registry/customresource/status_strategy.go copies the old object and
/// keeps only status), so `nodes.longhorn.io/status` needs no webhook.
pub fn subresources_cannot_bypass_the_guard(env: &mut Env) {
    let webhook = denied_by("namespaces.longhorn-talos-guard.io");
    let enforce = "pod-security.kubernetes.io/enforce";
    let baseline = serde_json::json!({"metadata": {"labels": {enforce: "baseline"}}});
    // On a namespace the guard does not select, both subresources relabel it.
    env.k.run(&["create", "namespace", "e2e-subresources"]).ok();
    patch_status(env, &["namespace", "e2e-subresources"], &baseline).ok();
    let label = "{.metadata.labels.pod-security\\.kubernetes\\.io/enforce}";
    assert_eq!(
        get_path(env, &["namespace", "e2e-subresources"], label),
        "baseline"
    );
    let finalize = |name: &str, level: &str| {
        let mut ns = env
            .k
            .run(&["get", "namespace", name, "-o", "json"])
            .ok()
            .json();
        ns["metadata"]["labels"][enforce] = Value::from(level);
        env.k.run_with_stdin(
            &[
                "replace",
                "--raw",
                &format!("/api/v1/namespaces/{name}/finalize"),
                "-f",
                "-",
            ],
            Some(&ns.to_string()),
        )
    };
    finalize("e2e-subresources", "restricted").ok();
    assert_eq!(
        get_path(env, &["namespace", "e2e-subresources"], label),
        "restricted"
    );

    // The Longhorn namespace: denied through both.
    patch_status(env, &["namespace", NS], &baseline)
        .failed()
        .stderr_has(&webhook);
    finalize(NS, "baseline").failed().stderr_has(&webhook);
    assert_enforce_privileged(env);
    // A status or finalize call that leaves the labels alone is not sent.
    patch_status(
        env,
        &["namespace", NS],
        &serde_json::json!({"status": {"phase": "Active"}}),
    )
    .ok();
    finalize(NS, "privileged").ok();

    // A Longhorn Node's status subresource leaves its spec as it was.
    env.k
        .with_manifest(
            &["apply"],
            &longhorn_node("e2e-sub-1", &[("a", "/var/lib/longhorn")]),
        )
        .ok();
    patch_status(
        env,
        &["nodes.longhorn.io", "e2e-sub-1", "-n", NS],
        &serde_json::json!({"spec": {"disks": {"a": {"path": "/mnt/ssd"}}}}),
    )
    .ok();
    assert_eq!(
        get_path(
            env,
            &["nodes.longhorn.io", "e2e-sub-1", "-n", NS],
            "{.spec.disks.a.path}"
        ),
        "/var/lib/longhorn"
    );
}
