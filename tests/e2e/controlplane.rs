//! A throw-away control plane like controller-runtime's envtest: etcd and
//! kube-apiserver on loopback with free ports and a temp dir, configured like
//! a Talos control plane for Pod Security and privileged pods.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::kubectl::Kubectl;
use super::process::Proc;

/// Where the control plane binaries are.
pub struct Assets {
    /// Folder holding `kube-apiserver` and `etcd`.
    pub dir: PathBuf,
    /// The kubectl to drive the cluster with.
    pub kubectl: PathBuf,
}

/// The newest Kubernetes (tests/envtest/go.mod, v1.37.2): see [`assets_of`].
pub fn assets() -> Assets {
    assets_of("envtest")
}

/// The second minor, Longhorn 1.13's oldest supported Kubernetes
/// (tests/envtest-1.34/go.mod, v1.34.4): see [`assets_of`].
pub fn assets_1_34() -> Assets {
    assets_of("envtest-1.34")
}

/// Finds or builds the binaries with `tests/<module>/build.sh`, which honours
/// KUBEBUILDER_ASSETS (KUBEBUILDER_ASSETS_1_34 for envtest-1.34). Its
/// progress (a line per binary while building) goes
/// straight to the terminal's stderr, not through the test's captured
/// output, so a first run shows what it is waiting for. Any failure (no Go,
/// a failed build) is a test failure pointing at the script's message.
pub fn assets_of(module: &str) -> Assets {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(module)
        .join("build.sh");
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "the e2e control plane is not available: {} exited {:?} (its message is above, on stderr)",
        script.display(),
        out.status.code()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = PathBuf::from(
        stdout
            .lines()
            .last()
            .unwrap_or_else(|| panic!("{} printed no folder", script.display()))
            .trim(),
    );
    // KUBEBUILDER_ASSETS may come without kubectl: fall back to the one on PATH.
    let kubectl = if dir.join("kubectl").is_file() {
        dir.join("kubectl")
    } else {
        eprintln!(
            "e2e: no kubectl in {}; using the kubectl on PATH",
            dir.display()
        );
        PathBuf::from("kubectl")
    };
    eprintln!(
        "e2e: control plane binaries in {} ({:.1} s)",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Assets { dir, kubectl }
}

/// A free TCP port on 127.0.0.1 for a program that binds it itself (etcd,
/// kube-apiserver take no listener). Free when asked, and never handed out
/// twice in this process, so two control planes started at once cannot be
/// given the same one; another process may still take it before the
/// program binds it, which [`ControlPlane::start`] retries.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind an ephemeral port on 127.0.0.1")
            .port();
        if GIVEN.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
            return port;
        }
    }
}

/// True when a program that exited did so because its port was taken.
fn lost_its_port(log: &str) -> bool {
    log.contains("address already in use")
}

/// Talos's default Pod Security admission configuration
/// (`cluster.apiServer.admissionControl`, see shared/FACTS.md): enforce
/// baseline, audit and warn restricted, all `latest`, kube-system exempt.
const ADMISSION_CONFIG: &str = "\
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: PodSecurity
    configuration:
      apiVersion: pod-security.admission.config.k8s.io/v1alpha1
      kind: PodSecurityConfiguration
      defaults:
        enforce: baseline
        enforce-version: latest
        audit: restricted
        audit-version: latest
        warn: restricted
        warn-version: latest
      exemptions:
        usernames: []
        runtimeClasses: []
        namespaces: [kube-system]
";

/// A running etcd and kube-apiserver; dropping it kills both and removes the
/// temp dir.
pub struct ControlPlane {
    // Fields drop in order: the API server before etcd, files last.
    apiserver: Proc,
    etcd: Proc,
    /// The admin kubectl.
    pub kubectl: Kubectl,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// Scratch space for the harness (logs, certificates).
    pub dir: tempfile::TempDir,
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver and waits until `/readyz` answers ok.
    /// `certs_dev` writes a CA and serving pair into a folder (the guard's
    /// `certs dev`): it serves the API server and signs service-account tokens.
    pub fn start(assets: &Assets, certs_dev: impl Fn(&Path)) -> ControlPlane {
        ControlPlane::start_with(assets, certs_dev, &[])
    }

    /// [`ControlPlane::start`] with more kube-apiserver flags (a feature gate).
    pub fn start_with(
        assets: &Assets,
        certs_dev: impl Fn(&Path),
        extra_args: &[&str],
    ) -> ControlPlane {
        // A port taken by another process between free_port() and the bind:
        // start again on new ports (three tries), never fail on a race.
        let mut lost = Vec::new();
        for _ in 0..3 {
            match ControlPlane::try_start(assets, &certs_dev, extra_args) {
                Ok(cp) => return cp,
                Err(why) => lost.push(why),
            }
        }
        panic!(
            "the control plane lost its ports three times:\n{}",
            lost.join("\n")
        );
    }

    /// One attempt: `Err` when etcd or kube-apiserver exited because its
    /// port was taken; any other failure panics.
    fn try_start(
        assets: &Assets,
        certs_dev: &impl Fn(&Path),
        extra_args: &[&str],
    ) -> Result<ControlPlane, String> {
        let dir = tempfile::Builder::new()
            .prefix("ltg-e2e-")
            .tempdir()
            .expect("make a temp dir");
        let root = dir.path().to_path_buf();
        let logs = root.join("logs");
        std::fs::create_dir_all(&logs).expect("make the log folder");

        let (client, peer) = (free_port(), free_port());
        let mut etcd_cmd = Command::new(assets.dir.join("etcd"));
        etcd_cmd
            .arg("--name=e2e")
            .arg(format!("--data-dir={}", root.join("etcd").display()))
            .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
            .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
            ))
            .arg(format!("--initial-cluster=e2e=http://127.0.0.1:{peer}"))
            .arg("--unsafe-no-fsync")
            .arg("--log-level=warn");
        let mut etcd = Proc::spawn_owning("etcd", etcd_cmd, &logs, Some(&root));
        let mut etcd_exit = None;
        let etcd_addr: SocketAddr = ([127, 0, 0, 1], client).into();
        wait(
            "etcd to accept connections",
            Duration::from_secs(30),
            || {
                if let Some(status) = etcd.exited() {
                    etcd_exit = Some(status);
                    return true;
                }
                TcpStream::connect_timeout(&etcd_addr, Duration::from_millis(200)).is_ok()
            },
        );
        // Connected, but maybe to another process on that port: etcd must
        // still be running a moment later.
        std::thread::sleep(Duration::from_millis(100));
        if let Some(status) = etcd_exit.or_else(|| etcd.exited()) {
            if lost_its_port(&etcd.log()) {
                return Err(format!("etcd: {}", etcd.log_tail(5)));
            }
            panic!("etcd exited {status}\n{}", etcd.log_tail(40));
        }

        let tls = root.join("apiserver-tls");
        certs_dev(&tls);
        let sa = root.join("service-account");
        certs_dev(&sa);
        let token = format!("e2e-{}-{}", std::process::id(), nanos());
        let tokens = root.join("tokens.csv");
        std::fs::write(
            &tokens,
            format!("{token},e2e-admin,e2e-admin,system:masters\n"),
        )
        .expect("write the token file");
        let admission = root.join("admission.yaml");
        std::fs::write(&admission, ADMISSION_CONFIG).expect("write the admission config");

        let port = free_port();
        let mut api_cmd = Command::new(assets.dir.join("kube-apiserver"));
        api_cmd
            .arg("--advertise-address=127.0.0.1")
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--secure-port={port}"))
            .arg(format!("--etcd-servers=http://127.0.0.1:{client}"))
            .arg(format!(
                "--cert-dir={}",
                root.join("apiserver-generated").display()
            ))
            .arg(format!("--tls-cert-file={}", tls.join("tls.crt").display()))
            .arg(format!(
                "--tls-private-key-file={}",
                tls.join("tls.key").display()
            ))
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            .arg(format!("--service-account-issuer=https://127.0.0.1:{port}"))
            .arg(format!(
                "--service-account-key-file={}",
                sa.join("tls.crt").display()
            ))
            .arg(format!(
                "--service-account-signing-key-file={}",
                sa.join("tls.key").display()
            ))
            .arg(format!("--token-auth-file={}", tokens.display()))
            .arg("--authorization-mode=RBAC")
            .arg("--allow-privileged=true")
            .arg(format!(
                "--admission-control-config-file={}",
                admission.display()
            ))
            // No controller-manager runs: nothing else would reconcile endpoints.
            .arg("--endpoint-reconciler-type=none")
            .args(extra_args);
        let mut apiserver = Proc::spawn("kube-apiserver", api_cmd, &logs);

        let kubeconfig = root.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1
kind: Config
clusters:
  - name: e2e
    cluster:
      server: https://127.0.0.1:{port}
      certificate-authority: {ca}
users:
  - name: e2e-admin
    user:
      token: {token}
contexts:
  - name: e2e
    context: {{cluster: e2e, user: e2e-admin}}
current-context: e2e
",
                ca = tls.join("ca.crt").display()
            ),
        )
        .expect("write the kubeconfig");
        let kubectl = Kubectl {
            bin: assets.kubectl.clone(),
            kubeconfig: kubeconfig.clone(),
            cache_dir: root.join("kube-cache"),
        };
        let start = Instant::now();
        loop {
            if let Some(status) = apiserver.exited() {
                if lost_its_port(&apiserver.log()) {
                    return Err(format!("kube-apiserver: {}", apiserver.log_tail(5)));
                }
                panic!(
                    "kube-apiserver exited {status}\n{}\n{}",
                    apiserver.log_tail(60),
                    etcd.log_tail(20)
                );
            }
            let run = kubectl.run(&["get", "--raw", "/readyz"]);
            if run.success && run.stdout.trim() == "ok" {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "kube-apiserver not ready after 90 s; last probe: {run}\n{}",
                apiserver.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(ControlPlane {
            apiserver,
            etcd,
            kubectl,
            kubeconfig,
            dir,
        })
    }

    /// Asserts that the API server reports Kubernetes `version` (`v1.34`:
    /// any patch release of that minor) in `/version`.
    pub fn assert_version(&self, version: &str) {
        let served = self.kubectl.run(&["get", "--raw", "/version"]);
        assert!(
            served.success
                && served
                    .stdout
                    .replace(' ', "")
                    .contains(&format!("\"gitVersion\":\"{version}.")),
            "the control plane is not Kubernetes {version}: {served}"
        );
    }

    /// The folder for the harness's log files.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    /// The tails of etcd's and kube-apiserver's logs.
    pub fn log_tails(&self) -> String {
        format!(
            "{}\n{}",
            self.apiserver.log_tail(40),
            self.etcd.log_tail(10)
        )
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Polls `check` every 100 ms until it is true; panics after `timeout`.
pub fn wait(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    loop {
        if check() {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
