//! `bench apiserver`: the latency a real kube-apiserver adds to a create,
//! with no admission of ours, with the guard's webhooks, and with equivalent
//! in-process CEL policies (ValidatingAdmissionPolicy and
//! MutatingAdmissionPolicy), in one interleaved run.
//!
//! Each create is a server dry run of the Longhorn namespace
//! (`POST /api/v1/namespaces?dryRun=All`), so the same object goes through
//! the whole admission chain every time (the guard's mutation adds the six
//! Pod Security labels, its validation checks them; the MutatingAdmissionPolicy
//! adds the same labels, the ValidatingAdmissionPolicy checks enforce) and
//! nothing is stored. The mode is picked per request by a `bench-mode` label
//! that the webhooks' and the bindings' object selectors match, so the three
//! modes alternate request by request over one keep-alive connection.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::body::Bytes;
use base64::Engine as _;
use http_body_util::Full;
use serde::Serialize;

use super::ChildServer;
use super::load::{LoadOptions, Proto, client_config, connect, send};
use longhorn_talos_guard::certs;

/// The admission set-ups compared.
const MODES: [&str; 3] = ["none", "guard", "cel"];

/// A process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A scratch folder removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Figures for one mode.
#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    /// `none`, `guard` or `cel`.
    pub mode: &'static str,
    /// Creates measured.
    pub creates: usize,
    /// Median latency of a create, microseconds.
    pub p50_us: u64,
    /// 90th percentile, microseconds.
    pub p90_us: u64,
    /// Median minus the median of `none`, microseconds.
    pub added_p50_us: i64,
}

/// What `bench apiserver` measured.
#[derive(Debug, Clone, Serialize)]
pub struct ApiserverReport {
    /// The kube-apiserver's version (`/version` gitVersion).
    pub kubernetes: String,
    /// One entry per mode.
    pub modes: Vec<ModeReport>,
}

/// The folder holding kube-apiserver, etcd and kubectl: `--assets`,
/// KUBEBUILDER_ASSETS, or the output of tests/envtest/build.sh.
fn assets(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = given.or_else(|| std::env::var_os("KUBEBUILDER_ASSETS").map(PathBuf::from)) {
        return Ok(dir);
    }
    let out = Command::new("bash")
        .arg("tests/envtest/build.sh")
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run tests/envtest/build.sh (run from the repository, or give --assets)")?;
    if !out.status.success() {
        bail!("tests/envtest/build.sh failed (its message is above); or give --assets DIR");
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(PathBuf::from(
        text.lines()
            .last()
            .context("build.sh printed no folder")?
            .trim(),
    ))
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) -> anyhow::Result<()> {
    let start = Instant::now();
    while !ok() {
        if start.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<(bool, String)> {
        use std::io::Write as _;
        let mut child = Command::new(&self.bin)
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        if let Some(text) = stdin
            && let Some(mut pipe) = child.stdin.take()
        {
            pipe.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        Ok((
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ))
    }
}

/// The six labels, as the CEL mutation writes them.
fn six_labels_cel() -> String {
    longhorn_talos_guard::base::longhorn::NAMESPACE_LABELS
        .iter()
        .map(|(k, v)| format!("\"{k}\": \"{v}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The admission configuration of the three modes.
fn manifests(guard: SocketAddr, ca_pem: &[u8]) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let port = guard.port();
    let hook = |name: &str, path: &str| {
        format!(
            "  - name: {name}
    clientConfig: {{url: \"https://127.0.0.1:{port}{path}\", caBundle: {ca}}}
    rules:
      - {{apiGroups: [\"\"], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [namespaces], scope: Cluster}}
    objectSelector:
      matchExpressions:
        - {{key: kubernetes.io/metadata.name, operator: In, values: [longhorn-system]}}
        - {{key: bench-mode, operator: In, values: [guard]}}
    failurePolicy: Fail
    matchPolicy: Equivalent
    sideEffects: None
    admissionReviewVersions: [v1]
    timeoutSeconds: 5
"
        )
    };
    let rules = "    resourceRules:
      - {apiGroups: [\"\"], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [namespaces]}";
    format!(
        "apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {{name: bench-guard}}
webhooks:
{mutate}    reinvocationPolicy: Never
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {{name: bench-guard}}
webhooks:
{validate}---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {{name: bench-cel}}
spec:
  matchConstraints:
{rules}
  matchConditions:
    - {{name: longhorn, expression: \"object.metadata.name == 'longhorn-system'\"}}
    # Like the guard, never overwrite a level someone set.
    - name: no-enforce-label
      expression: >-
        !has(object.metadata.labels) ||
        !('pod-security.kubernetes.io/enforce' in object.metadata.labels)
  failurePolicy: Fail
  reinvocationPolicy: Never
  mutations:
    - patchType: ApplyConfiguration
      applyConfiguration:
        expression: 'Object{{metadata: Object.metadata{{labels: {{{labels}}}}}}}'
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {{name: bench-cel}}
spec:
  policyName: bench-cel
  matchResources:
    objectSelector: {{matchLabels: {{bench-mode: cel}}}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: bench-cel}}
spec:
  matchConstraints:
{rules}
  matchConditions:
    - {{name: longhorn, expression: \"object.metadata.name == 'longhorn-system'\"}}
  failurePolicy: Fail
  validations:
    - expression: >-
        has(object.metadata.labels) &&
        'pod-security.kubernetes.io/enforce' in object.metadata.labels &&
        object.metadata.labels['pod-security.kubernetes.io/enforce'] == 'privileged'
      message: the Longhorn namespace must run privileged
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: bench-cel}}
spec:
  policyName: bench-cel
  validationActions: [Deny]
  matchResources:
    objectSelector: {{matchLabels: {{bench-mode: cel}}}}
",
        mutate = hook("namespaces.mutate.bench.longhorn-talos-guard.io", "/mutate"),
        validate = hook("namespaces.bench.longhorn-talos-guard.io", "/validate"),
        labels = six_labels_cel(),
    )
}

/// The Longhorn namespace labelled for `mode`, optionally with an enforce level.
fn namespace(mode: &str, enforce: Option<&str>) -> String {
    let enforce = enforce
        .map(|l| format!(",\"pod-security.kubernetes.io/enforce\":\"{l}\""))
        .unwrap_or_default();
    format!(
        r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"longhorn-system","labels":{{"bench-mode":"{mode}"{enforce}}}}}}}"#
    )
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Starts etcd, kube-apiserver and the guard, installs the three modes, and
/// times `creates` dry-run creates per mode, interleaved.
pub async fn run(given_assets: Option<PathBuf>, creates: usize) -> anyhow::Result<ApiserverReport> {
    let assets = assets(given_assets)?;
    let dir =
        Scratch(std::env::temp_dir().join(format!("ltg-bench-apiserver-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0)?;
    let root = dir.0.as_path();
    let quiet = |name: &str| -> anyhow::Result<Stdio> {
        Ok(std::fs::File::create(root.join(format!("{name}.log")))?.into())
    };

    let (client, peer) = (free_port()?, free_port()?);
    let etcd = Proc(
        Command::new(assets.join("etcd"))
            .arg("--name=bench")
            .arg(format!("--data-dir={}", root.join("etcd").display()))
            .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
            .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
            ))
            .arg(format!("--initial-cluster=bench=http://127.0.0.1:{peer}"))
            .arg("--unsafe-no-fsync")
            .arg("--log-level=warn")
            .stdout(quiet("etcd")?)
            .stderr(quiet("etcd-err")?)
            .spawn()
            .with_context(|| format!("cannot start {}", assets.join("etcd").display()))?,
    );
    let etcd_addr: SocketAddr = ([127, 0, 0, 1], client).into();
    wait_until("etcd", Duration::from_secs(30), || {
        TcpStream::connect_timeout(&etcd_addr, Duration::from_millis(200)).is_ok()
    })?;

    let tls = certs::generate(&certs::default_sans(), 1, 1)?;
    certs::write(&root.join("apiserver-tls"), &tls)?;
    let sa = certs::generate(&certs::default_sans(), 1, 1)?;
    certs::write(&root.join("sa"), &sa)?;
    let token = format!("bench-{}", std::process::id());
    std::fs::write(
        root.join("tokens.csv"),
        format!("{token},bench-admin,bench-admin,system:masters\n"),
    )?;
    let port = free_port()?;
    let file = |d: &str, f: &str| root.join(d).join(f).display().to_string();
    let apiserver = Proc(
        Command::new(assets.join("kube-apiserver"))
            .arg("--advertise-address=127.0.0.1")
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--secure-port={port}"))
            .arg(format!("--etcd-servers=http://127.0.0.1:{client}"))
            .arg(format!("--cert-dir={}", root.join("generated").display()))
            .arg(format!(
                "--tls-cert-file={}",
                file("apiserver-tls", certs::CERT_FILE)
            ))
            .arg(format!(
                "--tls-private-key-file={}",
                file("apiserver-tls", certs::KEY_FILE)
            ))
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            .arg(format!("--service-account-issuer=https://127.0.0.1:{port}"))
            .arg(format!(
                "--service-account-key-file={}",
                file("sa", certs::CERT_FILE)
            ))
            .arg(format!(
                "--service-account-signing-key-file={}",
                file("sa", certs::KEY_FILE)
            ))
            .arg(format!(
                "--token-auth-file={}",
                root.join("tokens.csv").display()
            ))
            .arg("--authorization-mode=RBAC")
            .arg("--endpoint-reconciler-type=none")
            .stdout(quiet("kube-apiserver")?)
            .stderr(quiet("kube-apiserver-err")?)
            .spawn()
            .with_context(|| format!("cannot start {}", assets.join("kube-apiserver").display()))?,
    );
    let kubeconfig = root.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: b, cluster: {{server: \"https://127.0.0.1:{port}\", certificate-authority: {}}}}}]\nusers: [{{name: b, user: {{token: {token}}}}}]\ncontexts: [{{name: b, context: {{cluster: b, user: b}}}}]\ncurrent-context: b\n",
            file("apiserver-tls", certs::CA_FILE)
        ),
    )?;
    let k = Kubectl {
        bin: assets.join("kubectl"),
        kubeconfig,
    };
    wait_until(
        "kube-apiserver /readyz",
        Duration::from_secs(90),
        || matches!(k.run(&["get", "--raw", "/readyz"], None), Ok((true, s)) if s.trim() == "ok"),
    )?;
    let (_, version) = k.run(&["get", "--raw", "/version"], None)?;
    let version: serde_json::Value = serde_json::from_str(&version).unwrap_or_default();

    let exe = std::env::current_exe().context("cannot find this executable")?;
    let guard = ChildServer::start(&exe).await?;
    let (ok, out) = k.run(
        &["apply", "-f", "-"],
        Some(&manifests(guard.addr, &guard.ca_pem()?)),
    )?;
    if !ok {
        bail!("cannot install the admission configuration: {out}");
    }
    // Active when each mode denies a Longhorn namespace with enforce baseline.
    for mode in ["guard", "cel"] {
        let mut last = String::new();
        wait_until(
            &format!("the {mode} admission to be active"),
            Duration::from_secs(30),
            || match k.run(
                &["create", "--dry-run=server", "-f", "-"],
                Some(&namespace(mode, Some("baseline"))),
            ) {
                Ok((false, s)) if s.contains("denied") || s.contains("forbidden") => true,
                Ok((_, s)) => {
                    last = s;
                    false
                }
                Err(e) => {
                    last = e.to_string();
                    false
                }
            },
        )
        .with_context(|| format!("last answer: {last}"))?;
    }

    // Each mode does what it is meant to: the six labels from guard and cel,
    // none without them.
    for mode in MODES {
        let (ok, out) = k.run(
            &[
                "create",
                "--dry-run=server",
                "-o",
                "jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}",
                "-f",
                "-",
            ],
            Some(&namespace(mode, None)),
        )?;
        let want = if mode == "none" { "" } else { "privileged" };
        if !ok || out.trim() != want {
            bail!("mode {mode}: a dry-run create gave enforce {out:?}, expected {want:?}");
        }
    }

    // One keep-alive connection, as kubectl or a controller holds one.
    let opts = LoadOptions {
        addr: ([127, 0, 0, 1], port).into(),
        server_name: "localhost".into(),
        ca_pem: tls.ca_pem.clone().into_bytes(),
        concurrency: 1,
        duration: Duration::ZERO,
        warmup: Duration::ZERO,
        proto: Proto::Http1,
    };
    let connector = tokio_rustls::TlsConnector::from(client_config(&opts.ca_pem, Proto::Http1)?);
    let mut conn = connect(&opts, &connector)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to kube-apiserver: {e}"))?;
    let bodies: Vec<Bytes> = MODES
        .iter()
        .map(|m| Bytes::from(namespace(m, None)))
        .collect();
    let mut samples: Vec<Vec<u64>> = vec![Vec::new(); MODES.len()];
    let warmup = 20;
    for i in 0..(creates + warmup) * MODES.len() {
        let m = i % MODES.len();
        let req = hyper::Request::post(format!(
            "https://localhost:{port}/api/v1/namespaces?dryRun=All"
        ))
        .header(hyper::header::HOST, "localhost")
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::new(bodies[m].clone()))?;
        let t = Instant::now();
        send(&mut conn, req)
            .await
            .map_err(|e| anyhow::anyhow!("a {} create failed: {e}", MODES[m]))?;
        if i >= warmup * MODES.len() {
            samples[m].push(t.elapsed().as_micros() as u64);
        }
    }
    drop(guard);
    drop(apiserver);
    drop(etcd);

    let mut modes = Vec::new();
    let mut base = 0i64;
    for (m, s) in samples.iter_mut().enumerate() {
        s.sort_unstable();
        let p50 = percentile(s, 0.5);
        if m == 0 {
            base = p50 as i64;
        }
        modes.push(ModeReport {
            mode: MODES[m],
            creates: s.len(),
            p50_us: p50,
            p90_us: percentile(s, 0.9),
            added_p50_us: p50 as i64 - base,
        });
    }
    Ok(ApiserverReport {
        kubernetes: version["gitVersion"].as_str().unwrap_or("?").to_string(),
        modes,
    })
}
