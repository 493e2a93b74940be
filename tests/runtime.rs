//! What the container image must provide, proved on the binary itself: no
//! shell, no writable filesystem, no file besides the mounted config and
//! certificates. The image cannot be built on these machines (no Docker
//! engine), so the binary runs the way the Deployment runs it: as
//! 65532:65532, from an empty working directory it cannot write, with no
//! environment but an unwritable HOME and TMPDIR.

mod common;

use std::io::BufRead as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Proto, https, review_fixture};
use k8s_openapi::api::core::v1::ConfigMap;

const BIN: &str = env!("CARGO_BIN_EXE_longhorn-talos-guard");
/// The numeric user and group of the image (distroless nonroot).
const IMAGE_USER: u32 = 65532;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// The binary with nothing inherited: cwd `dir`, HOME and TMPDIR `dir`, and,
/// when the tests run as root (who writes anywhere), the image's user.
fn confined(dir: &Path, root: bool) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env("HOME", dir)
        .env("TMPDIR", dir)
        .stdin(Stdio::null());
    if root {
        cmd.uid(IMAGE_USER).gid(IMAGE_USER);
    }
    cmd
}

/// Lines of the child's stderr, as they come.
fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_from_a_read_only_empty_directory_with_only_config_and_certs() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let root = scratch.path().metadata().expect("stat").uid() == 0;

    // The mounted files: a serving pair (certs dev) and the shipped ConfigMap's config.yaml.
    let certs = scratch.path().join("tls");
    let made = Command::new(BIN)
        .args(["certs", "dev", "--out"])
        .arg(&certs)
        .output()
        .expect("run certs dev");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let ca = std::fs::read(certs.join("ca.crt")).expect("ca.crt");
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/base/configmap.yaml"),
    )
    .expect("read manifests/base/configmap.yaml");
    let cm: ConfigMap = serde_saphyr::from_str(&manifest).expect("configmap.yaml is a ConfigMap");
    let config_dir = scratch.path().join("config");
    std::fs::create_dir(&config_dir).expect("mkdir");
    let config = config_dir.join("config.yaml");
    std::fs::write(&config, &cm.data.expect("data")["config.yaml"]).expect("write config");
    // Readable by the image's user, as the kubelet's volumes are; writable by nobody.
    for dir in [scratch.path(), &certs, &config_dir] {
        chmod(dir, 0o555);
    }
    for file in ["ca.crt", "tls.crt", "tls.key"] {
        chmod(&certs.join(file), 0o444);
    }
    chmod(&config, 0o444);
    let work = tempfile::tempdir().expect("temp dir");
    chmod(work.path(), 0o555);

    // The address is reported in a file of its own folder (an emptyDir in a
    // pod), the one place serve may write, and only because it is told to.
    let report = tempfile::tempdir().expect("temp dir");
    chmod(report.path(), 0o777);
    let ready_file = report.path().join("addr");
    let mut child = confined(work.path(), root)
        .args([
            "serve",
            "--kube",
            "off",
            "--listen",
            "127.0.0.1:0",
            "--cert-dir",
        ])
        .arg(&certs)
        .arg("--config")
        .arg(&config)
        .arg("--ready-file")
        .arg(&ready_file)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let lines = stderr_lines(&mut child);
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    let addr = loop {
        log.extend(lines.try_iter());
        if let Some(addr) = common::read_ready_file(&ready_file) {
            break addr;
        }
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            panic!(
                "serve did not start from a read-only directory (exit {:?}):\n{}",
                child.try_wait().ok().flatten(),
                log.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };

    let ready = https(addr, &ca, Proto::Http1, "GET", "/readyz", vec![]).await;
    let healthy = https(addr, &ca, Proto::Http1, "GET", "/healthz", vec![]).await;
    let review = https(
        addr,
        &ca,
        Proto::Http1,
        "POST",
        "/validate",
        review_fixture("namespace-create-baseline"),
    )
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let start = Instant::now();
    let exit = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("serve did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    log.extend(lines.try_iter());
    let log = log.join("\n");

    let ready = ready.unwrap_or_else(|e| panic!("/readyz failed: {e}\n{log}"));
    assert_eq!(
        ready.status,
        200,
        "/readyz: {}\n{log}",
        String::from_utf8_lossy(&ready.body)
    );
    assert_eq!(healthy.map(|a| a.status), Ok(200), "/healthz\n{log}");
    let review = review.unwrap_or_else(|e| panic!("/validate failed: {e}\n{log}"));
    assert_eq!(
        review.json()["response"]["allowed"],
        false,
        "the policies run: {log}"
    );
    assert!(exit.success(), "exit {exit:?}\n{log}");
    for word in [
        "Permission denied",
        "Read-only",
        "No such file",
        "WARN",
        "ERROR",
    ] {
        assert!(!log.contains(word), "{word:?} in the log:\n{log}");
    }
    assert_eq!(
        std::fs::read_dir(work.path()).expect("read dir").count(),
        0,
        "serve wrote into its working directory"
    );
    // Writable again, so that a non-root run can remove the temp dirs.
    for dir in [scratch.path(), &certs, &config_dir] {
        chmod(dir, 0o755);
    }
}

/// `certs dev` without --out writes certs-dev/ in the working directory: from
/// a read-only one it must fail with a message naming what it could not write.
#[test]
fn certs_dev_in_a_read_only_directory_fails_clearly() {
    let work = tempfile::tempdir().expect("temp dir");
    let root = work.path().metadata().expect("stat").uid() == 0;
    chmod(work.path(), 0o555);
    let out = confined(work.path(), root)
        .args(["certs", "dev"])
        .output()
        .expect("run certs dev");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "no caBundle printed on failure");
    assert!(
        stderr.starts_with("error: cannot write certs-dev") && stderr.contains("Permission denied"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(work.path()).expect("read dir").count(), 0);
}
