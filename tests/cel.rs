//! `policies cel` as a user runs it: the YAML it writes for the shipped
//! defaults and a Talos layout (snapshots), what it leaves to the webhook per
//! Kubernetes version, and its refusals. Facts: CEL.md (feature states:
//! ValidatingAdmissionPolicy v1 GA 1.30, two-variable comprehensions accepted
//! from 1.33, MutatingAdmissionPolicy v1 from 1.36; kubernetes/apiserver
//! pkg/cel/environment/base.go at v0.37).

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_longhorn-talos-guard");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("LTG_CONFIG")
        .env_remove("LTG_TALOS_CONFIG")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

#[test]
fn the_defaults_for_the_newest_kubernetes() {
    let out = run(&["policies", "cel"]);
    assert!(out.status.success());
    insta::assert_snapshot!("policies-cel-defaults", text(&out.stdout));
    assert_eq!(
        text(&out.stderr),
        "LTG-W012: not in CEL, stays with the webhook: it reads a JSON annotation, and CEL cannot decode JSON\n\
LTG-W014: not in CEL, stays with the webhook: it reads a YAML ConfigMap key, and CEL cannot decode YAML\n\
LTG-W013: not in CEL, stays with the webhook: for the default-disks annotation of Kubernetes nodes (JSON) and the longhorn-default-setting ConfigMap (YAML), which CEL cannot decode (Longhorn nodes and settings are in CEL)\n\
LTG-W015: not in CEL, stays with the webhook: it reads what the nodes reported through the Talos API, which only the guard holds\n\
LTG-W020: not in CEL, stays with the webhook: it looks up the Kubernetes Node, and a policy cannot read other objects without parameter resources\n"
    );
    // Deterministic: the same bytes every run.
    assert_eq!(run(&["policies", "cel"]).stdout, out.stdout);
}

#[test]
fn a_talos_layout_changes_only_the_policies_that_read_it() {
    // W010, W011, W031 deny or warn on the same paths whatever the layout
    // (src/policy/disks.rs data_path: a layout only moves paths between
    // usable and EPHEMERAL, which is LTG-W013: its volumes become literals);
    // LTG-W030 judges what the kubelet sees only with a machine config
    // (src/host.rs kubelet_sees), so its policy gains those checks.
    let layout = "tests/fixtures/talos-layouts/longhorn-1.10-user-volume.yaml";
    let out = run(&["policies", "cel", "--talos-config", layout]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let with = text(&out.stdout);
    insta::assert_snapshot!("policies-cel-talos-layout", with);
    let without = text(&run(&["policies", "cel"]).stdout);
    let docs = |s: &str| -> Vec<String> { s.split("\n---\n").map(str::to_string).collect() };
    let (a, b) = (docs(&with), docs(&without));
    assert_eq!(a.len(), b.len());
    let differing: Vec<&String> = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(x, _)| x)
        .collect();
    assert!(!differing.is_empty());
    for d in differing {
        assert!(
            d.contains("name: \"longhorn-talos-guard-w013\"")
                || d.contains("name: \"longhorn-talos-guard-w030\""),
            "{d}"
        );
    }
}

#[test]
fn talos_patch_carries_the_policies_as_an_inline_manifest() {
    // Talos v1alpha1 ClusterConfig.inlineManifests: [{name, contents}], applied
    // in order at boot (siderolabs/talos v1.14.0 pkg/machinery/config/types/v1alpha1).
    let manifests = "tests/fixtures/manifests/longhorn/namespace.yaml";
    let out = run(&[
        "talos",
        "patch",
        manifests,
        "--cel",
        "--kubernetes-version",
        "1.34",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let patch_text = text(&out.stdout);
    let patch: serde_json::Value = serde_saphyr::from_str(&patch_text).unwrap();
    let list = patch["cluster"]["inlineManifests"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["name"], "longhorn-talos-guard");
    assert_eq!(list[1]["name"], "longhorn-talos-guard-cel-policies");
    let policies = text(&run(&["policies", "cel", "--kubernetes-version", "1.34"]).stdout);
    assert_eq!(
        list[1]["contents"].as_str().unwrap().trim_end(),
        policies.trim_end()
    );
    // 1.34 serves no MutatingAdmissionPolicy v1: W001 stays with the webhook, said on stderr.
    assert!(text(&out.stderr).contains("LTG-W001: not in CEL, stays with the webhook"));
    // Deterministic, and talos lint takes the patch.
    assert_eq!(
        run(&[
            "talos",
            "patch",
            manifests,
            "--cel",
            "--kubernetes-version",
            "1.34"
        ])
        .stdout,
        out.stdout
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("patch.yaml");
    std::fs::write(&path, &patch_text).unwrap();
    let lint = run(&[
        "talos",
        "lint",
        "tests/fixtures/talos-layouts/longhorn-1.10-user-volume.yaml",
        "--patch",
        path.to_str().unwrap(),
    ]);
    assert!(lint.status.success(), "{}", text(&lint.stdout));
    assert!(
        text(&lint.stdout).ends_with("0 errors, 0 warnings, 0 notes\n"),
        "{}",
        text(&lint.stdout)
    );
    // The policies alone, without manifests.
    let alone = run(&["talos", "patch", "--cel"]);
    assert!(alone.status.success(), "{}", text(&alone.stderr));
    let patch: serde_json::Value = serde_saphyr::from_str(&text(&alone.stdout)).unwrap();
    assert_eq!(
        patch["cluster"]["inlineManifests"][0]["name"],
        "longhorn-talos-guard-cel-policies"
    );
    // Neither manifests nor --cel: a usage error.
    assert_eq!(run(&["talos", "patch"]).status.code(), Some(64));
}

#[test]
fn older_kubernetes_versions_leave_more_to_the_webhook() {
    let header = |v: &str| {
        let out = run(&["policies", "cel", "--kubernetes-version", v]);
        assert!(out.status.success(), "{v}");
        let stdout = text(&out.stdout);
        stdout
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    insta::assert_snapshot!("policies-cel-1.35", header("1.35"));
    insta::assert_snapshot!("policies-cel-1.32", header("v1.32.4"));
    assert!(header("1.36").contains("# LTG-W001: in CEL (needs Kubernetes 1.36 or newer)"));
    assert!(header("1.33").contains("# LTG-W010: in CEL (needs Kubernetes 1.33 or newer)"));
    let out = run(&["policies", "cel", "--kubernetes-version", "1.32"]);
    assert!(!text(&out.stdout).contains("longhorn-talos-guard-w010"));
    // MutatingAdmissionPolicy v1beta1, turned on (1.34 and 1.35; CEL.md feature state).
    let beta = |v: &str| {
        let out = run(&[
            "policies",
            "cel",
            "--kubernetes-version",
            v,
            "--mutating-admission-policy-beta",
        ]);
        assert!(out.status.success(), "{v}");
        text(&out.stdout)
    };
    let on_1_35 = beta("1.35");
    assert!(on_1_35.contains(
        "# LTG-W001: in CEL (needs Kubernetes 1.34 or newer, with MutatingAdmissionPolicy v1beta1 on)"
    ));
    assert_eq!(
        on_1_35
            .matches("apiVersion: \"admissionregistration.k8s.io/v1beta1\"")
            .count(),
        2
    );
    // Before 1.34 there is no v1beta1; from 1.36 v1 is written whatever the flag.
    assert!(beta("1.33").contains("# LTG-W001: not in CEL"));
    assert_eq!(beta("1.37"), text(&run(&["policies", "cel"]).stdout));
}

#[test]
fn an_unsupported_version_is_a_usage_error() {
    let out = run(&["policies", "cel", "--kubernetes-version", "1.29"]);
    assert_eq!(out.status.code(), Some(64));
    assert_eq!(
        text(&out.stderr),
        "error: invalid value '1.29' for '--kubernetes-version <KUBERNETES_VERSION>': Kubernetes version \"1.29\" is not supported: give 1.30 to 1.37 (ValidatingAdmissionPolicy is GA from 1.30)\n\nFor more information, try '--help'.\n"
    );
    assert!(out.stdout.is_empty());
    let _ = Path::new(BIN);
}

#[test]
fn the_readmes_mission_table_says_which_rules_run_in_cel() {
    // The "in CEL: W..." notes of the guide-items table are the rules the
    // generator covers for the newest Kubernetes, no more, no less.
    use longhorn_talos_guard::cel::{self, KubeVersion};
    use longhorn_talos_guard::config::Config;
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut noted: Vec<String> = readme
        .lines()
        .filter(|l| l.starts_with("| "))
        .filter_map(|l| {
            l.split_once("in CEL: ")
                .map(|(_, rest)| rest.split('|').next().unwrap_or_default().to_string())
        })
        .flat_map(|ids| {
            ids.split(',')
                .map(|id| format!("LTG-{}", id.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    noted.sort();
    noted.dedup();
    let mut covered: Vec<String> =
        cel::generate(&Config::default(), KubeVersion(cel::NEWEST_MINOR))
            .covered
            .iter()
            .map(|(id, _)| id.to_string())
            .collect();
    covered.sort();
    assert_eq!(noted, covered);
}

#[test]
fn pod_policies_fail_open_as_the_pod_webhooks_do() {
    // manifests/base/webhooks.yaml: the pods and pod-controllers webhooks are
    // `failurePolicy: Ignore` (Longhorn's pods must keep starting while the guard
    // is down); their policies likewise ignore what they cannot evaluate. The
    // others fail closed, as their webhooks.
    use longhorn_talos_guard::cel::{self, KubeVersion};
    use longhorn_talos_guard::config::Config;
    let yaml = cel::generate(&Config::default(), KubeVersion(cel::NEWEST_MINOR)).to_yaml();
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&yaml).unwrap();
    let mut seen = 0;
    for doc in docs
        .iter()
        .filter(|d| d["kind"] == "ValidatingAdmissionPolicy")
    {
        let pods = doc["spec"]["matchConstraints"]["resourceRules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| {
                r["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x == "pods")
            });
        let want = if pods { "Ignore" } else { "Fail" };
        assert_eq!(
            doc["spec"]["failurePolicy"], want,
            "{}",
            doc["metadata"]["name"]
        );
        seen += usize::from(pods);
    }
    assert_eq!(seen, 2, "the LTG-W030 and LTG-W031 policies");
}
