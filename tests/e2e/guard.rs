//! The real `longhorn-talos-guard serve` binary behind the test API server,
//! and the shipped webhook configurations pointed at it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use super::kubectl::Kubectl;
use super::process::Proc;

/// The guard binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_longhorn-talos-guard");

/// Where the webhook configurations live in the repository.
pub fn manifests_base() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/base")
}

/// Runs `longhorn-talos-guard certs dev --out dir --san 127.0.0.1`.
pub fn certs_dev(dir: &Path) {
    let out = Command::new(BIN)
        .args(["certs", "dev", "--san", "127.0.0.1", "--out"])
        .arg(dir)
        .output()
        .expect("run longhorn-talos-guard certs dev");
    assert!(
        out.status.success(),
        "certs dev failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running guard process.
pub struct Guard {
    /// The process (its group is killed on drop).
    pub proc: Proc,
    /// The address it listens on.
    pub addr: SocketAddr,
}

impl Guard {
    /// Starts `serve` on 127.0.0.1:0 with the pair in `cert_dir`, `--kube auto`
    /// reading `kubeconfig` through KUBECONFIG, and waits for its address.
    pub fn start(name: &str, cert_dir: &Path, kubeconfig: &Path, log_dir: &Path) -> Guard {
        let cert_dir = cert_dir.to_string_lossy();
        Guard::start_with(
            name,
            &["--listen", "127.0.0.1:0", "--cert-dir", &cert_dir],
            kubeconfig,
            log_dir,
        )
    }

    /// Starts `serve` with `args` (which must include `--listen`), `--kube
    /// auto` reading `kubeconfig`, and waits for its address.
    pub fn start_with(name: &str, args: &[&str], kubeconfig: &Path, log_dir: &Path) -> Guard {
        let mut cmd = Command::new(BIN);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("LTG_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .args(["serve", "--kube", "auto"])
            .args(["--reload-seconds", "1", "--drain-seconds", "1"])
            .args(args);
        let ready = log_dir.join(format!("{name}.addr"));
        let _ = std::fs::remove_file(&ready);
        cmd.arg("--ready-file").arg(&ready);
        let mut proc = Proc::spawn(name, cmd, log_dir);
        let start = Instant::now();
        let addr = loop {
            if let Some(addr) = crate::common::read_ready_file(&ready) {
                break addr;
            }
            if let Some(status) = proc.exited() {
                panic!("the guard exited {status}\n{}", proc.log_tail(40));
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the guard did not write its address within 20 s\n{}",
                proc.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Guard { proc, addr }
    }
}

/// The webhook configurations of `manifests/base`, rendered by kubectl's
/// kustomize, with each `clientConfig.service` replaced by
/// `url: https://<authority><path>` (authority: host and port of the guard)
/// and `caBundle` set to `ca_pem`: a List to apply.
pub fn webhook_list(kubectl: &Kubectl, authority: &str, ca_pem: &[u8]) -> Value {
    let base = manifests_base();
    let render = kubectl.run(&["kustomize", &base.to_string_lossy()]).ok();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&render.stdout)
        .unwrap_or_else(|e| panic!("kustomize output is not YAML: {e}\n{}", render.stdout));
    let bundle = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let mut items = Vec::new();
    for mut doc in docs.into_iter().filter(|d| !d.is_null()) {
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        if !kind.ends_with("WebhookConfiguration") {
            continue;
        }
        let hooks = doc["webhooks"]
            .as_array_mut()
            .unwrap_or_else(|| panic!("{kind} has no webhooks list"));
        for hook in hooks {
            let service = &hook["clientConfig"]["service"];
            assert_eq!(
                (
                    service["name"].as_str(),
                    service["namespace"].as_str(),
                    service["port"].as_u64()
                ),
                (
                    Some("longhorn-talos-guard"),
                    Some("longhorn-talos-guard"),
                    Some(443)
                ),
                "{} must call the Service longhorn-talos-guard/longhorn-talos-guard:443",
                hook["name"]
            );
            let path = service["path"]
                .as_str()
                .unwrap_or_else(|| panic!("{} has no service path", hook["name"]))
                .to_string();
            hook["clientConfig"] = json!({
                "url": format!("https://{authority}{path}"),
                "caBundle": bundle,
            });
        }
        items.push(doc);
    }
    assert_eq!(
        items.len(),
        2,
        "manifests/base renders one mutating and one validating configuration"
    );
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}
