//! The offline commands as a user runs them: `check` over manifests (with the
//! exact messages `/validate` gives for the same objects), `talos lint` and
//! `talos mounts` exit statuses and output, and `--talos-config`.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt as _;
use longhorn_talos_guard::check::{self, Outcome};
use longhorn_talos_guard::cluster::NoCluster;
use longhorn_talos_guard::config::Config;
use longhorn_talos_guard::server::router::{AppState, router};
use longhorn_talos_guard::source::ConfigSource;
use serde_json::{Value, json};
use tower::ServiceExt as _;

const BIN: &str = env!("CARGO_BIN_EXE_longhorn-talos-guard");

fn run(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

const MANIFESTS: &str = "tests/fixtures/manifests/longhorn";

#[test]
fn check_reports_every_object_and_exits_one_on_denial() {
    let (code, out, err) = run(&["check", MANIFESTS], None);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("DENIED  tests/fixtures/manifests/longhorn/namespace.yaml (object 2) Namespace longhorn-system"), "{out}");
    assert!(out.contains("DENIED  tests/fixtures/manifests/longhorn/nodes.yaml (object 2) Node longhorn-system/worker-2"), "{out}");
    assert!(out.contains("allowed tests/fixtures/manifests/longhorn/nodes.yaml (object 1) Node longhorn-system/worker-1"), "{out}");
    assert!(out.contains("DENIED  tests/fixtures/manifests/longhorn/kubernetes-node.yaml (object 1) Node worker-3"), "{out}");
    assert!(
        out.contains("- disk \"ssd\": path \"/mnt/ssd\" is on Talos's read-only root filesystem"),
        "{out}"
    );
    assert!(
        out.contains("mutation adds labels: pod-security.kubernetes.io/audit=privileged"),
        "{out}"
    );
    assert!(
        out.ends_with("8 objects: 3 denied, 5 allowed, 0 not sent to the webhook\n"),
        "{out}"
    );
    assert!(
        !out.contains("README"),
        "non-manifest files in folders are skipped"
    );
}

#[test]
fn check_reads_stdin_and_exits_zero_when_all_is_allowed() {
    let ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: longhorn-system\n";
    let (code, out, _) = run(&["check", "-"], Some(ns));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("allowed - (object 1) Namespace longhorn-system\n"),
        "{out}"
    );
    assert!(
        out.ends_with("1 object: 0 denied, 1 allowed, 0 not sent to the webhook\n"),
        "{out}"
    );
}

/// The rule edges of issue 24 and 19 as `check` reports them: a hostPath under /etc that no
/// Talos image has (talos Dockerfile and etc_file.go @ v1.14.0-rc.1), a block disk on the
/// tmpfs /dev/shm (talos internal/pkg/mount/v3/helpers.go @ v1.14.0-rc.1), a relative hostPath
/// (accepted by kube-apiserver), and what kube-apiserver refuses first (kubernetes
/// pkg/apis/core/validation/validation.go: validateHostPathVolumeSource, validatePathNoBacksteps).
#[test]
fn check_answers_the_rule_edges_as_kubectl_apply_would() {
    let (code, out, err) = run(&["check", "tests/fixtures/edges"], None);
    assert_eq!(code, 1, "{out}{err}");
    insta::assert_snapshot!("check-edges", out);
    let (code, json, _) = run(&["check", "-o", "json", "tests/fixtures/edges"], None);
    assert_eq!(code, 1);
    let results: Value = serde_json::from_str(&json).unwrap();
    let refused: Vec<&Value> = results
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "refused")
        .collect();
    assert_eq!(refused.len(), 3, "{json}");
    assert_eq!(
        refused[0]["reason"],
        "The Pod \"backsteps\" is invalid: \n\
* spec.volumes[0].hostPath.path: Invalid value: \"/var/lib/longhorn/../../etc\": must not contain '..'\n\
* spec.volumes[1].hostPath.path: Required value\n\
* spec.containers[0].volumeMounts[0].name: Not found: \"data\""
    );
    // Only a refusal fails the run: the same pod with its path fixed exits 0.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\nspec:\n  containers: [{name: c, image: busybox}]\n  volumes: [{name: v, hostPath: {path: /srv/../data}}]\n";
    let (code, out, _) = run(&["check", "-"], Some(pod));
    assert_eq!(code, 1, "{out}");
    assert!(out.ends_with("1 object: 0 denied, 0 allowed, 1 refused by kube-apiserver, 0 not sent to the webhook\n"), "{out}");
    let (code, out, _) = run(&["check", "-"], Some(&pod.replace("/srv/../data", "/data")));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.ends_with("1 object: 0 denied, 0 allowed, 1 not sent to the webhook (v1 Pod x1)\n"),
        "{out}"
    );
}

#[test]
fn check_exits_two_on_unreadable_input() {
    let (code, out, err) = run(&["check", "-"], Some("kind: [unclosed\n"));
    assert_eq!(code, 2, "{out}");
    assert!(err.starts_with("error: -: "), "{err}");
    let (code, _, err) = run(&["check", "tests/fixtures/manifests/nope.yaml"], None);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read tests/fixtures/manifests/nope.yaml"),
        "{err}"
    );
}

async fn post(path: &str, object: &Value) -> Value {
    let api_version = object["apiVersion"].as_str().unwrap();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "same-object", "kind": {"group": group, "version": version, "kind": object["kind"]},
        "operation": "CREATE", "name": object["metadata"]["name"],
        "namespace": object["metadata"]["namespace"].as_str().unwrap_or(""),
        "userInfo": {"username": "kubernetes-admin"}, "object": object}});
    let app = router(
        AppState::new(Config::default(), Arc::new(NoCluster)),
        1 << 20,
    );
    let req = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&review).unwrap()))
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice::<Value>(&body).unwrap()["response"].clone()
}

/// What the API server's admission chain answers: `/mutate`, the patch
/// applied, then `/validate` on the mutated object.
async fn admit(object: &Value) -> Value {
    let mut object = object.clone();
    let mutated = post("/mutate", &object).await;
    if let Some(b64) = mutated["patch"].as_str() {
        use base64::Engine as _;
        let ops = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let patch: json_patch::Patch = serde_json::from_slice(&ops).unwrap();
        json_patch::patch(&mut object, &patch).unwrap();
    }
    post("/validate", &object).await
}

#[tokio::test]
async fn check_messages_equal_what_validate_returns() {
    let inputs =
        check::read_inputs(&[Path::new(env!("CARGO_MANIFEST_DIR")).join(MANIFESTS)]).unwrap();
    let mut compared = 0;
    for (file, text) in &inputs {
        for object in check::parse_objects(file, text).unwrap() {
            let Outcome::Judged { denial, .. } =
                check::check_object(&object, &Config::default(), "default")
            else {
                continue;
            };
            let resp = admit(&object).await;
            assert_eq!(
                denial.as_deref(),
                resp["status"]["message"].as_str(),
                "{file}: {object}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 8, "every judged object was compared");
}

#[test]
fn talos_lint_exit_statuses_and_formats() {
    let f = |n: &str| format!("tests/fixtures/talos/{n}");
    let (code, out, _) = run(
        &[
            "talos",
            "lint",
            &f("legacy-1.7-guide.yaml"),
            &f("schematic-longhorn.yaml"),
        ],
        None,
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("0 errors, 1 warning, 1 note\n"), "{out}");

    // A missing rshared is a note (nothing fails): status 0.
    let (code, out, _) = run(&["talos", "lint", &f("legacy-no-rshared.yaml")], None);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("note[LTG-T012] tests/fixtures/talos/legacy-no-rshared.yaml:8"),
        "{out}"
    );
    assert!(out.contains("options: [bind, rshared, rw]"), "{out}");

    let (code, out, _) = run(
        &[
            "talos",
            "lint",
            "--format",
            "json",
            &f("legacy-bad-mounts.yaml"),
        ],
        None,
    );
    assert_eq!(code, 1);
    let findings: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(findings[0]["code"], "LTG-T014");
    assert_eq!(findings[0]["severity"], "error");

    let (code, _, err) = run(&["talos", "lint", &f("broken.yaml")], None);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: tests/fixtures/talos/broken.yaml:7:"),
        "{err}"
    );
}

#[test]
fn talos_mounts_feed_the_webhook_config() {
    let (code, out, _) = run(
        &[
            "talos",
            "mounts",
            "tests/fixtures/talos/v1.10-user-volume.yaml",
        ],
        None,
    );
    assert_eq!(code, 0);
    let config = Config::from_yaml(&out, "talos mounts output").unwrap();
    let paths: Vec<&str> = config
        .allowed_mounts
        .iter()
        .map(|m| m.path.as_str())
        .collect();
    // Longhorn's own control paths are never dropped from the list.
    assert_eq!(paths, ["/var/mnt/longhorn", "/var/lib/longhorn"], "{out}");

    let (code, out, _) = run(
        &[
            "talos",
            "mounts",
            "tests/fixtures/talos/legacy-no-mount.yaml",
        ],
        None,
    );
    assert_eq!(code, 0);
    assert!(out.contains("- path: \"/var/lib/longhorn\""), "{out}");
}

#[test]
fn talos_config_gives_the_host_model_the_layout() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = ConfigSource {
        file: None,
        talos_files: vec![dir.join("tests/fixtures/talos/v1.10-user-volume.yaml")],
    };
    let config = source.load().unwrap();
    // allowedMounts are what the operator vouches for; the layout goes to the host model.
    assert!(config.allowed_mounts.is_empty());
    let layout = config.host.expect("a layout from the machine config");
    let names: Vec<&str> = layout.volumes.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["longhorn"]);

    let (code, out, _) = run(
        &[
            "check",
            "--talos-config",
            "tests/fixtures/talos/v1.10-user-volume.yaml",
            &format!("{MANIFESTS}/setting.json"),
        ],
        None,
    );
    assert_eq!(code, 0, "{out}");

    let broken = ConfigSource {
        file: None,
        talos_files: vec![dir.join("tests/fixtures/talos/broken.yaml")],
    };
    assert!(
        broken
            .load()
            .unwrap_err()
            .to_string()
            .contains("broken.yaml:7")
    );
}

/// `n` allowed Longhorn Settings, one YAML document each.
fn settings(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "---\napiVersion: longhorn.io/v1beta2\nkind: Setting\nmetadata:\n  name: default-data-path\n  namespace: longhorn-system\n  labels: {{n: \"{i}\"}}\nvalue: /var/lib/longhorn/\n"
            )
        })
        .collect()
}

/// `n` ConfigMaps, one YAML document each.
fn config_maps(n: usize) -> String {
    (0..n)
        .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n"))
        .collect()
}

#[test]
fn check_stops_quietly_when_its_reader_goes_away() {
    use std::io::BufRead as _;
    // Far more output than a pipe buffers (64 KiB on Linux): the writes after
    // the reader closes fail with EPIPE, as with `check big.yaml | head -1`.
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, settings(5000)).unwrap();
    let mut child = Command::new(BIN)
        .arg("check")
        .arg(&big)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(first.starts_with("allowed "), "{first}");
    assert_eq!(err, "", "nothing on stderr, no panic");
    // Every object is allowed: the status check gives anyway.
    assert_eq!(out.status.code(), Some(0), "{err}");
}

#[test]
fn check_reads_more_than_1024_documents_and_refuses_a_flood_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let many = dir.path().join("many.yaml");
    std::fs::write(&many, config_maps(1100)).unwrap();
    let many = many.to_str().unwrap();
    let (code, out, err) = run(&["check", many], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.ends_with(
            "1100 objects: 0 denied, 0 allowed, 1100 not sent to the webhook (v1 ConfigMap x1100)\n"
        ),
        "{}",
        &out[out.len().saturating_sub(200)..]
    );

    let flood = dir.path().join("flood.yaml");
    std::fs::write(&flood, "---\n".repeat(10_001)).unwrap();
    let flood = flood.to_str().unwrap();
    let (code, out, err) = run(&["check", flood], None);
    assert_eq!(code, 2, "{out}");
    assert_eq!(
        err,
        format!(
            "error: {flood}: more than 10000 YAML documents in one input; split it into several files\n"
        )
    );
}

#[test]
fn talos_readers_refuse_more_than_1024_documents_naming_the_file_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("machine.yaml");
    let mut text = "version: v1alpha1\nmachine: {}\n".to_string();
    for i in 0..1100 {
        text.push_str(&format!(
            "---\napiVersion: v1alpha1\nkind: KernelModuleConfig\nname: mod{i}\n"
        ));
    }
    std::fs::write(&big, text).unwrap();
    let big = big.to_str().unwrap();
    let expected = format!(
        "error: {big}: more than 1024 YAML documents in one file; a Talos machine config holds a few, so this is not read (the limit is 1024)\n"
    );
    for args in [
        vec!["talos", "lint", big],
        vec!["talos", "mounts", big],
        vec![
            "check",
            "--talos-config",
            big,
            "tests/fixtures/manifests/longhorn/setting.json",
        ],
    ] {
        let (code, out, err) = run(&args, None);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert_eq!(err, expected, "{args:?}");
    }
}

#[test]
fn check_names_a_broken_talos_config_once() {
    let (code, out, err) = run(
        &[
            "check",
            "--talos-config",
            "tests/fixtures/talos/broken.yaml",
            &format!("{MANIFESTS}/setting.json"),
        ],
        None,
    );
    assert_eq!(code, 2, "{out}");
    assert_eq!(
        err,
        "error: tests/fixtures/talos/broken.yaml:7:10: cannot parse as a Talos machine config: illegal placement of ':' indicator\n"
    );
}

#[test]
fn every_offline_command_takes_o_json() {
    // check: the library's own JSON rendering of the same results.
    let (code, out, _) = run(&["check", "-o", "json", MANIFESTS], None);
    assert_eq!(code, 1);
    let inputs =
        check::read_inputs(&[Path::new(env!("CARGO_MANIFEST_DIR")).join(MANIFESTS)]).unwrap();
    let results = check::check(&inputs, &Config::default(), "default").unwrap();
    let expected: Value = serde_json::from_str(&check::render_json(&results)).unwrap();
    let mut got: Value = serde_json::from_str(&out).unwrap();
    // The library was given an absolute path; the binary the relative one.
    for (g, e) in got
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(expected.as_array().unwrap())
    {
        assert!(
            e["file"]
                .as_str()
                .unwrap()
                .ends_with(g["file"].as_str().unwrap())
        );
        g["file"] = e["file"].clone();
    }
    assert_eq!(got, expected);
    let denied = got
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "longhorn-system/worker-2")
        .unwrap();
    assert_eq!(denied["outcome"], "judged");
    assert!(
        denied["denial"]
            .as_str()
            .unwrap()
            .contains("disk \"archive\": path \"mnt/archive\" is not usable: the path is relative"),
        "{denied}"
    );

    // talos lint: -o is --format.
    let (code, out, _) = run(
        &[
            "talos",
            "lint",
            "-o",
            "json",
            "tests/fixtures/talos/legacy-no-rshared.yaml",
        ],
        None,
    );
    assert_eq!(code, 0);
    let findings: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(findings[0]["code"], "LTG-T012");
    assert_eq!(findings[0]["severity"], "note");

    // talos mounts: each derived mount and where it comes from.
    let (code, out, _) = run(
        &[
            "talos",
            "mounts",
            "-o",
            "json",
            "tests/fixtures/talos/v1.10-user-volume.yaml",
        ],
        None,
    );
    assert_eq!(code, 0);
    let mounts: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        mounts,
        json!([{
            "path": "/var/mnt/longhorn",
            "propagation": "rslave",
            "origin": {"type": "volume", "kind": "UserVolumeConfig", "name": "longhorn", "volumeType": "partition"},
            "document": {
                "file": "tests/fixtures/talos/v1.10-user-volume.yaml",
                "index": 2,
                "kind": "UserVolumeConfig",
                "name": "longhorn",
                "line": 10
            },
            "line": 10,
            "from": "tests/fixtures/talos/v1.10-user-volume.yaml:10 (document 2, UserVolumeConfig): UserVolumeConfig longhorn (partition)"
        }, {
            "path": "/var/lib/longhorn",
            "propagation": "rslave",
            "origin": {"type": "longhornDefault"},
            "document": {
                "file": "tests/fixtures/talos/v1.10-user-volume.yaml",
                "index": 1,
                "kind": "v1alpha1",
                "line": 3
            },
            "line": 3,
            "from": "/var/lib/longhorn: Longhorn's default data path and control files (its pods mount it on every node; on EPHEMERAL)"
        }])
    );
}

#[cfg(feature = "bench")]
#[test]
fn bench_policy_takes_o_json_and_the_old_json_flag() {
    for flag in [&["-o", "json"][..], &["--json"][..]] {
        let mut args = vec!["bench", "policy", "--fixture", "pod", "--seconds", "0.05"];
        args.extend_from_slice(flag);
        let (code, out, err) = run(&args, None);
        assert_eq!(code, 0, "{err}");
        let reports: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(reports[0]["fixture"], "pod", "{out}");
        assert!(reports[0]["reviews"].as_u64().unwrap() > 0, "{out}");
    }
}

const TALOS: &str = "tests/fixtures/talos";

fn talos_fixture(name: &str) -> String {
    format!("{TALOS}/{name}")
}

#[test]
fn talos_lint_lints_each_machine_on_its_own() {
    let guide = talos_fixture("legacy-1.7-guide.yaml");
    let bad = talos_fixture("legacy-bad-mounts.yaml");
    let (code_guide, alone_guide, _) = run(&["talos", "lint", &guide], None);
    let (code_bad, alone_bad, _) = run(&["talos", "lint", &bad], None);
    assert_eq!((code_guide, code_bad), (0, 1));
    // Before, the two were merged into one machine; now each is linted alone,
    // headed by its file, and the status is the worst of them.
    let (code, out, err) = run(&["talos", "lint", &guide, &bad], None);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        out,
        format!("==> {guide} <==\n{alone_guide}\n==> {bad} <==\n{alone_bad}")
    );
    assert!(out.contains("0 errors, 1 warning, 1 note\n"), "{out}");
    assert!(out.contains("4 errors, 2 warnings, 0 notes\n"), "{out}");

    // -o json: one list, each finding naming its machine.
    let (code, out, _) = run(&["talos", "lint", "-o", "json", &guide, &bad], None);
    assert_eq!(code, 1);
    let findings: Vec<Value> = serde_json::from_str(&out).unwrap();
    let (_, alone, _) = run(&["talos", "lint", "-o", "json", &bad], None);
    let alone: Vec<Value> = serde_json::from_str(&alone).unwrap();
    let of_bad: Vec<&Value> = findings.iter().filter(|f| f["machine"] == bad).collect();
    assert_eq!(of_bad.len(), alone.len());
    for (got, want) in of_bad.iter().zip(&alone) {
        assert_eq!(got["code"], want["code"]);
        assert_eq!(got["message"], want["message"]);
    }
    assert!(
        findings
            .iter()
            .all(|f| f["machine"] == bad || f["machine"] == guide),
        "{out}"
    );
}

#[test]
fn talos_lint_merges_patches_over_every_machine_and_takes_a_schematic_for_each() {
    let guide = talos_fixture("legacy-1.7-guide.yaml");
    let volume = talos_fixture("v1.10-user-volume.yaml");
    let patch = talos_fixture("patch-psa-exempt.yaml");
    let schematic = talos_fixture("schematic-longhorn.yaml");
    // One machine: --patch is the same merge as the patch given after the base.
    let (code, positional, _) = run(&["talos", "lint", &guide, &patch], None);
    let (code2, flagged, _) = run(&["talos", "lint", &guide, "--patch", &patch], None);
    assert_eq!((code, code2), (0, 0));
    assert_eq!(positional, flagged);
    assert!(
        !flagged.contains("LTG-T020"),
        "the patch exempts longhorn-system: {flagged}"
    );

    let alone = |base: &str| {
        let (_, out, _) = run(
            &["talos", "lint", base, &schematic, "--patch", &patch],
            None,
        );
        out
    };
    let (code, out, err) = run(
        &[
            "talos", "lint", &guide, &volume, &schematic, "--patch", &patch,
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "==> {guide} (with {patch}, {schematic}) <==\n{}\n==> {volume} (with {patch}, {schematic}) <==\n{}",
            alone(&guide),
            alone(&volume)
        )
    );
    assert!(
        !out.contains("LTG-T001"),
        "each machine has the schematic: {out}"
    );
}

#[test]
fn talos_lint_fail_on_sets_the_severity_that_fails() {
    let warns = [
        talos_fixture("legacy-1.7-guide.yaml"),
        talos_fixture("schematic-longhorn.yaml"),
    ];
    let notes = talos_fixture("legacy-no-rshared.yaml");
    let status = |extra: &[&str], files: &[&str]| {
        let mut args = vec!["talos", "lint"];
        args.extend_from_slice(extra);
        args.extend_from_slice(files);
        let (code, out, err) = run(&args, None);
        assert!(err.is_empty(), "{args:?}: {err}");
        assert!(
            out.ends_with(" notes\n") || out.ends_with(" note\n"),
            "{out}"
        );
        code
    };
    let warns: Vec<&str> = warns.iter().map(String::as_str).collect();
    assert_eq!(status(&[], &warns), 0);
    assert_eq!(status(&["--fail-on", "error"], &warns), 0);
    assert_eq!(status(&["--fail-on", "warning"], &warns), 1);
    assert_eq!(status(&["--fail-on", "warning"], &[&notes]), 0);
    assert_eq!(status(&["--fail-on", "note"], &[&notes]), 1);
    let bad = talos_fixture("legacy-bad-mounts.yaml");
    assert_eq!(status(&["--fail-on", "warning"], &[&bad]), 1);
}

#[test]
fn talos_lint_and_mounts_read_stdin_and_folders() {
    let guide = talos_fixture("legacy-1.7-guide.yaml");
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(&guide)).unwrap();
    let (code, from_file, _) = run(&["talos", "lint", &guide], None);
    let (code2, from_stdin, err) = run(&["talos", "lint", "-"], Some(&text));
    assert_eq!((code, code2), (0, 0), "{err}");
    assert_eq!(from_stdin, from_file.replace(&guide, "-"));

    // A folder: its *.yaml and *.yml files in name order; other files are skipped.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-worker.yaml"), &text).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(talos_fixture("schematic-longhorn.yaml")),
        dir.path().join("b-schematic.yml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("README.md"), "not YAML: [").unwrap();
    let d = dir.path().to_str().unwrap();
    let worker = format!("{d}/a-worker.yaml");
    let schematic = format!("{d}/b-schematic.yml");
    let (code, from_dir, err) = run(&["talos", "lint", d], None);
    let (_, from_files, _) = run(&["talos", "lint", &worker, &schematic], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(from_dir, from_files);
    assert!(
        from_dir.ends_with("0 errors, 1 warning, 1 note\n"),
        "{from_dir}"
    );

    let (code, mounts_stdin, err) = run(&["talos", "mounts", "-"], Some(&text));
    let (_, mounts_dir, _) = run(&["talos", "mounts", d], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        mounts_stdin.contains("- path: \"/var/lib/longhorn\""),
        "{mounts_stdin}"
    );
    assert_eq!(mounts_stdin, mounts_dir.replace(&worker, "-"));
}

#[test]
fn talos_mounts_takes_patches() {
    let base = talos_fixture("legacy-no-mount.yaml");
    let dir = tempfile::tempdir().unwrap();
    let patch = dir.path().join("volume.yaml");
    std::fs::write(
        &patch,
        "apiVersion: v1alpha1\nkind: UserVolumeConfig\nname: longhorn\nprovisioning:\n  diskSelector: {match: \"!system_disk\"}\n  minSize: 100GiB\n",
    )
    .unwrap();
    let patch = patch.to_str().unwrap();
    let (code, out, err) = run(&["talos", "mounts", &base, "--patch", patch], None);
    assert_eq!(code, 0, "{err}");
    let config = Config::from_yaml(&out, "talos mounts output").unwrap();
    let paths: Vec<&str> = config
        .allowed_mounts
        .iter()
        .map(|m| m.path.as_str())
        .collect();
    assert_eq!(paths, ["/var/mnt/longhorn", "/var/lib/longhorn"], "{out}");
}

#[test]
fn talos_lint_refuses_what_is_not_talos() {
    for (text, found) in [
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
            "found a Kubernetes Deployment (apps/v1)",
        ),
        (
            "context: demo\ncontexts: {demo: {}}\n",
            "found a talosconfig",
        ),
        ("", "the file is empty"),
    ] {
        for command in ["lint", "mounts"] {
            let (code, out, err) = run(&["talos", command, "-"], Some(text));
            assert_eq!(code, 2, "{command} {text:?}: {out}");
            assert!(out.is_empty(), "{out}");
            assert!(
                err.starts_with(&format!(
                    "error: -: not a Talos machine config, patch or schematic: {found}"
                )),
                "{command} {text:?}: {err}"
            );
        }
    }
}

/// Starts `serve` outside any cluster (no KUBECONFIG, a HOME without
/// ~/.kube) with `args`, stops it with SIGTERM once it is listening, and
/// returns its standard error.
fn serve_log(args: &[&str]) -> String {
    serve_log_with(args, None, std::time::Duration::ZERO)
}

/// Runs `serve` with `args` (and `KUBECONFIG` when given) until it is
/// listening and `keep` longer, stops it with SIGTERM and returns its log.
fn serve_log_with(args: &[&str], kubeconfig: Option<&Path>, keep: std::time::Duration) -> String {
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new(BIN)
        .args(["certs", "dev", "--out"])
        .arg(dir.path().join("tls"))
        .output()
        .unwrap();
    assert!(made.status.success());
    let ready = dir.path().join("ready");
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--cert-dir"])
        .arg(dir.path().join("tls"))
        .arg("--ready-file")
        .arg(&ready)
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("RUST_LOG")
        .env("HOME", dir.path())
        .stderr(Stdio::piped());
    if let Some(k) = kubeconfig {
        cmd.env("KUBECONFIG", k);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !ready.exists() {
        assert!(
            std::time::Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "serve starts"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(keep);
    assert!(child.try_wait().unwrap().is_none(), "still serving");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn serve_outside_a_cluster_says_once_that_node_look_ups_are_off() {
    let log = serve_log(&["--drain-seconds", "1500ms", "--lookup-timeout-ms", "2s"]);
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Kubernetes API"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains(" INFO ")
            && lines[0].ends_with(
                "no Kubernetes API found (KUBECONFIG unset and not in a cluster): node look-ups will report unknown"
            ),
        "{log}"
    );
    // The client's own error chain is for RUST_LOG=debug.
    assert!(
        !log.contains("in-cluster") && !log.contains("infer"),
        "{log}"
    );
    // Standard error is a pipe here: no colour codes.
    assert!(!log.contains('\u{1b}'), "{log}");
    // A Go-style duration reaches the drain.
    assert!(log.contains("drain_ms=1500"), "{log}");
    // A bare number keeps the flag's unit.
    let log = serve_log(&["--drain-seconds", "2"]);
    assert!(log.contains("drain_ms=2000"), "{log}");
}

#[test]
fn talos_patch_inlines_manifests_that_talos_lint_accepts() {
    // Talos v1alpha1 ClusterConfig.inlineManifests: [{name, contents}], applied at boot.
    let file = "tests/fixtures/manifests/longhorn/namespace.yaml";
    let (code, out, err) = run(&["talos", "patch", file], None);
    assert_eq!(code, 0, "{err}");
    let patch: Value = serde_saphyr::from_str(&out).unwrap();
    let manifest = &patch["cluster"]["inlineManifests"][0];
    assert_eq!(manifest["name"], "longhorn-talos-guard");
    let original = std::fs::read_to_string(file).unwrap();
    assert_eq!(
        manifest["contents"].as_str().unwrap().trim_end(),
        original.trim_end()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guard-patch.yaml");
    std::fs::write(&path, &out).unwrap();
    let (code, out, err) = run(
        &[
            "talos",
            "lint",
            "tests/fixtures/talos-layouts/longhorn-1.10-user-volume.yaml",
            "--patch",
            path.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.ends_with("0 errors, 0 warnings, 0 notes\n"), "{out}");
    // Not YAML: refused with the parser's message.
    let (code, _, err) = run(&["talos", "patch", "-"], Some("a: [unclosed\n"));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn serve_with_the_cel_engine_keeps_serving_when_the_api_server_is_unreachable() {
    // CEL-INTERFACE.md: a failed apply is logged, counted and retried; it never stops serving.
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
    )
    .unwrap();
    let log = serve_log_with(
        &["--admission-engine", "cel", "--reload-seconds", "1"],
        Some(&kubeconfig),
        std::time::Duration::from_secs(4),
    );
    // Tried at start and retried every --reload-seconds.
    assert!(
        log.matches("cannot sync the CEL admission policies; retrying")
            .count()
            >= 2,
        "{log}"
    );
    // Without the Kubernetes API there is nothing to apply to: a clear refusal.
    let (code, _, err) = run(
        &[
            "serve",
            "--kube",
            "off",
            "--admission-engine",
            "cel",
            "--listen",
            "127.0.0.1:0",
        ],
        None,
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("--admission-engine cel or both needs the Kubernetes API"),
        "{err}"
    );
}
