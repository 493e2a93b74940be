//! The CEL back end against Kubernetes' own admission policy code: the
//! policies `policies cel` generates are loaded into k8s.io/apiserver's
//! ValidatingAdmissionPolicy plugin (tests/cel-oracle, the version its go.mod
//! pins, the e2e control plane's 1.37.2) and given every review fixture and
//! thousands of generated Setting requests; the API server's answer must be
//! the webhook's: denied exactly when the webhook denies for a rule the CEL
//! covers, with the rule ID and the webhook's first sentence.
//!
//! Facts: CEL.md (k8s.io/apiserver v0.37 `plugin/policy/validating`, message
//! `ValidatingAdmissionPolicy '<p>' with binding '<b>' denied request: <m>`).

mod common;
#[path = "cel-oracle/expect.rs"]
mod expect;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use expect::{expected, expected_at};
use longhorn_talos_guard::cel::{self, KubeVersion};
use longhorn_talos_guard::config::Config;
use longhorn_talos_guard::pipeline;
use longhorn_talos_guard::policy::Phase;
use serde_json::{Value, json};

fn oracle() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("tests/cel-oracle/build.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run tests/cel-oracle/build.sh");
    assert!(
        out.status.success(),
        "tests/cel-oracle/build.sh failed (Go is needed to build the CEL oracle; this test does not skip)"
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .expect("build.sh prints the oracle's path")
        .to_string()
}

/// The API server's answers for `requests` under the policies generated for `cfg`.
fn api_server(cfg: &Config, requests: &[Value]) -> Vec<Value> {
    api_server_at(cfg, KubeVersion(cel::NEWEST_MINOR), "", requests).1
}

/// [`api_server`] for the policies generated for Kubernetes `version`,
/// compiled at CEL compatibility version `compatibility` ("": the oracle's own).
fn api_server_at(
    cfg: &Config,
    version: KubeVersion,
    compatibility: &str,
    requests: &[Value],
) -> (Vec<String>, Vec<Value>) {
    let generated = cel::generate(cfg, version);
    let stream = generated.to_yaml();
    // The pod policies fail open (`failurePolicy: Ignore`, as the pod
    // webhooks): here they fail closed, so that an evaluation error shows as
    // a denial with its error text instead of passing for an allow.
    let objects: Vec<Value> = stream
        .split("\n---\n")
        .skip(1)
        .map(|doc| {
            let mut v: Value = serde_saphyr::from_str(doc).unwrap();
            if v["spec"]["failurePolicy"] == "Ignore" {
                v["spec"]["failurePolicy"] = json!("Fail");
            }
            v
        })
        .collect();
    let input = json!({
        "compatibility": compatibility,
        "objects": objects,
        "namespaces": [cfg.longhorn_namespace, "default"],
        "requests": requests,
    });
    let mut child = Command::new(oracle())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the oracle failed");
    let mut answers: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // With a compatibility version the first line is what a new policy fails to compile with.
    let errors = if compatibility.is_empty() {
        Vec::new()
    } else {
        let first = answers.remove(0);
        serde_json::from_value(first["compileErrors"].clone()).unwrap()
    };
    assert_eq!(answers.len(), requests.len());
    (errors, answers)
}

/// Compares; returns (denials, warnings) seen.
fn compare(cfg: &Config, requests: &[Value]) -> (usize, usize) {
    let answers = api_server(cfg, requests);
    let (mut denied, mut warned) = (0, 0);
    for (request, answer) in requests.iter().zip(&answers) {
        assert_eq!(answer.get("error"), None, "{request}");
        let (want, want_warnings) = expected(cfg, request);
        let got = answer["denied"]
            .as_bool()
            .unwrap()
            .then(|| answer["message"].as_str().unwrap().to_string());
        assert_eq!(got, want, "request: {request}");
        let mut got_warnings: Vec<String> = answer["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap().to_string())
            .collect();
        // Policies are evaluated in the API server's order, not the registry's:
        // the same warnings, in any order.
        got_warnings.sort();
        let mut want_warnings = want_warnings;
        want_warnings.sort();
        // A denied request's warnings are not compared: kubectl shows the denial.
        if want.is_none() {
            assert_eq!(got_warnings, want_warnings, "request: {request}");
        }
        denied += usize::from(want.is_some());
        warned += usize::from(!want_warnings.is_empty());
    }
    (denied, warned)
}

/// The review fixtures, and the reviews recorded from kube-apiserver
/// (tests/fixtures/admission/recorded, the `/validate` ones).
fn fixture_requests() -> Vec<Value> {
    let dir = common::fixture_path("admission");
    let json = |dir: &Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect()
    };
    let mut names = json(&dir);
    names.extend(
        json(&dir.join("recorded"))
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".validate.json")),
    );
    names.sort();
    names
        .iter()
        .map(|p| {
            let review: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            review["request"].clone()
        })
        .collect()
}

#[test]
fn review_fixtures_get_the_webhooks_verdict_from_the_api_servers_cel() {
    let cfg = Config::default();
    let requests = fixture_requests();
    assert!(requests.len() >= 40);
    let (denied, _) = compare(&cfg, &requests);
    // namespace-create-baseline, -unlabelled, -update-restricted, -no-labels-map,
    // setting-update-data-path-bad: the denials W002 and W011 give.
    assert!(denied >= 4, "only {denied} denials");
}

/// A small deterministic generator (xorshift), seeded: the same paths every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// An AdmissionRequest as kube-apiserver sends it for a namespaced object of
/// the Longhorn namespace: UPDATE when `old` is given, CREATE otherwise.
fn review(
    (group, version, kind, resource): (&str, &str, &str, &str),
    name: &str,
    user: &str,
    object: Value,
    old: Option<Value>,
) -> Value {
    json!({
        "uid": "u",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": resource},
        "name": name,
        "namespace": "longhorn-system",
        "operation": if old.is_some() { "UPDATE" } else { "CREATE" },
        "userInfo": {"username": user},
        "object": object,
        "oldObject": old,
    })
}

fn setting_request(value: Option<&str>, old: Option<Option<&str>>, user: &str) -> Value {
    let object = |v: Option<&str>| {
        let mut o = json!({"apiVersion": "longhorn.io/v1beta2", "kind": "Setting",
            "metadata": {"name": "default-data-path", "namespace": "longhorn-system"}});
        if let Some(v) = v {
            o["value"] = json!(v);
        }
        o
    };
    review(
        ("longhorn.io", "v1beta2", "Setting", "settings"),
        "default-data-path",
        user,
        object(value),
        old.map(object),
    )
}

#[test]
fn generated_data_paths_get_the_webhooks_verdict_from_the_api_servers_cel() {
    // Components chosen to reach every place of the host model (talos source as cited in
    // src/host.rs tests) and the cleaning: "", ".", "..", quotes and backslashes in messages.
    let parts = [
        "",
        ".",
        "..",
        "var",
        "lib",
        "longhorn",
        "mnt",
        "tmp",
        "run",
        "system",
        "dev",
        "shm",
        "proc",
        "sys",
        "opt",
        "etc",
        "cni",
        "kubernetes",
        "fast",
        "data",
        "a b",
        "a. b",
        "q\"t",
        "b\\s",
        "usr",
        "local",
    ];
    let users = [
        "admin",
        "system:serviceaccount:longhorn-system:longhorn-service-account",
        "ci-bot",
    ];
    let cfg = Config::from_yaml(
        "allowedMounts: [{path: /var/mnt/fast}]\nexemptUsernames: [ci-bot]\n",
        "t",
    )
    .unwrap();
    let mut rng = Rng(0x5eed_cafe_f00d_1234);
    let mut requests = Vec::new();
    for i in 0..3000 {
        let n = (rng.next() % 9) as usize;
        let mut path: String = (0..n).map(|_| format!("/{}", rng.pick(&parts))).collect();
        match i % 10 {
            0 => path = path.trim_start_matches('/').to_string(),
            1 => path.push('/'),
            _ => {}
        }
        let user = rng.pick(&users);
        let old = match i % 7 {
            0 => Some(Some(path.clone())),
            1 => Some(None),
            2 => Some(Some("/var/lib/longhorn".to_string())),
            _ => None,
        };
        requests.push(setting_request(
            Some(&path),
            old.as_ref().map(|o| o.as_deref()),
            user,
        ));
    }
    requests.push(setting_request(None, None, "admin"));
    let (denied, warned) = compare(&cfg, &requests);
    assert!(
        denied > 300,
        "only {denied} denials among {}",
        requests.len()
    );
    assert!(
        warned > 100,
        "only {warned} warnings among {}",
        requests.len()
    );
}

fn node_request(name: &str, disks: &Value, old: Option<&Value>, user: &str) -> Value {
    let object = |d: &Value| {
        json!({"apiVersion": "longhorn.io/v1beta2", "kind": "Node",
            "metadata": {"name": name, "namespace": "longhorn-system"},
            "spec": {"disks": d}})
    };
    review(
        ("longhorn.io", "v1beta2", "Node", "nodes"),
        name,
        user,
        object(disks),
        old.map(object),
    )
}

#[test]
fn generated_longhorn_nodes_get_the_webhooks_verdict_from_the_api_servers_cel() {
    // Disk paths and types as longhorn-manager's node CRD allows them (v1.13.0
    // k8s/pkg/apis/longhorn/v1beta2/node.go: diskType filesystem or block); block paths
    // are devices or PCI addresses (src/base/paths.rs is_pci_address).
    let paths = [
        "/var/lib/longhorn/",
        "/var/mnt/longhorn",
        "/var/mnt/fast/d",
        "/mnt/ssd",
        "/tmp/x",
        "/run/../var/lib/longhorn",
        "/dev/sdb",
        "/dev/shm/x",
        "/dev/pts/0",
        "/dev",
        "0000:05:00.0",
        "0000:05:00.9",
        "relative/path",
        "",
        "/",
        "/var/lib/longhorn/../../../etc",
        "/proc/1",
        "/opt/longhorn//",
        "/srv/a\"b",
    ];
    let types = [
        None,
        Some(""),
        Some("filesystem"),
        Some("block"),
        Some("zfs"),
    ];
    let names = ["worker-1", "worker-2", "cp-1"];
    let users = [
        "admin",
        "system:serviceaccount:longhorn-system:longhorn-service-account",
        "ci-bot",
    ];
    let cfg = Config::from_yaml(
        "allowedMounts: [{path: /var/mnt/fast}]\nexemptUsernames: [ci-bot]\nnodes:\n  worker-2:\n    allowedMounts: [{path: /var/mnt/slow}]\n",
        "t",
    )
    .unwrap();
    let mut rng = Rng(0x00c0_ffee_d00d_4321);
    let mut disks = || {
        let n = (rng.next() % 5) as usize;
        let mut map = serde_json::Map::new();
        for _ in 0..n {
            let mut d = json!({"path": rng.pick(&paths), "allowScheduling": true});
            if let Some(t) = types[(rng.next() % types.len() as u64) as usize] {
                d["diskType"] = json!(t);
            }
            if rng.next().is_multiple_of(16) {
                // No path at all: the webhook reads it as empty.
                d.as_object_mut().unwrap().remove("path");
            }
            map.insert(format!("disk-{}", rng.next() % 6), d);
        }
        Value::Object(map)
    };
    let mut requests = Vec::new();
    for i in 0..1500 {
        let new = disks();
        let old = match i % 3 {
            0 => Some(disks()),
            1 => Some(new.clone()),
            _ => None,
        };
        let name = names[i % names.len()];
        let user = users[(i / 3) % users.len()];
        requests.push(node_request(name, &new, old.as_ref(), user));
    }
    let (denied, warned) = compare(&cfg, &requests);
    assert!(
        denied > 200,
        "only {denied} denials among {}",
        requests.len()
    );
    assert!(
        warned > 100,
        "only {warned} warnings among {}",
        requests.len()
    );
}

#[test]
fn longhorns_own_pods_pass_the_api_servers_cel() {
    // Longhorn's pods (tests/fixtures/longhorn-pods, written from longhorn/longhorn
    // chart and longhorn-manager sources per version): no generated policy touches them.
    let mut requests = Vec::new();
    for version in ["v1.10", "v1.11", "v1.12", "v1.13"] {
        let dir = common::fixture_path("longhorn-pods").join(version);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        for file in files {
            let pod: Value =
                serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            requests.push(json!({
                "uid": "u",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "name": pod["metadata"]["name"],
                "namespace": "longhorn-system",
                "operation": "CREATE",
                "userInfo": {"username": "system:serviceaccount:kube-system:daemon-set-controller"},
                "object": pod,
            }));
            // The same spec as the pod template of a DaemonSet (how Longhorn's chart and
            // longhorn-manager ship most of them), created and then updated unchanged.
            requests.push(pod_request("DaemonSet", &pod["spec"], None, "admin"));
            requests.push(pod_request(
                "DaemonSet",
                &pod["spec"],
                Some(&pod["spec"]),
                "admin",
            ));
        }
    }
    assert!(requests.len() > 180);
    // Without a machine config, with one (the kubelet's view of EPHEMERAL then
    // matters to LTG-W030), on a Talos before 1.10, and under every documented
    // Talos layout (tests/fixtures/talos-layouts, as tests/corpus.rs for the webhook).
    let mut configs = vec![
        ("no machine config".to_string(), Config::default()),
        (
            "Talos 1.14 with an extraMount".to_string(),
            Config {
                host: Some(pod_layout((1, 14))),
                ..Config::default()
            },
        ),
        (
            "Talos 1.9".to_string(),
            Config {
                host: Some(pod_layout((1, 9))),
                ..Config::default()
            },
        ),
    ];
    let dir = common::fixture_path("talos-layouts");
    let mut layouts: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    layouts.sort();
    assert_eq!(layouts.len(), 6, "{layouts:?}");
    for file in layouts {
        let source = longhorn_talos_guard::source::ConfigSource {
            file: None,
            talos_files: vec![file.clone()],
        };
        let cfg = source.load().unwrap();
        assert!(cfg.host.is_some());
        configs.push((file.display().to_string(), cfg));
    }
    for (name, cfg) in &configs {
        let answers = api_server(cfg, &requests);
        for (r, a) in requests.iter().zip(&answers) {
            assert_eq!(a["denied"], false, "{name}: {}", r["name"]);
            assert_eq!(a["warnings"], json!([]), "{name}: {}", r["name"]);
        }
    }
}

/// Past CEL's cost budget the policies deny with their own message, never
/// a cost error and never an allow. Bounds: src/cel/paths.rs MAX_PATH_BYTES,
/// MAX_COMPONENTS; src/cel/node.rs MAX_DISKS.
#[test]
fn past_the_bounds_the_api_server_denies_with_an_explicit_message() {
    use longhorn_talos_guard::cel::paths::{MAX_COMPONENTS, MAX_PATH_BYTES};
    let cfg = Config::default();
    let deep_ok = format!(
        "/var/lib/longhorn{}",
        "/a/..".repeat((MAX_COMPONENTS - 4) / 2)
    );
    let deep = format!("/var/lib/longhorn{}", "/a/..".repeat(MAX_COMPONENTS));
    let very_deep = format!("/var/lib/longhorn{}", "/..".repeat(5000));
    let long = format!("/var/lib/longhorn/{}", "x".repeat(MAX_PATH_BYTES));
    let long_ok = format!("/var/lib/longhorn/{}", "x".repeat(MAX_PATH_BYTES - 18));
    let at_most = |n: usize, p: &str| {
        let mut m = serde_json::Map::new();
        for i in 0..n {
            m.insert(format!("d{i:03}"), json!({"path": p}));
        }
        Value::Object(m)
    };
    let cases = [
        (setting_request(Some(&deep_ok), None, "admin"), None),
        (setting_request(Some(&deep), None, "admin"), Some("bound")),
        (
            setting_request(Some(&very_deep), None, "admin"),
            Some("bound"),
        ),
        (setting_request(Some(&long), None, "admin"), Some("bound")),
        // The most disks with paths to clean, each with the most components: within budget.
        (
            node_request("n", &at_most(8, &deep_ok), None, "admin"),
            None,
        ),
        (
            node_request("n", &at_most(9, &deep_ok), None, "admin"),
            Some("disks"),
        ),
        // The most disks, each with the longest clean path: within budget.
        (
            node_request("n", &at_most(64, &long_ok), None, "admin"),
            None,
        ),
        (
            node_request("n", &at_most(65, "/var/lib/longhorn"), None, "admin"),
            Some("disks"),
        ),
        (
            node_request("n", &at_most(3, &deep), None, "admin"),
            Some("bound"),
        ),
    ];
    let requests: Vec<Value> = cases.iter().map(|(r, _)| r.clone()).collect();
    let answers = api_server(&cfg, &requests);
    for ((request, want), answer) in cases.iter().zip(&answers) {
        let message = answer["message"].as_str().unwrap_or_default();
        // What kube-apiserver says past the budget (CEL.md): "operation cancelled: actual cost limit exceeded".
        assert!(!message.contains("cost limit"), "{message}");
        match want {
            None => assert_eq!(answer["denied"], false, "{message}"),
            Some("disks") => assert!(
                message.ends_with(
                    "LTG-W010: Longhorn node \"n\": more than 64 disks, or more than 8 disk paths with \"//\", \".\" or \"..\", past what the CEL policy judges within the API server's cost budget; the guard's webhook judges it."
                ),
                "{message}"
            ),
            Some(_) => assert!(
                message.contains(&format!(
                    "the path is past what the CEL policy judges within the API server's cost budget (longer than {MAX_PATH_BYTES} bytes, or more than {MAX_COMPONENTS} components with \"//\", \".\" or \"..\"); the guard's webhook judges it."
                )) || message.contains(&format!(
                    "the value is past what the CEL policy judges within the API server's cost budget (longer than {MAX_PATH_BYTES} bytes"
                )),
                "{}: {message}",
                request["kind"]["kind"]
            ),
        }
    }
}

/// LTG-W001 in CEL (a MutatingAdmissionPolicy of JSONPatch adds, run by
/// k8s.io/apiserver's own mutating plugin) labels the namespace exactly as the
/// webhook's patch does: every subset of the six labels, other values kept,
/// no labels map at all, and other namespaces untouched. Labels: Longhorn's
/// Talos guide (longhorn/website content/docs/1.13.0/advanced-resources/os-distro-specific/talos-linux-support.md).
#[test]
fn the_mutating_policy_labels_namespaces_as_the_webhooks_patch_does() {
    use longhorn_talos_guard::base::longhorn::NAMESPACE_LABELS;
    let cfg = Config::default();
    let mut requests = Vec::new();
    for mask in 0..64u32 {
        for (name, other) in [("longhorn-system", "baseline"), ("default", "restricted")] {
            let mut labels = serde_json::Map::new();
            for (i, (k, v)) in NAMESPACE_LABELS.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    // Values already set are kept, whatever they are.
                    labels.insert(k.to_string(), json!(if i % 2 == 0 { other } else { v }));
                }
            }
            labels.insert("team".into(), json!("storage"));
            let mut metadata = json!({"name": name});
            if mask != 0 || name == "default" {
                metadata["labels"] = Value::Object(labels);
            }
            requests.push(json!({
                "uid": "u",
                "kind": {"group": "", "version": "v1", "kind": "Namespace"},
                "resource": {"group": "", "version": "v1", "resource": "namespaces"},
                "name": name,
                "operation": if mask % 3 == 0 { "UPDATE" } else { "CREATE" },
                "userInfo": {"username": "admin"},
                "object": {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata},
                "oldObject": if mask % 3 == 0 { json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}) } else { Value::Null },
            }));
        }
    }
    let answers = api_server(&cfg, &requests);
    let mut patched = 0;
    for (request, answer) in requests.iter().zip(&answers) {
        let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request});
        let done = pipeline::review_with(
            Phase::Mutate,
            body.to_string().as_bytes(),
            &cfg,
            &pipeline::offline_facts("cel oracle"),
        )
        .unwrap();
        let mut want = request["object"].clone();
        json_patch::patch(&mut want, &done.verdict.patch).unwrap();
        assert_eq!(answer["object"], want, "{request}");
        patched += usize::from(!done.verdict.patch.is_empty());
    }
    assert_eq!(
        patched, 63,
        "every Longhorn namespace but the fully labelled one"
    );
}

/// Each rule's stated floor holds: the output for Kubernetes 1.33 (LTG-W002,
/// W010, W011, W013, W031) compiles at CEL compatibility 1.32, what a 1.33 kube-apiserver
/// compiles new expressions at (CEL.md; k8s.io/apiserver v0.37
/// pkg/cel/environment/base.go DefaultCompatibilityVersion), and judges every
/// review fixture as the webhook does; the output for 1.30 (LTG-W002) compiles
/// at 1.29, the output for 1.37 at 1.36. At 1.31 the 1.33 output does not
/// compile: the floor is tight. (LTG-W001's floor, 1.36, is where the API
/// server serves MutatingAdmissionPolicy v1, not a CEL library.)
#[test]
fn the_floor_versions_compile_and_judge_as_the_webhook() {
    let cfg = Config::default();
    let requests = fixture_requests();
    // The newest too: what a 1.37 kube-apiserver checks a new policy at (1.36).
    for (minor, compatibility, least) in [(37, "1.36", 4), (33, "1.32", 4), (30, "1.29", 3)] {
        let version = KubeVersion(minor);
        let (errors, answers) = api_server_at(&cfg, version, compatibility, &requests);
        assert_eq!(errors, Vec::<String>::new(), "1.{minor}");
        let mut denied = 0;
        for (request, answer) in requests.iter().zip(&answers) {
            let (want, _) = expected_at(&cfg, version, request);
            let got = answer["denied"]
                .as_bool()
                .unwrap()
                .then(|| answer["message"].as_str().unwrap().to_string());
            assert_eq!(got, want, "1.{minor}: {request}");
            denied += usize::from(want.is_some());
        }
        assert!(denied >= least, "1.{minor}: only {denied} denials");
    }
    let (errors, _) = api_server_at(&cfg, KubeVersion(33), "1.31", &[]);
    for policy in [
        "w010",
        "w010-warn-only",
        "w011",
        "w011-warn-only",
        "w013",
        "w031",
    ] {
        let name = format!("longhorn-talos-guard-{policy} variable pathSums");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&name) && e.contains("transformList")),
            "{name}: {errors:#?}"
        );
    }
    assert!(!errors.iter().any(|e| e.contains("-w002 ")), "{errors:#?}");
}

/// A Talos layout for LTG-W013: a partition volume, a directory volume, and
/// the kubelet's system volume on a partition of its own (Talos 1.14
/// `UserVolumeConfig` volumeType partition/directory, `VolumeConfig`
/// provisioning: siderolabs/talos v1.14.0 pkg/machinery/config/types/block;
/// the host model's tables in src/host.rs cite the mount points).
fn layout() -> longhorn_talos_guard::host::Layout {
    use longhorn_talos_guard::host::{DeclaredVolume, Layout, VolumeType};
    Layout {
        volumes: vec![
            DeclaredVolume {
                name: "longhorn".into(),
                kind: "UserVolumeConfig",
                volume_type: Some(VolumeType::Partition),
            },
            DeclaredVolume {
                name: "scratch".into(),
                kind: "UserVolumeConfig",
                volume_type: Some(VolumeType::Directory),
            },
        ],
        system_volumes: vec!["KUBELET"],
        talos_version: Some((1, 14)),
        ..Layout::default()
    }
}

/// Paths that reach every place LTG-W013 tells apart (src/host.rs classify:
/// /var/mnt/<volume>, EPHEMERAL folders, system volumes, Longhorn's own
/// /var/lib/longhorn, and the unusable places that are LTG-W010's).
const EPHEMERAL_PATHS: &[&str] = &[
    "/var/lib/longhorn",
    "/var/lib/longhorn/../longhorn2",
    "/var/mnt/longhorn",
    "/var/mnt/longhorn/d",
    "/var/mnt/scratch/d",
    "/var/mnt/nope",
    "/var/mnt/bad_name",
    "/var/mnt",
    "/var/mnt/",
    "/var/mnt//longhorn/.",
    "/var/mnt/fast/d",
    "/var/mnt/slow",
    "/var/data",
    "/var/lib/kubelet/x",
    "/var/log",
    "/opt/longhorn",
    "/etc/cni/x",
    "/etc/kubernetes",
    "/srv/data",
    "/tmp/x",
    "/var/run/x",
    "/",
    "",
    "rel",
    "/opt/a. b",
    "/var/q\"t",
];

#[test]
fn ephemeral_data_paths_get_the_webhooks_verdict_from_the_api_servers_cel() {
    let users = [
        "admin",
        "system:serviceaccount:longhorn-system:longhorn-service-account",
        "ci-bot",
    ];
    let names = ["worker-1", "worker-2"];
    let mut requests = Vec::new();
    let mut rng = Rng(0x0e9e_3e2a_1d00_7777);
    for i in 0..1200 {
        let mut disks = || {
            let mut map = serde_json::Map::new();
            for _ in 0..(rng.next() % 4) {
                let mut d = json!({"path": rng.pick(EPHEMERAL_PATHS)});
                match rng.next() % 4 {
                    0 => d["diskType"] = json!("block"),
                    1 => d["diskType"] = json!("filesystem"),
                    _ => {}
                }
                map.insert(format!("disk-{}", rng.next() % 5), d);
            }
            Value::Object(map)
        };
        let new = disks();
        let old = match i % 3 {
            0 => Some(disks()),
            1 => Some(new.clone()),
            _ => None,
        };
        let user = users[(i / 3) % users.len()];
        requests.push(node_request(names[i % 2], &new, old.as_ref(), user));
        let value = rng.pick(EPHEMERAL_PATHS);
        let old = match i % 4 {
            0 => Some(Some(value)),
            1 => Some(Some("/var/opt")),
            2 => Some(None),
            _ => None,
        };
        requests.push(setting_request(Some(value), old, user));
    }
    let configs = [
        // The defaults: no machine config, LTG-W013 warns.
        Config::default(),
        // A machine config, per-node mounts, and LTG-W013 enforced (LTG-W010 and
        // W011 warn, so that one policy denies at most).
        {
            let mut c = Config::from_yaml(
                "allowedMounts: [{path: /var/mnt/fast}]\nexemptUsernames: [ci-bot]\nnodes:\n  worker-2:\n    allowedMounts: [{path: /var/mnt/slow}]\npolicies:\n  LTG-W013: enforce\n  LTG-W010: warn\n  LTG-W011: warn\n",
                "t",
            )
            .unwrap();
            c.host = Some(layout());
            c
        },
    ];
    for (n, cfg) in configs.iter().enumerate() {
        let (denied, warned) = compare(cfg, &requests);
        // Enough of each verdict that the comparison means something.
        if n == 0 {
            assert!(warned > 300, "{n}: only {warned} warnings");
        } else {
            assert!(denied > 200, "{n}: only {denied} denials");
            assert!(warned > 200, "{n}: only {warned} warnings");
        }
    }
}

fn pod_request(kind: &str, spec: &Value, old: Option<&Value>, user: &str) -> Value {
    let (group, resource, wrap): (&str, &str, fn(&Value) -> Value) = match kind {
        "Pod" => ("", "pods", |s| s.clone()),
        "CronJob" => (
            "batch",
            "cronjobs",
            |s| json!({"jobTemplate": {"spec": {"template": {"spec": s}}}}),
        ),
        "Job" => ("batch", "jobs", |s| json!({"template": {"spec": s}})),
        "DaemonSet" => ("apps", "daemonsets", |s| json!({"template": {"spec": s}})),
        _ => ("apps", "deployments", |s| json!({"template": {"spec": s}})),
    };
    let version = if group.is_empty() {
        "v1".to_string()
    } else {
        format!("{group}/v1")
    };
    let object = |s: &Value| {
        json!({"apiVersion": version, "kind": kind,
            "metadata": {"name": "p", "namespace": "longhorn-system"}, "spec": wrap(s)})
    };
    review(
        (group, "v1", kind, resource),
        "p",
        user,
        object(spec),
        old.map(object),
    )
}

#[test]
fn pod_host_paths_on_a_tmpfs_get_the_webhooks_verdict_from_the_api_servers_cel() {
    // Talos's tmpfs mounts (src/host.rs TMPFS, siderolabs/talos v1.14.0
    // internal/pkg/mount/v3); LTG-W031 flags /tmp, /system and /dev/shm.
    let paths = [
        "/tmp",
        "/tmp/x",
        "/tmpx",
        "/system/state",
        "/dev/shm",
        "/dev/shm/../shm/x",
        "//tmp//a/",
        "/var/../tmp",
        "/run/x",
        "/var/run/x",
        "/var/lib/longhorn",
        "/tmp/ok/y",
        "/tmp/node",
        "relative/tmp",
        "",
        "/",
        "/tmp/q\"t",
        "/tmp/a\\b",
    ];
    let cfg = Config::from_yaml(
        // A global allowedMounts entry on a tmpfs is refused at load; node lists are
        // the operator's word (a node that is not Talos): pods bound to no node get them all.
        "allowedMounts: [{path: /var/mnt/fast}]\nexemptUsernames: [ci-bot]\nnodes:\n  worker-2:\n    allowedMounts: [{path: /tmp/node}]\n  worker-3:\n    allowedMounts: [{path: /tmp/ok}]\n",
        "t",
    )
    .unwrap();
    let mut enforced = cfg.clone();
    enforced.policies = Config::from_yaml("policies: {LTG-W031: enforce, LTG-W030: off}\n", "t")
        .unwrap()
        .policies;
    let requests = pod_requests(0x7777_5eed_0031_0031, 1500, |rng| {
        let mut volumes = Vec::new();
        for v in 0..(rng.next() % 4) {
            let name = ["data", "tmp", "x", "y"][(rng.next() % 4) as usize];
            let mut volume = json!({"name": format!("{name}{}", v % 2)});
            match rng.next() % 5 {
                0 => volume["emptyDir"] = json!({}),
                1 => {
                    volume["hostPath"] =
                        json!({"path": rng.pick(&paths), "type": "DirectoryOrCreate"})
                }
                _ => volume["hostPath"] = json!({"path": rng.pick(&paths)}),
            }
            volumes.push(volume);
        }
        let mut spec = json!({"containers": [{"name": "c", "image": "i"}], "volumes": volumes});
        match rng.next() % 4 {
            0 => spec["nodeName"] = json!("worker-2"),
            1 => spec["nodeName"] = json!("worker-1"),
            2 => spec["nodeName"] = json!("worker-3"),
            _ => {}
        }
        spec
    });
    let (_, warned) = compare(&cfg, &requests);
    assert!(warned > 150, "only {warned} warnings");
    let (denied, _) = compare(&enforced, &requests);
    assert!(denied > 150, "only {denied} denials");
}

/// Past the bounds of LTG-W013 and LTG-W031 (src/cel/node.rs MAX_DISKS,
/// MAX_UNCLEAN_DISKS; src/cel/pods.rs MAX_VOLUMES, MAX_UNCLEAN_PATHS;
/// src/cel/paths.rs MAX_PATH_BYTES, MAX_COMPONENTS) the policies deny (or,
/// in warn mode, warn) with their own message, never a cost error.
#[test]
fn past_the_bounds_ephemeral_and_tmpfs_policies_say_so() {
    use longhorn_talos_guard::cel::paths::{MAX_COMPONENTS, MAX_PATH_BYTES};
    use longhorn_talos_guard::cel::pods::{MAX_UNCLEAN_PATHS, MAX_VOLUMES};
    let cfg = Config::from_yaml(
        "policies: {LTG-W013: enforce, LTG-W031: enforce, LTG-W010: warn, LTG-W030: off}\n",
        "t",
    )
    .unwrap();
    let deep_ok = format!("/var/data{}", "/a/..".repeat((MAX_COMPONENTS - 4) / 2));
    let deep = format!("/var/data{}", "/a/..".repeat(MAX_COMPONENTS));
    let long = format!("/var/data/{}", "x".repeat(MAX_PATH_BYTES));
    let disks = |n: usize, p: &str| {
        let mut m = serde_json::Map::new();
        for i in 0..n {
            m.insert(format!("d{i:03}"), json!({"path": p}));
        }
        Value::Object(m)
    };
    let volumes = |n: usize, p: &str| {
        let v: Vec<Value> = (0..n)
            .map(|i| json!({"name": format!("v{i}"), "hostPath": {"path": p}}))
            .collect();
        json!({"containers": [], "volumes": v})
    };
    let tmp_deep_ok = format!("/tmp{}", "/a/..".repeat((MAX_COMPONENTS - 4) / 2));
    let tmp_long = format!("/tmp/{}", "x".repeat(MAX_PATH_BYTES - 5));
    let cases: Vec<(Value, &str)> = vec![
        // Within the bounds: the webhook's verdict (EPHEMERAL, tmpfs).
        (
            node_request("n", &disks(8, &deep_ok), None, "admin"),
            "LTG-W013: Longhorn node \"n\": 8 disks on the EPHEMERAL partition: disk \"d000\"",
        ),
        (
            node_request("n", &disks(64, "/var/data"), None, "admin"),
            "LTG-W013: Longhorn node \"n\": 64 disks",
        ),
        (
            pod_request("Pod", &volumes(MAX_VOLUMES, &tmp_long), None, "admin"),
            "LTG-W031: pod longhorn-system/p: host paths on a tmpfs: volume \"v0\"",
        ),
        (
            pod_request(
                "Pod",
                &volumes(MAX_UNCLEAN_PATHS, &tmp_deep_ok),
                Some(&volumes(MAX_VOLUMES, "/x")),
                "admin",
            ),
            "LTG-W031: pod longhorn-system/p: host paths on a tmpfs: volume \"v0\"",
        ),
        // Past them: the policy's own sentence.
        (
            node_request("n", &disks(9, &deep_ok), None, "admin"),
            "LTG-W013: Longhorn node \"n\": more than 64 disks",
        ),
        (
            node_request("n", &disks(65, "/var/data"), None, "admin"),
            "LTG-W013: Longhorn node \"n\": more than 64 disks",
        ),
        (
            node_request("n", &disks(1, &deep), None, "admin"),
            "the path is past what the CEL policy judges",
        ),
        (
            node_request("n", &disks(1, &long), None, "admin"),
            "the path is past what the CEL policy judges",
        ),
        (
            setting_request(Some(&deep), None, "admin"),
            "Longhorn setting \"default-data-path\": the value is past what the CEL policy judges",
        ),
        (
            pod_request("Pod", &volumes(MAX_VOLUMES + 1, "/x"), None, "admin"),
            "LTG-W031: pod longhorn-system/p: more than 128 volumes",
        ),
        (
            pod_request(
                "DaemonSet",
                &volumes(MAX_UNCLEAN_PATHS + 1, &tmp_deep_ok),
                None,
                "admin",
            ),
            "LTG-W031: DaemonSet longhorn-system/p (pod template): more than 128 volumes, or more than 8 host paths",
        ),
        (
            pod_request("Pod", &volumes(2, &long), None, "admin"),
            "LTG-W031: pod longhorn-system/p: volume \"v0\": the hostPath is past what the CEL policy judges",
        ),
    ];
    let requests: Vec<Value> = cases.iter().map(|(r, _)| r.clone()).collect();
    let answers = api_server(&cfg, &requests);
    for ((request, want), answer) in cases.iter().zip(&answers) {
        let message = answer["message"].as_str().unwrap_or_default();
        // What kube-apiserver says past the budget (CEL.md): "operation cancelled: actual cost limit exceeded".
        assert!(!message.contains("cost limit"), "{message}");
        assert_eq!(answer["denied"], true, "{}", request["kind"]);
        assert!(message.contains(want), "want {want:?} in {message}");
    }
}

/// Host paths that reach every verdict of LTG-W030 (src/policy/rules/pod_host_paths.rs):
/// what Longhorn's own pods mount (longhorn/longhorn chart v1.13.0 and
/// longhorn-manager v1.13.0 `datastore/kubernetes.go`, as in tests/fixtures/longhorn-pods),
/// the read-only root inside and outside what Talos ships (src/host.rs ROOTFS and its
/// symlinks into /usr, siderolabs/talos v1.14.0-rc.1), EPHEMERAL folders, user and system
/// volumes, what kube-apiserver refuses (kubernetes pkg/apis/core/validation
/// validateHostPathVolumeSource), relative paths, a NUL byte, unclean paths and values
/// the messages must quote.
const POD_PATHS: &[&str] = &[
    "/",
    "/dev",
    "/proc",
    "/sys",
    "/boot",
    "/lib/modules",
    "/etc",
    "/etc/iscsi",
    "/etc/hosts",
    "/etc/hosts/x",
    "/etc/longhorn",
    "/usr/include",
    "/usr/include/x",
    "/usr/lib/x",
    "/lib64/x",
    "/lib64",
    "/libx",
    "/sbin/iscsiadm",
    "/usr/sbin/x",
    "/bin",
    "/mnt",
    "/mnt/ssd",
    "/data",
    "/data/ok/x",
    "/var/data/ok/x",
    "/var/data/ok2",
    "/srv/node",
    "/home/x",
    "/run/longhorn",
    "/var/run/x",
    "/tmp/x",
    "/var/lib/longhorn",
    "/var/lib/longhorn/engine-binaries",
    "/var/lib/kubelet",
    "/var/lib/kubelet/plugins/driver.longhorn.io",
    "/var/lib/extra/x",
    "/var/lib/extra2",
    "/var/lib/etcd/x",
    "/var/log/x",
    "/var/mnt/longhorn",
    "/var/mnt/longhorn/d",
    "/var/mnt/nope",
    "/var/mnt/bad_name",
    "/opt/x",
    "/etc/cni/net.d",
    "/etc/kubernetes/x",
    "",
    "..",
    "../x",
    "/a/../b",
    "/var/..",
    "/var/..x",
    "var/lib/longhorn",
    "./x",
    "/var/\u{0}x",
    "//data//",
    "/var/./lib//x/",
    "/etc/./hosts",
    "/data/q\"t",
    "/data/a\\b",
    "/data/new\nline",
    "/var/cr\r\nx",
    "/data/tab\tx",
    "/data/ünï",
];

/// The `hostPath.type` values kube-apiserver accepts, and none.
const POD_PATH_TYPES: &[&str] = &[
    "",
    "",
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
];

/// A Talos layout for LTG-W030: Talos 1.14 (the kubelet sees /var/mnt), a user
/// volume, the ETCD system volume on its own partition, and a kubelet extraMount
/// (`machine.kubelet.extraMounts`, siderolabs/talos v1.14.0 pkg/machinery/config/types/v1alpha1).
fn pod_layout(talos: (u32, u32)) -> longhorn_talos_guard::host::Layout {
    use longhorn_talos_guard::base::HostPath;
    let mut layout = layout();
    layout.system_volumes = vec!["ETCD"];
    layout.talos_version = Some(talos);
    layout.extra_mounts = vec![HostPath::parse("/var/lib/extra").unwrap()];
    layout
}

/// Random pod specs for LTG-W030: host path volumes of [`POD_PATHS`] and
/// [`POD_PATH_TYPES`], mounted by init, regular and ephemeral containers with and
/// without `subPath` or `subPathExpr`.
fn w030_requests(seed: u64, n: usize) -> Vec<Value> {
    let names = ["data", "host", "x", "y"];
    pod_requests(seed, n, |rng| {
        let mut volumes = Vec::new();
        for v in 0..(1 + rng.next() % 3) {
            let name = format!("{}{}", rng.pick(&names), v % 2);
            let mut volume = json!({"name": name});
            if rng.next().is_multiple_of(6) {
                volume["emptyDir"] = json!({});
            } else {
                let mut host = json!({"path": rng.pick(POD_PATHS)});
                let t = rng.pick(POD_PATH_TYPES);
                if !t.is_empty() {
                    host["type"] = json!(t);
                }
                volume["hostPath"] = host;
            }
            volumes.push(volume);
        }
        let container = |c: &str, rng: &mut Rng| {
            let mut mounts = Vec::new();
            for _ in 0..(rng.next() % 3) {
                let v = &volumes[(rng.next() % volumes.len() as u64) as usize];
                let mut m = json!({"name": v["name"], "mountPath": "/m"});
                match rng.next() % 6 {
                    0 => m["subPath"] = json!("sub/dir"),
                    1 => m["subPathExpr"] = json!("$(POD_NAME)"),
                    2 => {
                        m["subPath"] = json!("");
                        m["subPathExpr"] = json!("$(NODE)")
                    }
                    3 => m["subPath"] = json!("q\"s"),
                    _ => {}
                }
                mounts.push(m);
            }
            json!({"name": c, "image": "i", "volumeMounts": mounts})
        };
        let mut spec = json!({
            "containers": [container("main", rng), container("side", rng)],
            "volumes": volumes,
        });
        if rng.next().is_multiple_of(3) {
            spec["initContainers"] = json!([container("init", rng)]);
        }
        if rng.next().is_multiple_of(5) {
            spec["ephemeralContainers"] = json!([container("debug", rng)]);
        }
        match rng.next() % 4 {
            0 => spec["nodeName"] = json!("worker-2"),
            1 => spec["nodeName"] = json!("worker-1"),
            _ => {}
        }
        spec
    })
}

/// `n` pod and pod template requests of the five kinds in turn, their specs from
/// `spec` (seeded: the same every run): a third CREATE, a third UPDATE from
/// another spec, a third UPDATE that changes nothing; by turns from `admin` and
/// the exempt `ci-bot`.
fn pod_requests(seed: u64, n: usize, mut spec: impl FnMut(&mut Rng) -> Value) -> Vec<Value> {
    let mut rng = Rng(seed);
    let kinds = ["Pod", "DaemonSet", "Deployment", "Job", "CronJob"];
    let mut requests = Vec::new();
    for i in 0..n {
        let new = spec(&mut rng);
        let old = match i % 3 {
            0 => Some(spec(&mut rng)),
            1 => Some(new.clone()),
            _ => None,
        };
        let user = ["admin", "ci-bot"][(i / 7) % 2];
        requests.push(pod_request(
            kinds[i % kinds.len()],
            &new,
            old.as_ref(),
            user,
        ));
    }
    requests
}

#[test]
fn pod_host_paths_that_fail_on_talos_get_the_webhooks_verdict_from_the_api_servers_cel() {
    // A global allowedMounts entry must be where Talos keeps data (refused at load
    // otherwise); a node's list is the operator's word.
    let yaml = "allowedMounts: [{path: /var/data/ok}]\nexemptUsernames: [ci-bot]\nnodes:\n  worker-2:\n    allowedMounts: [{path: /data/ok}, {path: /srv/node}]\n";
    let configs = [
        // No machine config: what fails on every Talos node.
        Config::default(),
        Config::from_yaml(yaml, "t").unwrap(),
        // A machine config: the kubelet's view of EPHEMERAL matters.
        {
            let mut c = Config::from_yaml(yaml, "t").unwrap();
            c.host = Some(pod_layout((1, 14)));
            c
        },
        // Talos 1.9: the kubelet does not see /var/mnt yet.
        Config {
            host: Some(pod_layout((1, 9))),
            ..Config::default()
        },
    ];
    let requests = w030_requests(0x3030_5eed_0030_0030, 1500);
    for (n, cfg) in configs.iter().enumerate() {
        let (denied, _) = compare(cfg, &requests);
        eprintln!("W030 config {n}: {denied} denials of {}", requests.len());
        assert!(denied > 200, "{n}: only {denied} denials");
    }
    // With the machine config every verdict the kubelet's view gives is drawn.
    let denials: Vec<String> = requests
        .iter()
        .filter_map(|r| expected(&configs[2], r).0)
        .collect();
    for verdict in [
        "is on Talos's read-only root",
        "which the kubelet checks inside its own container",
        "has type FileOrCreate",
        "with subPath",
        "is relative",
        "kube-apiserver refuses this",
    ] {
        let seen = denials.iter().filter(|d| d.contains(verdict)).count();
        assert!(seen >= 10, "only {seen} denials with {verdict:?}");
    }
}

/// Each verdict of LTG-W030 at least once, with the first sentence the API
/// server shows (the webhook's, checked by `compare` for the same requests).
#[test]
fn each_pod_host_path_verdict_reaches_the_api_servers_cel() {
    let cfg = Config {
        host: Some(pod_layout((1, 14))),
        ..Config::default()
    };
    let pod = |path: &str, ty: &str, sub: Option<&str>| {
        let mut host = json!({"path": path});
        if !ty.is_empty() {
            host["type"] = json!(ty);
        }
        let mut mount = json!({"name": "v", "mountPath": "/m"});
        if let Some(s) = sub {
            mount["subPath"] = json!(s);
        }
        let spec = json!({
            "containers": [{"name": "c", "image": "i", "volumeMounts": [mount]}],
            "volumes": [{"name": "v", "hostPath": host}],
        });
        pod_request("Pod", &spec, None, "admin")
    };
    let head = "pods \"p\" is forbidden: ValidatingAdmissionPolicy 'longhorn-talos-guard-w030' with binding 'longhorn-talos-guard-w030' denied request: LTG-W030: pod longhorn-system/p: host paths that fail on Talos: ";
    let cases = [
        (
            pod("", "", None),
            "volume \"v\": kube-apiserver refuses this before any webhook is called: spec.volumes[0].hostPath.path: Required value",
        ),
        (
            pod("/a/../b", "", None),
            "volume \"v\": kube-apiserver refuses this before any webhook is called: spec.volumes[0].hostPath.path: Invalid value: \"/a/../b\": must not contain '..'",
        ),
        (
            pod("rel", "", None),
            "volume \"v\": hostPath \"rel\" is relative",
        ),
        (
            pod("/x\u{0}", "", None),
            "volume \"v\": hostPath \"/x\\0\" is not usable: the path contains a NUL byte",
        ),
        (
            pod("/data", "", None),
            "volume \"v\": hostPath \"/data\" is on Talos's read-only root filesystem",
        ),
        (
            pod("/var/data", "Directory", None),
            "volume \"v\": hostPath \"/var/data\" has type Directory, which the kubelet checks inside its own container",
        ),
        (
            pod("/var/data", "FileOrCreate", None),
            "volume \"v\": hostPath \"/var/data\" has type FileOrCreate",
        ),
        (
            pod("/var/data", "", Some("s")),
            "container \"c\" mounts volume \"v\" with subPath \"s\"",
        ),
    ];
    let requests: Vec<Value> = cases.iter().map(|(r, _)| r.clone()).collect();
    // The first two never reach a policy on a real API server: its own
    // validation refuses them first (tests/e2e_cel.rs checks its words).
    let refused: Vec<bool> = requests
        .iter()
        .map(|r| expect::refused_by_api_server(r).is_some())
        .collect();
    assert_eq!(
        refused,
        [true, true, false, false, false, false, false, false]
    );
    let answers = api_server(&cfg, &requests);
    for ((_, want), answer) in cases.iter().zip(&answers) {
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&format!("{head}{want}")),
            "want {want:?} in {message}"
        );
    }
    compare(&cfg, &requests);
    // Untyped, DirectoryOrCreate and without a subPath, or where the kubelet looks: allowed.
    let fine = [
        pod("/var/data", "", None),
        pod("/var/data", "DirectoryOrCreate", None),
        pod("/var/lib/kubelet/x", "Directory", Some("s")),
        pod("/var/mnt/longhorn", "FileOrCreate", None),
        pod("/var/lib/extra/y", "Socket", Some("s")),
        pod("/etc/iscsi", "Directory", None),
    ];
    for answer in api_server(&cfg, &fine) {
        assert_eq!(answer["denied"], false, "{answer}");
    }
}

/// Past the bounds of LTG-W030 (src/cel/pods.rs MAX_VOLUMES, MAX_UNCLEAN_PATHS;
/// src/cel/paths.rs MAX_PATH_BYTES; src/cel/host_paths.rs MAX_CONTAINERS,
/// MAX_MOUNTS) the policy denies with its own message, and at the bounds it
/// judges as the webhook does, within the API server's cost budget; a message
/// past 5 KiB is cut (src/cel/expr.rs fit_message).
#[test]
fn past_the_bounds_the_host_path_policy_says_so() {
    use longhorn_talos_guard::cel::expr::{CUT_MARK, MAX_MESSAGE_BYTES};
    use longhorn_talos_guard::cel::host_paths::{MAX_CONTAINERS, MAX_MOUNTS};
    use longhorn_talos_guard::cel::paths::MAX_PATH_BYTES;
    use longhorn_talos_guard::cel::pods::{MAX_UNCLEAN_PATHS, MAX_VOLUMES};
    let cfg = Config {
        host: Some(pod_layout((1, 14))),
        ..Config::default()
    };
    let volumes = |n: usize, p: &dyn Fn(usize) -> String| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"name": format!("v{i}"), "hostPath": {"path": p(i)}}))
            .collect()
    };
    let spec = |volumes: Vec<Value>, containers: Vec<Value>| json!({"containers": containers, "volumes": volumes});
    let container = |i: usize, mounts: usize, volume: &str| {
        let m: Vec<Value> = (0..mounts)
            .map(|j| json!({"name": volume, "mountPath": format!("/m{j}"), "subPath": "s"}))
            .collect();
        json!({"name": format!("c{i}"), "image": "i", "volumeMounts": m})
    };
    let pod = |spec: Value| pod_request("Pod", &spec, None, "admin");
    let long = format!("/data/{}", "x".repeat(MAX_PATH_BYTES - 6));
    assert_eq!(long.len(), MAX_PATH_BYTES);
    let head = "LTG-W030: pod longhorn-system/p: ";
    // The worst case the policy still judges: every volume on EPHEMERAL where the
    // kubelet does not look, and every mount of the last one with a subPath.
    let last = format!("v{}", MAX_VOLUMES - 1);
    let widest = spec(
        volumes(MAX_VOLUMES, &|i| format!("/var/data/{i}")),
        (0..MAX_CONTAINERS)
            .map(|i| container(i, MAX_MOUNTS, &last))
            .collect(),
    );
    // Every volume with a path of 4096 bytes on EPHEMERAL where the kubelet does
    // not look, untyped, and the most containers and mounts: the longest walk.
    let long_ephemeral = |i: usize| {
        let p = format!("/var/data/{i}/");
        format!("{p}{}", "y".repeat(MAX_PATH_BYTES - p.len()))
    };
    let longest = spec(
        volumes(MAX_VOLUMES, &long_ephemeral),
        (0..MAX_CONTAINERS)
            .map(|i| container(i, MAX_MOUNTS, &last))
            .collect(),
    );
    let cases: Vec<(Value, String)> = vec![
        (
            pod(longest),
            format!(
                "{head}host paths that fail on Talos: container \"c0\" mounts volume \"{last}\" with subPath \"s\""
            ),
        ),
        (
            pod(spec(volumes(MAX_VOLUMES, &|_| "/data".into()), vec![])),
            format!(
                "{head}host paths that fail on Talos: volume \"v0\": hostPath \"/data\" is on Talos's read-only root"
            ),
        ),
        (
            pod(spec(volumes(MAX_VOLUMES + 1, &|_| "/data".into()), vec![])),
            format!("{head}more than {MAX_VOLUMES} volumes"),
        ),
        (
            pod(spec(
                volumes(MAX_UNCLEAN_PATHS, &|_| "//data/".into()),
                vec![],
            )),
            format!(
                "{head}host paths that fail on Talos: volume \"v0\": hostPath \"//data/\" is on Talos's read-only root"
            ),
        ),
        (
            pod(spec(
                volumes(MAX_UNCLEAN_PATHS + 1, &|_| "//data/".into()),
                vec![],
            )),
            format!(
                "{head}more than {MAX_VOLUMES} volumes, or more than {MAX_UNCLEAN_PATHS} host paths"
            ),
        ),
        (
            pod(spec(volumes(1, &|_| format!("{long}x")), vec![])),
            format!("{head}volume \"v0\": the hostPath is past what the CEL policy judges"),
        ),
        // A path of 4096 bytes is judged; its message (the path twice) is cut to fit.
        (
            pod(spec(volumes(1, &|_| long.clone()), vec![])),
            format!("{head}host paths that fail on Talos: volume \"v0\": hostPath \"/data/xxx"),
        ),
        (
            pod(widest.clone()),
            format!(
                "{head}host paths that fail on Talos: container \"c0\" mounts volume \"{last}\" with subPath \"s\""
            ),
        ),
        (
            pod(spec(
                volumes(1, &|_| "/var/data".into()),
                (0..=MAX_CONTAINERS)
                    .map(|i| container(i, 1, "v0"))
                    .collect(),
            )),
            format!(
                "{head}volume \"v0\": the kubelet does not see its hostPath, and the pod has more than {MAX_CONTAINERS} containers"
            ),
        ),
        (
            pod(spec(
                volumes(1, &|_| "/var/data".into()),
                vec![container(0, MAX_MOUNTS + 1, "v0")],
            )),
            format!(
                "{head}volume \"v0\": the kubelet does not see its hostPath, and the pod has more than {MAX_CONTAINERS} containers or a container with more than {MAX_MOUNTS} volume mounts"
            ),
        ),
    ];
    let requests: Vec<Value> = cases.iter().map(|(r, _)| r.clone()).collect();
    let answers = api_server(&cfg, &requests);
    for ((request, want), answer) in cases.iter().zip(&answers) {
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(!message.contains("cost limit"), "{message}");
        assert_eq!(answer["denied"], true, "{}", request["kind"]);
        assert!(
            message.contains(want.as_str()),
            "want {want:?} in {message}"
        );
    }
    // The long path's message: cut, and within the limit.
    let cut = answers[6]["message"].as_str().unwrap();
    assert!(cut.ends_with(CUT_MARK), "{cut}");
    let policy_message = cut.split("denied request: ").nth(1).unwrap();
    assert!(policy_message.len() <= MAX_MESSAGE_BYTES);
    // Within the bounds the verdicts are the webhook's.
    compare(&cfg, &requests[..2]);
    compare(
        &cfg,
        &[
            requests[3].clone(),
            requests[6].clone(),
            requests[7].clone(),
        ],
    );
}
