//! End to end, the audit: a real kube-apiserver (tests/envtest) with
//! Longhorn's CRDs (status subresource) and the PolicyReport CRDs of
//! manifests/components/policy-reports; Longhorn Nodes whose status the test
//! writes (a wiped disk, a tmpfs disk, a missing iscsiadm) and a Longhorn
//! namespace labelled baseline, all made while no guard runs.
//! `audit` prints each finding with its fix and exits 1 (2 when the API
//! cannot be reached); `serve --audit-interval` writes the PolicyReports,
//! rewrites nothing when nothing changed, updates them when a disk is fixed,
//! and only one of two guards audits (the Lease).

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

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use controlplane::{ControlPlane, free_port, wait};
use guard::{BIN, Guard};
use kubectl::Kubectl;
use serde_json::Value;

const LH: &str = "longhorn-system";
const GUARD_NS: &str = "longhorn-talos-guard";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> Value {
    let path = repo().join("tests/fixtures/audit").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// Creates the Longhorn Node of a fixture, then writes its status through
/// the status subresource (a create drops it), as longhorn-manager would.
fn create_node(k: &Kubectl, name: &str) {
    let node = fixture(name);
    let mut spec_only = node.clone();
    spec_only.as_object_mut().unwrap().remove("status");
    k.with_manifest(&["create"], &spec_only.to_string()).ok();
    let status = serde_json::json!({"status": node["status"]}).to_string();
    let node_name = node["metadata"]["name"].as_str().unwrap();
    k.run(&[
        "patch",
        "nodes.longhorn.io",
        node_name,
        "-n",
        LH,
        "--subresource=status",
        "--type=merge",
        "-p",
        &status,
    ])
    .ok();
}

struct Audit {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn audit(kubeconfig: &Path, args: &[&str]) -> Audit {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LTG_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .arg("audit")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("run longhorn-talos-guard audit");
    Audit {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn get_json(k: &Kubectl, args: &[&str]) -> Option<Value> {
    let mut all = vec!["get"];
    all.extend(args);
    all.extend(["-o", "json"]);
    let run = k.run(&all);
    run.success.then(|| run.json())
}

fn policies(report: &Value) -> Vec<String> {
    report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            format!(
                "{} {}",
                r["policy"].as_str().unwrap_or_default(),
                r["resources"][0]["name"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn audit_of_objects_made_while_the_guard_was_down() {
    let assets = controlplane::assets();
    let cp = ControlPlane::start(&assets, guard::certs_dev);
    let k = cp.kubectl.clone();
    for file in [
        "tests/fixtures/crds/longhorn.yaml",
        "manifests/components/policy-reports/crds.yaml",
    ] {
        k.run(&["apply", "-f", &repo().join(file).to_string_lossy()])
            .ok();
    }
    k.run(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/nodes.longhorn.io",
        "crd/settings.longhorn.io",
        "crd/policyreports.wgpolicyk8s.io",
        "crd/clusterpolicyreports.wgpolicyk8s.io",
    ])
    .ok();
    // No guard runs: a namespace Pod Security baseline would break Longhorn in.
    k.run(&["create", "namespace", LH]).ok();
    k.run(&[
        "label",
        "namespace",
        LH,
        "pod-security.kubernetes.io/enforce=baseline",
    ])
    .ok();
    k.run(&["create", "namespace", GUARD_NS]).ok();
    // The guard's shipped RBAC and Lease: the audit runs under them below.
    for file in ["manifests/base/rbac.yaml", "manifests/base/lease.yaml"] {
        k.run(&["apply", "-f", &repo().join(file).to_string_lossy()])
            .ok();
    }
    let account = common::impersonating(
        &cp.kubeconfig,
        &format!("system:serviceaccount:{GUARD_NS}:longhorn-talos-guard"),
        cp.dir.path().join("guard-account-kubeconfig"),
    );
    for node in ["healthy.yaml", "wiped.yaml", "tmpfs.yaml", "iscsi.yaml"] {
        create_node(&k, node);
    }

    // The CLI: every finding with its fix, exit status 1.
    let text = audit(&cp.kubeconfig, &[]);
    assert_eq!(text.code, Some(1), "{}\n{}", text.stdout, text.stderr);
    for expected in [
        "FAIL LTG-W002 Namespace longhorn-system (",
        "label pod-security.kubernetes.io/enforce is \"baseline\", but Longhorn needs \"privileged\"",
        "FAIL LTG-A001 nodes.longhorn.io longhorn-system/talos-w2 (disk-wiped, high)",
        "2 replicas are still scheduled on this disk",
        "1. kubectl -n longhorn-system patch nodes.longhorn.io talos-w2 --type merge -p '{\"spec\":{\"disks\":{\"default-disk-fd0100000000\":{\"allowScheduling\":false}}}}'",
        "2. kubectl -n longhorn-system patch nodes.longhorn.io talos-w2 --type json -p '[{\"op\":\"remove\",\"path\":\"/spec/disks/default-disk-fd0100000000\"}]'",
        "FAIL LTG-A002 nodes.longhorn.io longhorn-system/talos-w4 (disk-unwritable, high)",
        "/tmp/longhorn is on the tmpfs /tmp, emptied at every boot",
        "FAIL LTG-W010 nodes.longhorn.io longhorn-system/talos-w4 (",
        "FAIL LTG-A004 nodes.longhorn.io longhorn-system/talos-w7 (iscsi-tools, high)",
        "          - siderolabs/iscsi-tools",
        "read 1 namespace, 4 Longhorn nodes, 0 settings",
    ] {
        assert!(
            text.stdout.contains(expected),
            "missing {expected:?} in:\n{}",
            text.stdout
        );
    }
    assert!(!text.stdout.contains("talos-w1"), "{}", text.stdout);
    // The README shows this very output (LTG_README_OUT=<file> writes it, to
    // paste after a change).
    if let Some(out) = std::env::var_os("LTG_README_OUT") {
        std::fs::write(out, &text.stdout).unwrap();
    }
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("$ longhorn-talos-guard audit\n{}```", text.stdout)),
        "the README's audit output is out of date; it is now:\n{}",
        text.stdout
    );

    // The same findings as JSON and as PolicyReports.
    let json = audit(&cp.kubeconfig, &["-o", "json"]);
    assert_eq!(json.code, Some(1));
    let parsed: Value = serde_json::from_str(&json.stdout).unwrap();
    let count = parsed["findings"].as_array().unwrap().len();
    assert_eq!(
        text.stdout
            .lines()
            .filter(|l| l.starts_with("FAIL ") || l.starts_with("WARN "))
            .count(),
        count
    );
    assert_eq!(parsed["read"]["Longhorn nodes"], 4);
    // The guard's own account may read all of it (base/rbac.yaml).
    let as_guard = audit(&account, &["-o", "json"]);
    assert_eq!(as_guard.code, Some(1), "{}", as_guard.stderr);
    let as_guard: Value = serde_json::from_str(&as_guard.stdout).unwrap();
    assert_eq!(as_guard["findings"], parsed["findings"]);
    // (The impersonation is real: an account without the RBAC is refused, status 2.)
    let nobody = cp.dir.path().join("nobody-kubeconfig");
    std::fs::write(
        &nobody,
        std::fs::read_to_string(&account).unwrap().replace(
            &format!("{GUARD_NS}:longhorn-talos-guard"),
            "default:nobody",
        ),
    )
    .unwrap();
    let refused = audit(&nobody, &[]);
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(refused.stderr.contains("forbidden"), "{}", refused.stderr);
    let yaml = audit(&cp.kubeconfig, &["-o", "yaml"]);
    assert_eq!(yaml.code, Some(1));
    if let Some(out) = std::env::var_os("LTG_README_OUT") {
        let mut path = std::path::PathBuf::from(out);
        path.set_extension("yaml");
        std::fs::write(path, &yaml.stdout).unwrap();
    }
    let docs: Vec<Value> = serde_saphyr::from_multiple(&yaml.stdout).unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["kind"], "PolicyReport");
    assert_eq!(docs[1]["kind"], "ClusterPolicyReport");
    // The API server takes them as they are (the shipped CRDs' schema).
    k.with_manifest(&["create", "--dry-run=server"], &yaml.stdout)
        .ok();

    // An API server that cannot be reached: status 2 with the error.
    let dead = cp.dir.path().join("dead-kubeconfig");
    std::fs::write(
        &dead,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: d, cluster: {{server: 'https://127.0.0.1:{}', insecure-skip-tls-verify: true}}}}]\nusers: [{{name: d, user: {{token: x}}}}]\ncontexts: [{{name: d, context: {{cluster: d, user: d}}}}]\ncurrent-context: d\n",
            free_port()
        ),
    )
    .unwrap();
    let down = audit(&dead, &[]);
    assert_eq!(down.code, Some(2), "{}", down.stderr);
    let last = down.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: cannot get namespace longhorn-system: ")
            && last.contains("Connection refused"),
        "{}",
        down.stderr
    );
    assert!(down.stdout.is_empty());

    // The background audit: two guards, one Lease.
    let tls = cp.dir.path().join("guard-tls");
    guard::certs_dev(&tls);
    let tls = tls.to_string_lossy().into_owned();
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--cert-dir",
        &tls,
        "--audit-interval",
        "1s",
        "--namespace",
        GUARD_NS,
    ];
    let first = Guard::start_with("guard-1", &args, &cp.kubeconfig, &cp.log_dir());
    let report = |k: &Kubectl| get_json(k, &["policyreport", "-n", LH, "longhorn-talos-guard"]);
    let cluster = |k: &Kubectl| get_json(k, &["clusterpolicyreport", "longhorn-talos-guard"]);
    wait("the PolicyReports", Duration::from_secs(30), || {
        report(&k).is_some() && cluster(&k).is_some()
    });
    // The README shows `kubectl get policyreports` of this cluster: the same
    // table but for the AGE column, which changes from run to run.
    let shown = k.run(&["get", "policyreports", "-n", LH]).ok().stdout;
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let block = readme
        .split_once("$ kubectl get policyreports -n longhorn-system\n")
        .and_then(|(_, rest)| rest.split_once("$ kubectl get policyreport -n"))
        .expect("the README shows kubectl get policyreports")
        .0;
    let without_age = |table: &str| -> Vec<String> {
        table
            .lines()
            .map(|l| {
                l.rsplit_once(' ')
                    .map_or(l, |(cells, _age)| cells)
                    .trim_end()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(
        without_age(&shown),
        without_age(block),
        "the README's kubectl get policyreports is out of date; it is now:\n{shown}"
    );
    // The second guard runs as the guard's ServiceAccount, with the shipped RBAC.
    if let Some(out) = std::env::var_os("LTG_README_OUT") {
        let mut path = std::path::PathBuf::from(out);
        path.set_extension("get");
        let shown = k.run(&["get", "policyreports", "-n", LH]).ok().stdout
            + &k.run(&["get", "clusterpolicyreports"]).ok().stdout;
        std::fs::write(path, shown).unwrap();
    }
    let mut second = Guard::start_with("guard-2", &args, &account, &cp.log_dir());
    let namespaced = report(&k).unwrap();
    let cluster_report = cluster(&k).unwrap();
    let mut found = policies(&namespaced);
    found.sort();
    assert!(
        found.contains(&"LTG-A001 talos-w2".to_string()),
        "{found:?}"
    );
    assert!(
        found.contains(&"LTG-A002 talos-w4".to_string()),
        "{found:?}"
    );
    assert!(
        found.contains(&"LTG-A004 talos-w7".to_string()),
        "{found:?}"
    );
    assert_eq!(policies(&cluster_report), ["LTG-W002 longhorn-system"]);
    assert_eq!(
        namespaced["summary"]["fail"].as_u64(),
        Some(found.len() as u64)
    );
    let version = |v: &Value| {
        v["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (v1, c1) = (version(&namespaced), version(&cluster_report));

    // Nothing changed: a few more runs, no write.
    let runs = |g: &Guard| g.proc.log().matches("audit done").count();
    let before = runs(&first);
    wait("three more audit runs", Duration::from_secs(20), || {
        runs(&first) >= before + 3
    });
    assert_eq!(
        version(&report(&k).unwrap()),
        v1,
        "rewritten without a change"
    );
    assert_eq!(
        version(&cluster(&k).unwrap()),
        c1,
        "rewritten without a change"
    );
    assert!(first.proc.log().contains(r#"policy_report="unchanged""#));
    // One replica at a time: the second guard stands by.
    assert_eq!(runs(&second), 0, "{}", second.proc.log());
    let lease = get_json(&k, &["lease", "-n", GUARD_NS, "longhorn-talos-guard-audit"]).unwrap();
    let identity = |g: &Guard| {
        let log = g.proc.log();
        let at = log.find("identity=").map(|i| i + "identity=".len());
        at.map(|i| log[i..].split_whitespace().next().unwrap_or("").to_string())
    };
    let holder = lease["spec"]["holderIdentity"].as_str().map(str::to_string);
    assert!(holder.is_some() && holder == identity(&first), "{lease}");
    assert_ne!(identity(&first), identity(&second));

    // Metrics of the holder.
    let metrics = Command::new("curl")
        .args(["-sk", &format!("https://{}/metrics", first.addr)])
        .output()
        .expect("run curl");
    let metrics = String::from_utf8_lossy(&metrics.stdout);
    assert!(
        metrics.contains("ltg_audit_findings{policy=\"LTG-A001\",severity=\"high\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ltg_audit_last_success_timestamp_seconds "),
        "{metrics}"
    );

    // Fix the tmpfs disk (remove it): the report is updated in place.
    k.run(&[
        "patch",
        "nodes.longhorn.io",
        "talos-w4",
        "-n",
        LH,
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/spec/disks/scratch"}]"#,
    ])
    .ok();
    k.run(&[
        "patch",
        "nodes.longhorn.io",
        "talos-w4",
        "-n",
        LH,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"diskStatus":{"scratch":null}}}"#,
    ])
    .ok();
    wait("the updated PolicyReport", Duration::from_secs(20), || {
        report(&k).is_some_and(|r| version(&r) != v1)
    });
    let updated = report(&k).unwrap();
    let now = policies(&updated);
    assert!(!now.iter().any(|p| p.ends_with("talos-w4")), "{now:?}");
    assert_eq!(now.len(), found.len() - 2, "{now:?} after {found:?}");
    assert_eq!(version(&cluster(&k).unwrap()), c1);
    // Unchanged results keep the time they were first found.
    let stamp = |r: &Value, p: &str| {
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["policy"] == p)
            .map(|x| x["timestamp"].clone())
    };
    assert_eq!(stamp(&updated, "LTG-A001"), stamp(&namespaced, "LTG-A001"));

    // The holder stops: the standby takes the Lease once it expires.
    drop(first);
    wait(
        "the second guard to take over",
        Duration::from_secs(40),
        || second.proc.log().contains("audit done"),
    );
    assert!(second.proc.exited().is_none());
    // ... and, under the shipped RBAC, updates the report when iscsiadm is fixed.
    let before_fix = version(&report(&k).unwrap());
    k.run(&[
        "patch", "nodes.longhorn.io", "talos-w7", "-n", LH, "--subresource=status",
        "--type=merge", "-p",
        r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"","message":"Node talos-w7 is ready"},{"type":"RequiredPackages","status":"True","reason":"","message":"All required packages [iscsiadm] are installed"}]}}"#,
    ])
    .ok();
    wait(
        "the report without LTG-A004",
        Duration::from_secs(20),
        || {
            report(&k).is_some_and(|r| {
                version(&r) != before_fix && !policies(&r).iter().any(|p| p.starts_with("LTG-A004"))
            })
        },
    );
    assert!(
        !second.proc.log().contains("cannot write"),
        "{}",
        second.proc.log()
    );
}

#[test]
fn background_audit_before_longhorn_and_without_the_report_crds() {
    // The guard installed first (as the README says): no Longhorn namespace and
    // no PolicyReport CRDs yet. The audit keeps running, says why it cannot
    // write, and writes the ClusterPolicyReport once the CRDs exist (the
    // PolicyReport waits for the Longhorn namespace).
    let assets = controlplane::assets();
    let cp = ControlPlane::start(&assets, guard::certs_dev);
    let k = cp.kubectl.clone();
    k.run(&["create", "namespace", GUARD_NS]).ok();
    let tls = cp.dir.path().join("guard-tls");
    guard::certs_dev(&tls);
    let tls = tls.to_string_lossy().into_owned();
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--cert-dir",
        &tls,
        "--audit-interval",
        "1s",
        "--namespace",
        GUARD_NS,
    ];
    let guard = Guard::start_with("guard", &args, &cp.kubeconfig, &cp.log_dir());
    wait("a failed audit run", Duration::from_secs(20), || {
        guard.proc.log().contains("audit failed")
    });
    let log = guard.proc.log();
    assert!(
        log.contains("cannot write ClusterPolicyReport longhorn-talos-guard"),
        "{log}"
    );
    let metrics = || {
        let out = Command::new("curl")
            .args(["-sk", &format!("https://{}/metrics", guard.addr)])
            .output()
            .expect("run curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = metrics();
    assert!(
        before.contains("ltg_audit_runs_total{result=\"error\"}"),
        "{before}"
    );
    assert!(
        !before.contains("ltg_audit_last_success_timestamp_seconds "),
        "{before}"
    );
    k.run(&[
        "apply",
        "-f",
        &repo()
            .join("manifests/components/policy-reports/crds.yaml")
            .to_string_lossy(),
    ])
    .ok();
    wait("a successful audit run", Duration::from_secs(30), || {
        guard.proc.log().contains("audit done")
    });
    let log = guard.proc.log();
    assert!(
        log.contains(r#"policy_report="skipped" cluster_policy_report="created""#),
        "{log}"
    );
    let cluster = get_json(&k, &["clusterpolicyreport", "longhorn-talos-guard"]).unwrap();
    assert_eq!(cluster["summary"]["fail"], 0);
    assert!(metrics().contains("ltg_audit_last_success_timestamp_seconds "));
}
