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

/// Longhorn's CRDs (the fixture), established.
fn longhorn_crds(k: &kubectl::Kubectl) {
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
}

/// One control plane at a time (two would share the machine's cores).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn kubectl_against_kube_apiserver_with_the_generated_cel_policies() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    run(
        controlplane::assets(),
        KubeVersion(cel::NEWEST_MINOR),
        cel::Served::default(),
    );
}

/// Kubernetes 1.34: ValidatingAdmissionPolicies only (MutatingAdmissionPolicy
/// is beta and off there: CEL.md, feature state), W001 left to the webhook.
#[test]
fn kubectl_against_kube_apiserver_1_34_with_the_generated_cel_policies() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    run(
        controlplane::assets_1_34(),
        KubeVersion(34),
        cel::Served::default(),
    );
}

/// The kube-apiserver flags that serve MutatingAdmissionPolicy v1beta1 on 1.34
/// and 1.35 (CEL.md, feature state; kubernetes pkg/features
/// `MutatingAdmissionPolicy`, beta and off in 1.34).
const MAP_BETA_FLAGS: [&str; 2] = [
    "--feature-gates=MutatingAdmissionPolicy=true",
    "--runtime-config=admissionregistration.k8s.io/v1beta1=true",
];

/// Kubernetes 1.34 with MutatingAdmissionPolicy v1beta1 turned on: with
/// `--mutating-admission-policy-beta` LTG-W001 is a v1beta1
/// MutatingAdmissionPolicy that labels the Longhorn namespace, and the
/// verdicts are the webhook's.
#[test]
fn kubectl_against_kube_apiserver_1_34_with_mutating_admission_policy_beta() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    run_with(
        controlplane::assets_1_34(),
        KubeVersion(34),
        cel::Served {
            mutating_v1beta1: true,
        },
        &MAP_BETA_FLAGS,
    );
}

fn run(assets: controlplane::Assets, version: KubeVersion, served: cel::Served) {
    run_with(assets, version, served, &[]);
}

fn run_with(
    assets: controlplane::Assets,
    version: KubeVersion,
    served: cel::Served,
    flags: &[&str],
) {
    let cp = ControlPlane::start_with(&assets, guard::certs_dev, flags);
    let k = cp.kubectl.clone();
    longhorn_crds(&k);
    cp.assert_version(&format!("v{version}"));
    let cfg = Config::default();
    let generated = cel::generate_for(&cfg, version, served);
    let mutating = generated.covered.iter().any(|(id, _)| *id == "LTG-W001");
    assert_eq!(
        mutating,
        version.0 >= cel::MAP_V1_MINOR || served.mutating_v1beta1,
        "W001 in CEL exactly where MutatingAdmissionPolicy v1 (or v1beta1, turned on) is served"
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
    // The service account the pod fixtures run as, and the PriorityClass they
    // name (longhorn/longhorn chart v1.13.0 templates/priorityclass.yaml:
    // longhorn-critical, 1000000000), so that they reach the policies.
    k.run(&[
        "create",
        "serviceaccount",
        "longhorn-service-account",
        "-n",
        "longhorn-system",
    ])
    .ok();
    k.run(&[
        "create",
        "priorityclass",
        "longhorn-critical",
        "--value=1000000000",
    ])
    .ok();
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
        // EPHEMERAL folders: LTG-W013 warns (its default mode).
        "/var/data",
        "/var/mnt/bad_name/x",
    ] {
        requests.push(create_request(&setting(p), "longhorn.io", "settings"));
        requests.push(create_request(
            &node(json!({"a": {"path": p}, "b": {"path": "/dev/shm/x", "diskType": "block"}})),
            "longhorn.io",
            "nodes",
        ));
    }
    // Pods and a DaemonSet for LTG-W030 and LTG-W031 (src/host.rs: /data and
    // /usr/include/x are on the read-only root outside what Talos ships,
    // /lib64/x and /etc/iscsi inside it; /tmp is a tmpfs; a relative path and
    // a `..` are what kube-apiserver accepts and refuses).
    for (i, p) in [
        "/data",
        "/usr/include/x",
        "/lib64/x",
        "/etc/iscsi",
        "/var/lib/longhorn",
        "/tmp/x",
        "relative",
        "/var/lib/longhorn/../x",
    ]
    .into_iter()
    .enumerate()
    {
        let spec = json!({
            "serviceAccountName": "longhorn-service-account",
            "containers": [{"name": "c", "image": "i", "volumeMounts": [{"name": "v", "mountPath": "/m"}]}],
            "volumes": [{"name": "v", "hostPath": {"path": p, "type": "DirectoryOrCreate"}}],
        });
        let name = format!("hostpath-{i}");
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "longhorn-system"}, "spec": spec});
        requests.push(create_request(&pod, "", "pods"));
        let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": "longhorn-system"},
            "spec": {"selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "b"}}, "spec": spec}}});
        let mut request = create_request(&ds, "apps", "daemonsets");
        request["kind"]["version"] = json!("v1");
        request["resource"]["version"] = json!("v1");
        requests.push(request);
    }
    // kube-apiserver names an object with only a generateName before the
    // policies run (a random suffix): give such fixtures a name of their own.
    for request in &mut requests {
        let meta = &mut request["object"]["metadata"];
        if let Some(prefix) = meta["generateName"].as_str().map(str::to_string)
            && meta["name"].as_str().unwrap_or_default().is_empty()
        {
            meta["name"] = json!(format!("{prefix}e2e"));
            meta.as_object_mut().unwrap().remove("generateName");
            request["name"] = json!(format!("{prefix}e2e"));
        }
    }
    let (mut denied, mut allowed, mut warned, mut refused) = (0, 0, 0, 0);
    for request in &requests {
        let run = k.with_manifest(
            &["create", "--dry-run=server"],
            &request["object"].to_string(),
        );
        // What kube-apiserver refuses itself never reaches a policy: its own
        // words, as the webhook's LTG-W030 quotes them (or an earlier
        // plugin's: a fixture naming a PriorityClass this cluster lacks).
        if let Some(refusal) = expect::refused_by_api_server(request) {
            assert!(!run.success, "{request}\n{run}");
            assert!(!run.stderr.contains("denied request"), "{run}");
            refused += usize::from(run.stderr.contains(&refusal));
            continue;
        }
        let (want, warnings) = expect::expected_for(&cfg, version, served, request);
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
                assert!(!run.stderr.contains("denied request"), "{request}\n{run}");
                // The rules in warn mode (LTG-W013, LTG-W031): kubectl prints each
                // warning of an object that reached the policies.
                if !run.success {
                    allowed += 1;
                    continue;
                }
                for w in &warnings {
                    assert!(
                        run.stderr.contains(&format!("Warning: {w}")),
                        "{request}\n{run}\nwanted the warning: {w}"
                    );
                }
                let shown = run
                    .stderr
                    .matches("Warning: Validation failed for ValidatingAdmissionPolicy")
                    .count();
                assert_eq!(shown, warnings.len(), "{request}\n{run}");
                warned += usize::from(!warnings.is_empty());
                allowed += 1;
            }
        }
    }
    assert!(
        denied >= 14 && allowed >= 14 && warned >= 4 && refused >= 2,
        "{denied} denied, {allowed} allowed, {warned} with warnings, {refused} refused by kube-apiserver"
    );
}

/// The generated objects' `kind/name`s for `cfg`, sorted.
fn generated_names(cfg: &Config) -> Vec<String> {
    generated_names_for(cfg, KubeVersion(cel::NEWEST_MINOR), cel::Served::default())
}

/// [`generated_names`] for Kubernetes `version` also serving `served`.
fn generated_names_for(cfg: &Config, version: KubeVersion, served: cel::Served) -> Vec<String> {
    let mut names: Vec<String> = cel::generate_for(cfg, version, served)
        .documents
        .iter()
        .map(|d| {
            let v = cel::yaml::to_json(d);
            format!(
                "{}/{}",
                v["kind"].as_str().unwrap(),
                v["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    names.sort();
    names
}

/// The guard's own admission policy objects in the cluster (`kind/name`), sorted.
fn owned_names(k: &kubectl::Kubectl) -> Vec<String> {
    owned_names_at(k, false)
}

/// [`owned_names`], the mutating kinds read as `v1beta1` when `beta` (an API
/// server before 1.36 serves no `v1`), or not at all when an API server before
/// 1.36 serves neither.
fn owned_names_at(k: &kubectl::Kubectl, beta: bool) -> Vec<String> {
    let served_v1 = k
        .run(&[
            "api-resources",
            "--api-group=admissionregistration.k8s.io",
            "-o",
            "name",
        ])
        .ok()
        .stdout
        .contains("mutatingadmissionpolicies.admissionregistration.k8s.io");
    let mut kinds = vec![
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
    ];
    if beta {
        kinds.extend([
            "mutatingadmissionpolicies.v1beta1.admissionregistration.k8s.io",
            "mutatingadmissionpolicybindings.v1beta1.admissionregistration.k8s.io",
        ]);
    } else if served_v1 {
        kinds.extend([
            "mutatingadmissionpolicies",
            "mutatingadmissionpolicybindings",
        ]);
    }
    let mut names = Vec::new();
    for kind in kinds {
        let run = k.run(&[
            "get",
            kind,
            "-l",
            "app.kubernetes.io/managed-by=longhorn-talos-guard",
            "-o",
            "json",
        ]);
        if !run.success {
            return vec![format!("cannot list {kind}: {}", run.stderr)];
        }
        for item in run.json()["items"].as_array().cloned().unwrap_or_default() {
            names.push(format!(
                "{}/{}",
                item["kind"].as_str().unwrap_or_default(),
                item["metadata"]["name"].as_str().unwrap_or_default()
            ));
        }
    }
    names.sort();
    names
}

/// `serve --admission-engine cel` keeps the generated policies in step with
/// its configuration (CEL-INTERFACE.md): applied at start with its field
/// manager, a stale object it owns pruned and someone else's kept, updated
/// when the config file changes (a rule switched off is pruned, a mode
/// change reaches the binding), and active: a server dry-run create gets
/// the policy's denial, then only its warning.
#[test]
fn serve_with_the_cel_engine_keeps_the_policies_in_step_with_its_config() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let assets = controlplane::assets();
    let cp = ControlPlane::start(&assets, guard::certs_dev);
    let k = cp.kubectl.clone();
    longhorn_crds(&k);
    k.run(&["create", "namespace", "longhorn-system"]).ok();
    // A stale policy of the guard's (a rule an older version generated), and one of someone else's.
    let stale = |name: &str, owned: bool| {
        let labels = if owned {
            json!({"app.kubernetes.io/managed-by": "longhorn-talos-guard"})
        } else {
            json!({})
        };
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name, "labels": labels},
            "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                "operations": ["CREATE"], "resources": ["configmaps"]}]},
                "validations": [{"expression": "true"}]}})
        .to_string()
    };
    k.with_manifest(&["apply"], &stale("longhorn-talos-guard-w999", true))
        .ok();
    k.with_manifest(&["apply"], &stale("someone-elses-policy", false))
        .ok();

    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.yaml");
    let write_config = |text: &str| {
        let tmp = dir.path().join("config.yaml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &config_path).unwrap();
    };
    let first = "policies: {LTG-W013: enforce}\n";
    write_config(first);
    let certs = dir.path().join("certs");
    guard::certs_dev(&certs);
    let mut g = guard::Guard::start_with(
        "guard-cel",
        &[
            "--listen",
            "127.0.0.1:0",
            "--cert-dir",
            &certs.to_string_lossy(),
            "--config",
            &config_path.to_string_lossy(),
            "--admission-engine",
            "cel",
        ],
        &cp.kubeconfig,
        &cp.log_dir(),
    );
    let cfg = Config::from_yaml(first, "t").unwrap();
    let want = generated_names(&cfg);
    assert!(want.contains(&"ValidatingAdmissionPolicy/longhorn-talos-guard-w031".to_string()));
    wait(
        "the guard to apply its policies",
        Duration::from_secs(60),
        || owned_names(&k) == want,
    );
    // Someone else's policy is left alone; the field manager is the guard's.
    k.run(&["get", "validatingadmissionpolicy", "someone-elses-policy"])
        .ok();
    let managers = k
        .run(&[
            "get",
            "validatingadmissionpolicy",
            "longhorn-talos-guard-w013",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ])
        .ok();
    assert_eq!(managers.stdout, "longhorn-talos-guard", "{managers}");

    // Active: a data path folder on EPHEMERAL is denied by LTG-W013 in enforce mode.
    let object = setting("/var/data");
    let request = create_request(&object, "longhorn.io", "settings");
    let (message, _) = expect::expected(&cfg, &request);
    let message = message.expect("LTG-W013 enforced denies /var/data");
    assert!(message.contains("LTG-W013: "), "{message}");
    wait(
        "the LTG-W013 policy to deny",
        Duration::from_secs(60),
        || {
            let run = k.with_manifest(&["create", "--dry-run=server"], &object.to_string());
            !run.success && run.stderr.contains(&message)
        },
    );

    // The config changes: LTG-W013 back to warn, LTG-W031 off (its policy pruned).
    let second = "policies: {LTG-W031: off}\n";
    write_config(second);
    let cfg = Config::from_yaml(second, "t").unwrap();
    let want = generated_names(&cfg);
    assert!(!want.iter().any(|n| n.ends_with("-w031")));
    wait(
        "the guard to follow its config",
        Duration::from_secs(60),
        || owned_names(&k) == want,
    );
    wait(
        "the LTG-W013 policy to warn only",
        Duration::from_secs(60),
        || {
            let run = k.with_manifest(&["create", "--dry-run=server"], &object.to_string());
            run.success
            && run.stderr.contains(
                "Warning: Validation failed for ValidatingAdmissionPolicy 'longhorn-talos-guard-w013' with binding 'longhorn-talos-guard-w013': LTG-W013: ",
            )
        },
    );
    let log = g.proc.log();
    assert!(
        log.contains("CEL admission policies in step with the configuration"),
        "{log}"
    );
    assert!(log.contains("longhorn-talos-guard-w999"), "{log}");
    g.proc.kill();
}

/// `serve --admission-engine cel` on Kubernetes 1.34 finds MutatingAdmissionPolicy
/// v1beta1 in discovery when it is turned on, and then keeps LTG-W001's
/// v1beta1 policy too; without it, only the ValidatingAdmissionPolicies.
#[test]
fn serve_with_the_cel_engine_on_1_34_writes_the_beta_mutating_policy_where_served() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let assets = controlplane::assets_1_34();
    for beta in [true, false] {
        let flags: &[&str] = if beta { &MAP_BETA_FLAGS } else { &[] };
        let cp = ControlPlane::start_with(&assets, guard::certs_dev, flags);
        let k = cp.kubectl.clone();
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        guard::certs_dev(&certs);
        let mut g = guard::Guard::start_with(
            if beta {
                "guard-cel-beta"
            } else {
                "guard-cel-1-34"
            },
            &[
                "--listen",
                "127.0.0.1:0",
                "--cert-dir",
                &certs.to_string_lossy(),
                "--admission-engine",
                "cel",
            ],
            &cp.kubeconfig,
            &cp.log_dir(),
        );
        let served = cel::Served {
            mutating_v1beta1: beta,
        };
        let want = generated_names_for(&Config::default(), KubeVersion(34), served);
        assert_eq!(
            want.contains(&"MutatingAdmissionPolicy/longhorn-talos-guard-w001".to_string()),
            beta
        );
        wait(
            "the guard to apply what this API server serves",
            Duration::from_secs(60),
            || owned_names_at(&k, beta) == want,
        );
        if beta {
            let version = k
                .run(&[
                    "get",
                    "mutatingadmissionpolicies.v1beta1.admissionregistration.k8s.io",
                    "longhorn-talos-guard-w001",
                    "-o",
                    "jsonpath={.apiVersion}",
                ])
                .ok();
            assert_eq!(version.stdout, "admissionregistration.k8s.io/v1beta1");
        }
        assert!(
            g.proc.log().contains(&format!("mutating_v1beta1={beta}")),
            "{}",
            g.proc.log()
        );
        g.proc.kill();
    }
}

/// The guard's `/metrics` (curl, as the other e2e tests read it).
fn metrics(addr: std::net::SocketAddr) -> String {
    let out = std::process::Command::new("curl")
        .args(["-sk", &format!("https://{addr}/metrics")])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A counter's value in a Prometheus text exposition (0 when absent).
fn counter(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// `serve --admission-engine cel` without the right to write its policies
/// (installed without cel-policies' ClusterRole): the API server refuses
/// every apply; the guard keeps serving, says so in its log with the API
/// server's refusal, counts each attempt in
/// `ltg_cel_policy_syncs_total{result="error"}` and retries; once the
/// ClusterRole is bound its policies appear.
#[test]
fn serve_with_the_cel_engine_without_its_rbac_keeps_serving_and_retries() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let assets = controlplane::assets();
    let cp = ControlPlane::start(&assets, guard::certs_dev);
    let k = cp.kubectl.clone();
    k.run(&["create", "namespace", "longhorn-system"]).ok();
    // The guard runs as a service account without any role (the API server runs
    // with --authorization-mode=RBAC).
    k.run(&["create", "serviceaccount", "guard", "-n", "default"])
        .ok();
    let token = k
        .run(&["create", "token", "guard", "-n", "default", "--duration=1h"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let admin = std::fs::read_to_string(&cp.kubeconfig).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let restricted: Vec<String> = admin
        .lines()
        .map(|l| match l.split_once("token: ") {
            Some((indent, _)) => format!("{indent}token: {token}"),
            None => l.to_string(),
        })
        .collect();
    assert_ne!(
        restricted.join("\n"),
        admin.trim_end(),
        "the token line was replaced"
    );
    std::fs::write(&kubeconfig, restricted.join("\n") + "\n").unwrap();
    let certs = dir.path().join("certs");
    guard::certs_dev(&certs);
    let mut g = guard::Guard::start_with(
        "guard-cel-norbac",
        &[
            "--listen",
            "127.0.0.1:0",
            "--cert-dir",
            &certs.to_string_lossy(),
            "--admission-engine",
            "cel",
        ],
        &kubeconfig,
        &cp.log_dir(),
    );
    let errors = "ltg_cel_policy_syncs_total{result=\"error\"}";
    wait(
        "the guard to fail, say so and retry",
        Duration::from_secs(60),
        || counter(&metrics(g.addr), errors) >= 2.0,
    );
    let log = g.proc.log();
    assert!(
        log.contains("CEL admission policies not all applied; retrying"),
        "{log}"
    );
    assert!(
        log.contains("system:serviceaccount:default:guard")
            && log.contains("validatingadmissionpolicies"),
        "the API server's refusal is in the log: {log}"
    );
    assert_eq!(owned_names(&k), Vec::<String>::new());
    // Still serving: ready, and a review is answered.
    let ready = std::process::Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("https://{}/readyz", g.addr))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&ready.stdout), "200");
    // The ClusterRole of cel-policies, bound: the next attempt applies everything.
    k.run(&[
        "create",
        "clusterrole",
        "guard-policies",
        "--verb=get,list,watch,create,patch,delete",
        "--resource=validatingadmissionpolicies.admissionregistration.k8s.io,validatingadmissionpolicybindings.admissionregistration.k8s.io,mutatingadmissionpolicies.admissionregistration.k8s.io,mutatingadmissionpolicybindings.admissionregistration.k8s.io",
    ])
    .ok();
    k.run(&[
        "create",
        "clusterrolebinding",
        "guard-policies",
        "--clusterrole=guard-policies",
        "--serviceaccount=default:guard",
    ])
    .ok();
    let want = generated_names(&Config::default());
    wait(
        "the guard to apply its policies once allowed",
        Duration::from_secs(60),
        || owned_names(&k) == want,
    );
    wait(
        "the guard to count the success",
        Duration::from_secs(30),
        || {
            counter(
                &metrics(g.addr),
                "ltg_cel_policy_syncs_total{result=\"ok\"}",
            ) >= 1.0
        },
    );
    g.proc.kill();
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
