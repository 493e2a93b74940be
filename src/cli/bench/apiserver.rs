//! `bench apiserver`: the latency a real kube-apiserver adds to a create,
//! with no admission of ours, with the guard's webhooks, with hand-written
//! in-process CEL policies (ValidatingAdmissionPolicy and
//! MutatingAdmissionPolicy), and with the policies `policies cel` generates
//! for the default configuration, in one interleaved run.
//!
//! Each create is a server dry run of the Longhorn namespace
//! (`POST /api/v1/namespaces?dryRun=All`), so the same object goes through
//! the whole admission chain every time (the guard's mutation adds the six
//! Pod Security labels, its validation checks them; the MutatingAdmissionPolicy
//! adds the same labels, the ValidatingAdmissionPolicy checks enforce) and
//! nothing is stored. The mode is picked per request by a `bench-mode` label
//! that the webhooks' and the bindings' object selectors match, so the four
//! modes alternate request by request over one keep-alive connection.
//!
//! Then a Longhorn Node with three disks (a CRD of the bench's own with the
//! fields the rules read) is created the same way in the Longhorn namespace:
//! no admission, the guard's Node webhook, the generated policies. The
//! modes take turns in blocks, so that the API server's CPU time
//! (/proc/PID/stat) can be read per block: CPU per call, next to the
//! added latency.

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

/// The admission set-ups compared on the namespace create.
const MODES: [&str; 4] = ["none", "guard", "cel", "generated"];

/// The admission set-ups compared on the Longhorn Node create (no
/// hand-written CEL for Nodes).
const NODE_MODES: [&str; 3] = ["none", "guard", "generated"];

/// Rounds of Node blocks: each round times one block per mode, in turn.
const NODE_ROUNDS: usize = 5;

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
    /// `none`, `guard`, `cel` (hand-written) or `generated` (`policies cel`).
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

/// Figures for one mode of the Longhorn Node create.
#[derive(Debug, Clone, Serialize)]
pub struct NodeModeReport {
    /// Latency, as for the namespace.
    #[serde(flatten)]
    pub latency: ModeReport,
    /// kube-apiserver's CPU time (user + system) per create, microseconds.
    pub apiserver_cpu_us: f64,
    /// The guard's CPU time per create, microseconds (0 when it is not called).
    pub guard_cpu_us: f64,
}

/// What `bench apiserver` measured.
#[derive(Debug, Clone, Serialize)]
pub struct ApiserverReport {
    /// The kube-apiserver's version (`/version` gitVersion).
    pub kubernetes: String,
    /// One entry per mode: the namespace create.
    pub modes: Vec<ModeReport>,
    /// One entry per mode: the Longhorn Node create with three disks.
    pub nodes: Vec<NodeModeReport>,
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
{validate}  - name: nodes.bench.longhorn-talos-guard.io
    clientConfig: {{url: \"https://127.0.0.1:{port}/validate\", caBundle: {ca}}}
    rules:
      - {{apiGroups: [longhorn.io], apiVersions: [v1beta2], operations: [CREATE, UPDATE], resources: [nodes], scope: Namespaced}}
    namespaceSelector:
      matchExpressions:
        - {{key: kubernetes.io/metadata.name, operator: In, values: [longhorn-system]}}
    objectSelector: {{matchLabels: {{bench-mode: guard}}}}
    failurePolicy: Fail
    matchPolicy: Equivalent
    sideEffects: None
    admissionReviewVersions: [v1]
    timeoutSeconds: 5
---
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

/// The Longhorn Node resource for the Node creates: `nodes.longhorn.io`
/// v1beta2, namespaced, like the e2e tests' tests/fixtures/crds/longhorn.yaml:
/// only the fields the rules read have a schema, every other one is kept as sent.
const NODE_CRD: &str = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
"metadata":{"name":"nodes.longhorn.io"},
"spec":{"group":"longhorn.io","scope":"Namespaced",
"names":{"kind":"Node","listKind":"NodeList","plural":"nodes","singular":"node"},
"versions":[{"name":"v1beta2","served":true,"storage":true,
"schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true,
"properties":{"spec":{"type":"object","x-kubernetes-preserve-unknown-fields":true,
"properties":{"disks":{"type":"object","additionalProperties":{"type":"object",
"x-kubernetes-preserve-unknown-fields":true,
"properties":{"path":{"type":"string"},"diskType":{"type":"string"}}}}}}}}}}]}}"#;

/// A Longhorn Node with three filesystem disks under the default data path
/// (allowed by the default configuration), labelled for `mode`; `path`
/// replaces the third disk's path.
fn longhorn_node(mode: &str, path: &str) -> String {
    serde_json::json!({
        "apiVersion": "longhorn.io/v1beta2",
        "kind": "Node",
        "metadata": {"name": "worker-1", "namespace": "longhorn-system", "labels": {"bench-mode": mode}},
        "spec": {"disks": {
            "default": {"path": "/var/lib/longhorn", "diskType": "filesystem", "allowScheduling": true, "storageReserved": 0},
            "ssd-1": {"path": "/var/lib/longhorn/ssd-1", "diskType": "filesystem", "allowScheduling": true, "storageReserved": 0},
            "ssd-2": {"path": path, "diskType": "filesystem", "allowScheduling": true, "storageReserved": 0},
        }},
    })
    .to_string()
}

/// What `policies cel` writes for the default configuration on `kubernetes`
/// (the API server's version), each binding narrowed to objects labelled
/// `bench-mode: generated`, as one JSON List for kubectl; and whether they
/// hold the MutatingAdmissionPolicy (Kubernetes 1.36 or newer).
fn generated_manifests(kubernetes: &str) -> anyhow::Result<(String, bool)> {
    use longhorn_talos_guard::cel::{self, KubeVersion};
    let version = KubeVersion::parse(kubernetes).unwrap_or(KubeVersion(cel::NEWEST_MINOR));
    let generated = cel::generate(&longhorn_talos_guard::config::Config::default(), version);
    let mutates = generated.covered.iter().any(|(id, _)| *id == "LTG-W001");
    let yaml = generated.to_yaml();
    let mut items: Vec<serde_json::Value> = serde_saphyr::from_multiple(&yaml)
        .map_err(|e| anyhow::anyhow!("the generated policies do not parse: {e}"))?;
    items.retain(|d| !d.is_null());
    for item in &mut items {
        if item["kind"]
            .as_str()
            .is_some_and(|k| k.ends_with("PolicyBinding"))
        {
            item["spec"]["matchResources"] = serde_json::json!({
                "objectSelector": {"matchLabels": {"bench-mode": "generated"}}
            });
        }
    }
    Ok((
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string(),
        mutates,
    ))
}

/// A process's CPU time (user + system, its threads included), from
/// /proc/PID/stat, in microseconds.
struct CpuClock {
    /// Clock ticks per second (`getconf CLK_TCK`).
    ticks: f64,
}

impl CpuClock {
    fn new() -> anyhow::Result<CpuClock> {
        let out = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .context("cannot run getconf CLK_TCK (the CPU time per call needs it)")?;
        let ticks: f64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .context("getconf CLK_TCK printed no number")?;
        Ok(CpuClock { ticks })
    }

    fn micros(&self, pid: u32) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
        // The fields after the command name, which is in parentheses and may hold spaces.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .context("unexpected /proc/PID/stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of proc(5); `rest` starts at field 3.
        let tick = |i: usize| -> anyhow::Result<f64> {
            Ok(fields
                .get(i)
                .context("short /proc/PID/stat")?
                .parse::<f64>()?)
        };
        Ok((tick(11)? + tick(12)?) * 1e6 / self.ticks)
    }
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

    let kubernetes = version["gitVersion"].as_str().unwrap_or("?").to_string();

    let (ok, out) = k.run(&["apply", "-f", "-"], Some(NODE_CRD))?;
    if !ok {
        bail!("cannot install the Longhorn Node CRD: {out}");
    }
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let guard = ChildServer::start(&exe).await?;
    let (ok, out) = k.run(
        &["apply", "-f", "-"],
        Some(&manifests(guard.addr, &guard.ca_pem()?)),
    )?;
    if !ok {
        bail!("cannot install the admission configuration: {out}");
    }
    let (generated, generated_mutates) = generated_manifests(&kubernetes)?;
    let (ok, out) = k.run(&["apply", "-f", "-"], Some(&generated))?;
    if !ok {
        bail!("cannot install the generated policies: {out}");
    }
    // Active when each mode denies a Longhorn namespace with enforce baseline.
    for mode in ["guard", "cel", "generated"] {
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

    // Each mode does what it is meant to: the six labels from guard, cel and
    // generated (before 1.36 it has no MutatingAdmissionPolicy), none without them.
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
        let labelled = match mode {
            "none" => false,
            "generated" => generated_mutates,
            _ => true,
        };
        let want = if labelled { "privileged" } else { "" };
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
    let modes = summarise(&MODES, &mut samples);

    // The Longhorn Node creates, in the Longhorn namespace (made for real
    // now, after the namespace creates, which must not find it).
    let (ok, out) = k.run(
        &["create", "-f", "-"],
        Some(&namespace("none", Some("privileged"))),
    )?;
    if !ok {
        bail!("cannot create the Longhorn namespace: {out}");
    }
    // Each mode does what it is meant to: the Node is allowed by all, a disk
    // on /mnt (not a path the kubelet sees on Talos) denied by guard and generated.
    for mode in NODE_MODES {
        let mut last = String::new();
        wait_until(
            &format!("the {mode} admission of Longhorn Nodes to be active"),
            Duration::from_secs(30),
            || {
                let good = k.run(
                    &["create", "--dry-run=server", "-f", "-"],
                    Some(&longhorn_node(mode, "/var/lib/longhorn/ssd-2")),
                );
                let bad = k.run(
                    &["create", "--dry-run=server", "-f", "-"],
                    Some(&longhorn_node(mode, "/mnt/ssd-2")),
                );
                match (good, bad) {
                    (Ok((true, _)), Ok((bad_ok, _))) if bad_ok == (mode == "none") => true,
                    (g, b) => {
                        last = format!("{g:?} / {b:?}");
                        false
                    }
                }
            },
        )
        .with_context(|| format!("last answers: {last}"))?;
    }
    let clock = CpuClock::new()?;
    let bodies: Vec<Bytes> = NODE_MODES
        .iter()
        .map(|m| Bytes::from(longhorn_node(m, "/var/lib/longhorn/ssd-2")))
        .collect();
    let url = format!(
        "https://localhost:{port}/apis/longhorn.io/v1beta2/namespaces/longhorn-system/nodes?dryRun=All"
    );
    let block = creates.div_ceil(NODE_ROUNDS);
    let mut node_samples: Vec<Vec<u64>> = vec![Vec::new(); NODE_MODES.len()];
    let mut cpu = vec![(0.0f64, 0.0f64); NODE_MODES.len()];
    for round in 0..=NODE_ROUNDS {
        for (m, body) in bodies.iter().enumerate() {
            let (api0, guard0) = (clock.micros(apiserver.0.id())?, clock.micros(guard.pid())?);
            for _ in 0..block {
                let req = hyper::Request::post(&url)
                    .header(hyper::header::HOST, "localhost")
                    .header(hyper::header::CONTENT_TYPE, "application/json")
                    .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Full::new(body.clone()))?;
                let t = Instant::now();
                send(&mut conn, req)
                    .await
                    .map_err(|e| anyhow::anyhow!("a {} Node create failed: {e}", NODE_MODES[m]))?;
                // Round 0 warms every mode up and is not counted.
                if round > 0 {
                    node_samples[m].push(t.elapsed().as_micros() as u64);
                }
            }
            if round > 0 {
                cpu[m].0 += clock.micros(apiserver.0.id())? - api0;
                cpu[m].1 += clock.micros(guard.pid())? - guard0;
            }
        }
    }
    drop(guard);
    drop(apiserver);
    drop(etcd);

    let nodes = summarise(&NODE_MODES, &mut node_samples)
        .into_iter()
        .zip(cpu)
        .map(|(latency, (api, guard))| {
            let n = latency.creates.max(1) as f64;
            NodeModeReport {
                latency,
                apiserver_cpu_us: api / n,
                guard_cpu_us: guard / n,
            }
        })
        .collect();
    Ok(ApiserverReport {
        kubernetes,
        modes,
        nodes,
    })
}

/// Medians and 90th percentiles per mode, the medians also less the first
/// mode's (`none`).
fn summarise(names: &[&'static str], samples: &mut [Vec<u64>]) -> Vec<ModeReport> {
    let mut modes = Vec::new();
    let mut base = 0i64;
    for (m, s) in samples.iter_mut().enumerate() {
        s.sort_unstable();
        let p50 = percentile(s, 0.5);
        if m == 0 {
            base = p50 as i64;
        }
        modes.push(ModeReport {
            mode: names[m],
            creates: s.len(),
            p50_us: p50,
            p90_us: percentile(s, 0.9),
            added_p50_us: p50 as i64 - base,
        });
    }
    modes
}
