//! Every way a command refuses its input, as a person sees it: the exact
//! standard error and exit status of the binary, one snapshot per path
//! (tests/snapshots/errors__*.snap). Each runs in a fresh folder, so paths
//! in the messages are relative and the snapshots do not depend on the machine.

use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_longhorn-talos-guard");

/// A Deployment, as `kubectl create deployment --dry-run=client -o yaml` writes it.
const DEPLOYMENT: &str =
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n";

/// A talosconfig as `talosctl gen config` writes it (keys only, no secrets).
const TALOSCONFIG: &str =
    "context: demo\ncontexts:\n  demo:\n    endpoints: [10.5.0.2]\n    nodes: [10.5.0.3]\n";

/// A worker's machine config (the base document `talosctl gen config` writes).
const WORKER: &str = "version: v1alpha1\nmachine:\n  type: worker\n";

/// A patch: no `version:`, only what it changes.
const PATCH: &str = "machine:\n  sysctls:\n    vm.nr_hugepages: \"1024\"\n";

/// Runs the binary in `dir` with `stdin`; returns the exit status and standard
/// error, after checking that nothing went to standard output.
fn run_in(dir: &Path, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    {
        use std::io::Write as _;
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait for the binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.is_empty(),
        "{args:?}: nothing on standard output on failure, got {stdout}"
    );
    format!(
        "$ longhorn-talos-guard {}\nexit status: {}\n{}",
        args.join(" "),
        out.status.code().expect("exited, not killed"),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `args` in a new folder holding `files` (name, text).
fn run(files: &[(&str, &str)], args: &[&str]) -> String {
    run_stdin(files, args, "")
}

fn run_stdin(files: &[(&str, &str)], args: &[&str], stdin: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write fixture");
    }
    run_in(dir.path(), args, stdin)
}

#[test]
fn check_config_file_missing() {
    insta::assert_snapshot!(run(
        &[("ns.yaml", "")],
        &["check", "--config", "missing.yaml", "ns.yaml"]
    ));
}

#[test]
fn check_config_file_syntax() {
    insta::assert_snapshot!(run(
        &[
            ("config.yaml", "policies:\n  diskPaths: enforcing\n"),
            ("ns.yaml", "")
        ],
        &["check", "--config", "config.yaml", "ns.yaml"]
    ));
}

#[test]
fn check_config_file_unknown_key() {
    insta::assert_snapshot!(run(
        &[("config.yaml", "alowedMounts: []\n"), ("ns.yaml", "")],
        &["check", "--config", "config.yaml", "ns.yaml"]
    ));
}

#[test]
fn check_talos_config_missing() {
    insta::assert_snapshot!(run(
        &[("ns.yaml", "")],
        &["check", "--talos-config", "worker.yaml", "ns.yaml"]
    ));
}

#[test]
fn check_input_missing() {
    insta::assert_snapshot!(run(&[], &["check", "missing.yaml"]));
}

#[test]
fn serve_config_missing() {
    insta::assert_snapshot!(run(
        &[],
        &[
            "serve",
            "--kube",
            "off",
            "--listen",
            "127.0.0.1:0",
            "--config",
            "missing.yaml"
        ]
    ));
}

#[test]
fn serve_cert_dir_missing() {
    insta::assert_snapshot!(run(
        &[],
        &[
            "serve",
            "--kube",
            "off",
            "--listen",
            "127.0.0.1:0",
            "--cert-dir",
            "missing"
        ]
    ));
}

#[test]
fn certs_dev_out_not_a_folder() {
    insta::assert_snapshot!(run(
        &[("file", "")],
        &["certs", "dev", "--out", "file/certs"]
    ));
}

#[test]
fn talos_mounts_input_missing() {
    insta::assert_snapshot!(run(&[], &["talos", "mounts", "missing.yaml"]));
}

#[test]
fn talos_lint_input_missing() {
    insta::assert_snapshot!(run(&[], &["talos", "lint", "missing.yaml"]));
}

#[test]
fn usage_unknown_flag() {
    insta::assert_snapshot!(run(&[], &["check", "--bogus", "x.yaml"]));
}

#[test]
fn usage_missing_argument() {
    insta::assert_snapshot!(run(&[], &["talos", "lint"]));
}

#[test]
fn usage_bad_duration() {
    insta::assert_snapshot!(run(&[], &["serve", "--drain-seconds", "10x"]));
}

#[test]
fn talos_lint_a_kubernetes_manifest() {
    insta::assert_snapshot!(run(
        &[("worker.yaml", DEPLOYMENT)],
        &["talos", "lint", "worker.yaml"]
    ));
}

#[test]
fn talos_lint_a_talosconfig() {
    insta::assert_snapshot!(run(
        &[("talosconfig", TALOSCONFIG)],
        &["talos", "lint", "talosconfig"]
    ));
}

#[test]
fn talos_lint_an_empty_file() {
    insta::assert_snapshot!(run(
        &[("worker.yaml", "")],
        &["talos", "lint", "worker.yaml"]
    ));
}

#[test]
fn talos_lint_other_yaml_from_stdin() {
    insta::assert_snapshot!(run_stdin(
        &[],
        &["talos", "lint", "-"],
        "replicas: 3\nimage: nginx\n"
    ));
}

#[test]
fn talos_lint_a_folder_without_yaml() {
    insta::assert_snapshot!(run(
        &[("talos/README.md", "notes\n")],
        &["talos", "lint", "talos"]
    ));
}

#[test]
fn talos_mounts_a_kubernetes_manifest() {
    insta::assert_snapshot!(run(
        &[("worker.yaml", DEPLOYMENT)],
        &["talos", "mounts", "worker.yaml"]
    ));
}

#[test]
fn talos_lint_a_base_config_given_as_patch() {
    insta::assert_snapshot!(run(
        &[("worker.yaml", WORKER), ("controlplane.yaml", WORKER)],
        &[
            "talos",
            "lint",
            "worker.yaml",
            "--patch",
            "controlplane.yaml"
        ]
    ));
}

#[test]
fn talos_lint_a_patch_next_to_two_machines() {
    insta::assert_snapshot!(run(
        &[
            ("controlplane.yaml", WORKER),
            ("worker.yaml", WORKER),
            ("patch.yaml", PATCH)
        ],
        &[
            "talos",
            "lint",
            "controlplane.yaml",
            "worker.yaml",
            "patch.yaml"
        ]
    ));
}

#[test]
fn talos_mounts_two_machines() {
    insta::assert_snapshot!(run(
        &[("controlplane.yaml", WORKER), ("worker.yaml", WORKER)],
        &["talos", "mounts", "controlplane.yaml", "worker.yaml"]
    ));
}

#[test]
fn talos_mounts_a_base_config_given_as_patch() {
    insta::assert_snapshot!(run(
        &[("worker.yaml", WORKER), ("controlplane.yaml", WORKER)],
        &[
            "talos",
            "mounts",
            "worker.yaml",
            "--patch",
            "controlplane.yaml"
        ]
    ));
}

#[test]
fn usage_bad_fail_on() {
    insta::assert_snapshot!(run(
        &[("worker.yaml", WORKER)],
        &["talos", "lint", "--fail-on", "warnings", "worker.yaml"]
    ));
}

#[test]
fn certs_dev_days_zero() {
    insta::assert_snapshot!(run(&[], &["certs", "dev", "--days", "0"]));
}

#[test]
fn certs_dev_keeps_an_existing_ca() {
    let ca = "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n";
    let dir = tempfile::tempdir().expect("temp dir");
    let certs = dir.path().join("certs-dev");
    std::fs::create_dir(&certs).expect("mkdir");
    std::fs::write(certs.join("ca.crt"), ca).expect("write ca.crt");
    insta::assert_snapshot!(run_in(dir.path(), &["certs", "dev"], ""));
    // Untouched; and --force replaces it.
    assert_eq!(
        std::fs::read_to_string(certs.join("ca.crt")).expect("read"),
        ca
    );
    let out = Command::new(BIN)
        .args(["certs", "dev", "--force"])
        .current_dir(dir.path())
        .output()
        .expect("run certs dev --force");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replaced = std::fs::read_to_string(certs.join("ca.crt")).expect("read");
    assert_ne!(replaced, ca);
    assert!(
        replaced.starts_with("-----BEGIN CERTIFICATE-----"),
        "{replaced}"
    );
}

#[cfg(feature = "bench")]
#[test]
fn bench_http_against_a_dead_target() {
    // Port 1 on loopback: nothing listens there, the connection is refused.
    let started = std::time::Instant::now();
    insta::assert_snapshot!(run(
        &[("ca.crt", "")],
        &[
            "bench",
            "http",
            "--target",
            "https://127.0.0.1:1",
            "--ca",
            "ca.crt",
            "--duration",
            "30"
        ]
    ));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "fails at once, not after --duration"
    );
}
