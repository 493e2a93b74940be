//! `bench`: the policies in-process (`bench policy`) and an HTTPS load
//! generator for the real server (`bench http`), on built-in review fixtures.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::body::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Serialize;

use crate::admission;
use crate::config::Config;
use crate::policy::{self, Facts, Phase};

/// A built-in AdmissionReview.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fixture {
    /// A Longhorn namespace CREATE (denied: enforce baseline).
    Namespace,
    /// A Longhorn node UPDATE with three disks and its oldObject (denied).
    Node,
    /// A Longhorn-manager-like pod CREATE (3.8 KB, allowed).
    Pod,
    /// A Longhorn namespace UPDATE carrying oldObject (denied).
    Update,
}

impl Fixture {
    /// Every fixture.
    pub const ALL: [Fixture; 4] = [
        Fixture::Namespace,
        Fixture::Node,
        Fixture::Pod,
        Fixture::Update,
    ];

    /// The review body, compact as the API server sends it.
    pub fn body(self) -> &'static [u8] {
        static COMPACT: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
        let all = COMPACT.get_or_init(|| {
            Fixture::ALL
                .iter()
                .map(|f| {
                    let v: serde_json::Value =
                        serde_json::from_slice(f.pretty()).expect("built-in fixtures are JSON");
                    serde_json::to_vec(&v).expect("a JSON value serialises")
                })
                .collect()
        });
        &all[self as usize]
    }

    /// The fixture file as written.
    fn pretty(self) -> &'static [u8] {
        match self {
            Fixture::Namespace => {
                include_bytes!("../tests/fixtures/admission/namespace-create-baseline.json")
            }
            Fixture::Node => {
                include_bytes!("../tests/fixtures/admission/lhnode-update-bad-disks.json")
            }
            Fixture::Pod => {
                include_bytes!("../tests/fixtures/admission/pod-create-longhorn-manager.json")
            }
            Fixture::Update => {
                include_bytes!("../tests/fixtures/admission/namespace-update-restricted.json")
            }
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Fixture::Namespace => "namespace",
            Fixture::Node => "node",
            Fixture::Pod => "pod",
            Fixture::Update => "update",
        }
    }
}

/// `bench policy` figures for one fixture.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyReport {
    /// The fixture.
    pub fixture: Fixture,
    /// Body size in bytes.
    pub bytes: usize,
    /// Reviews evaluated.
    pub reviews: u64,
    /// Reviews per second, single-threaded.
    pub reviews_per_sec: f64,
    /// Nanoseconds per review (decode, evaluate, encode).
    pub ns_per_review: f64,
}

/// Decodes, evaluates and encodes `fixture` in a loop on this thread for `duration`.
pub fn policy(fixture: Fixture, duration: Duration) -> anyhow::Result<PolicyReport> {
    let body = fixture.body();
    let config = Config::default();
    let facts = Facts::default();
    let mut reviews = 0u64;
    let start = Instant::now();
    while start.elapsed() < duration {
        for _ in 0..64 {
            let decoded = admission::decode(std::hint::black_box(body))?;
            let request = decoded.request.context("fixture kind is handled")?;
            let verdict = policy::evaluate(Phase::Validate, &request, &config, &facts);
            std::hint::black_box(admission::encode(&decoded.uid, &verdict));
        }
        reviews += 64;
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ok(PolicyReport {
        fixture,
        bytes: body.len(),
        reviews,
        reviews_per_sec: reviews as f64 / elapsed,
        ns_per_review: elapsed * 1e9 / reviews as f64,
    })
}

/// The HTTP version of `bench http`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// HTTP/1.1 with keep-alive, as the API server calls in-cluster webhooks.
    Http1,
    /// HTTP/2.
    Http2,
}

/// What to load and how.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The server.
    pub addr: SocketAddr,
    /// The TLS server name to verify.
    pub server_name: String,
    /// PEM CA the server's certificate chains to.
    pub ca_pem: Vec<u8>,
    /// Connections, each with one request in flight.
    pub concurrency: usize,
    /// Measured time.
    pub duration: Duration,
    /// Unmeasured time before it.
    pub warmup: Duration,
    /// HTTP version.
    pub proto: Proto,
}

/// Figures of one load run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    /// Successful requests.
    pub requests: u64,
    /// Requests per second.
    pub requests_per_sec: f64,
    /// Latency percentiles, microseconds.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Slowest request.
    pub max_us: u64,
    /// Failed requests by kind.
    pub errors: BTreeMap<String, u64>,
}

struct Conn {
    h1: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
    h2: Option<hyper::client::conn::http2::SendRequest<Full<Bytes>>>,
}

async fn connect(opts: &LoadOptions, tls: &tokio_rustls::TlsConnector) -> Result<Conn, String> {
    let tcp = tokio::net::TcpStream::connect(opts.addr)
        .await
        .map_err(|_| "connect".to_string())?;
    tcp.set_nodelay(true).map_err(|_| "connect".to_string())?;
    let name = ServerName::try_from(opts.server_name.clone()).map_err(|_| "tls".to_string())?;
    let stream = tls
        .connect(name, tcp)
        .await
        .map_err(|_| "tls".to_string())?;
    let io = TokioIo::new(stream);
    match opts.proto {
        Proto::Http1 => {
            let (sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|_| "http".to_string())?;
            tokio::spawn(conn);
            Ok(Conn {
                h1: Some(sender),
                h2: None,
            })
        }
        Proto::Http2 => {
            let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|_| "http".to_string())?;
            tokio::spawn(conn);
            Ok(Conn {
                h1: None,
                h2: Some(sender),
            })
        }
    }
}

async fn send(conn: &mut Conn, req: hyper::Request<Full<Bytes>>) -> Result<(), String> {
    let resp = if let Some(s) = conn.h1.as_mut() {
        s.ready().await.map_err(|_| "http".to_string())?;
        s.send_request(req).await
    } else if let Some(s) = conn.h2.as_mut() {
        s.ready().await.map_err(|_| "http".to_string())?;
        s.send_request(req).await
    } else {
        return Err("http".into());
    }
    .map_err(|_| "http".to_string())?;
    let status = resp.status();
    resp.into_body()
        .collect()
        .await
        .map_err(|_| "http".to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("status {}", status.as_u16()))
    }
}

/// Runs `concurrency` keep-alive connections against `path` (a POST of
/// `body`, or a GET without one) and measures them.
pub async fn load(
    opts: &LoadOptions,
    path: &str,
    body: Option<&'static [u8]>,
) -> anyhow::Result<LoadReport> {
    let tls = tokio_rustls::TlsConnector::from(client_config(&opts.ca_pem, opts.proto)?);
    let uri: hyper::Uri =
        format!("https://{}:{}{path}", opts.server_name, opts.addr.port()).parse()?;
    let start = Instant::now();
    let measure_from = start + opts.warmup;
    let stop = measure_from + opts.duration;
    let mut tasks = Vec::with_capacity(opts.concurrency);
    for _ in 0..opts.concurrency {
        let opts = opts.clone();
        let tls = tls.clone();
        let uri = uri.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 16);
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            let mut conn: Option<Conn> = None;
            while Instant::now() < stop {
                let c = match conn.as_mut() {
                    Some(c) => c,
                    None => match connect(&opts, &tls).await {
                        Ok(c) => conn.insert(c),
                        Err(kind) => {
                            *errors.entry(kind).or_default() += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                let mut builder = hyper::Request::builder().uri(uri.clone());
                if opts.proto == Proto::Http1 {
                    builder = builder.header(hyper::header::HOST, opts.server_name.as_str());
                }
                let req = match body {
                    Some(b) => builder
                        .method("POST")
                        .header(hyper::header::CONTENT_TYPE, "application/json")
                        .body(Full::new(Bytes::from_static(b))),
                    None => builder.method("GET").body(Full::new(Bytes::new())),
                }
                .expect("a request from valid parts");
                let sent = Instant::now();
                let result = send(c, req).await;
                let done = Instant::now();
                if sent < measure_from || done > stop {
                    if result.is_err() {
                        conn = None;
                    }
                    continue;
                }
                match result {
                    Ok(()) => {
                        latencies.push((done - sent).as_micros().min(u32::MAX as u128) as u32)
                    }
                    Err(kind) => {
                        *errors.entry(kind).or_default() += 1;
                        conn = None;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = BTreeMap::new();
    for t in tasks {
        let (lat, err) = t.await?;
        all.extend(lat);
        for (k, v) in err {
            *errors.entry(k).or_default() += v;
        }
    }
    all.sort_unstable();
    let pct = |p: f64| -> u64 {
        if all.is_empty() {
            return 0;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        u64::from(all[i])
    };
    Ok(LoadReport {
        requests: all.len() as u64,
        requests_per_sec: all.len() as f64 / opts.duration.as_secs_f64(),
        p50_us: pct(0.50),
        p90_us: pct(0.90),
        p99_us: pct(0.99),
        max_us: all.last().copied().map_or(0, u64::from),
        errors,
    })
}

fn client_config(ca_pem: &[u8], proto: Proto) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.context("CA file holds an invalid certificate")?)?;
    }
    if roots.is_empty() {
        bail!("the CA file holds no certificate");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![match proto {
        Proto::Http1 => b"http/1.1".to_vec(),
        Proto::Http2 => b"h2".to_vec(),
    }];
    Ok(Arc::new(config))
}

/// A `serve` process started for the benchmark.
pub struct ChildServer {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its certificate folder (removed on drop).
    pub dir: PathBuf,
    /// From spawn to the first `/readyz` 200.
    pub ready_after: Duration,
}

impl ChildServer {
    /// Starts `exe serve` on a free loopback port with fresh dev certificates,
    /// and waits until `/readyz` answers 200.
    pub async fn start(exe: &Path) -> anyhow::Result<ChildServer> {
        let dir = std::env::temp_dir().join(format!("ltg-bench-{}", std::process::id()));
        let certs = crate::certs::generate(&crate::certs::default_sans(), 1, 1)?;
        crate::certs::write(&dir, &certs)?;
        let ready = dir.join("ready");
        let started = Instant::now();
        let mut child = Command::new(exe)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--kube",
                "off",
                "--cert-dir",
            ])
            .arg(&dir)
            .arg("--ready-file")
            .arg(&ready)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let addr = loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                break text.trim().parse::<SocketAddr>().with_context(|| {
                    format!("the server wrote {text:?} to {}", ready.display())
                })?;
            }
            if let Some(status) = child.try_wait()? {
                bail!("the server exited {status} before listening");
            }
            if started.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                bail!("the server did not report its address within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        let mut server = ChildServer {
            child,
            addr,
            dir,
            ready_after: Duration::ZERO,
        };
        let opts = LoadOptions {
            addr,
            server_name: "localhost".into(),
            ca_pem: certs.ca_pem.into_bytes(),
            concurrency: 1,
            duration: Duration::ZERO,
            warmup: Duration::ZERO,
            proto: Proto::Http1,
        };
        let tls = tokio_rustls::TlsConnector::from(client_config(&opts.ca_pem, Proto::Http1)?);
        loop {
            if let Ok(mut c) = connect(&opts, &tls).await {
                let req = hyper::Request::get(format!("https://localhost:{}/readyz", addr.port()))
                    .header(hyper::header::HOST, "localhost")
                    .body(Full::new(Bytes::new()))?;
                if send(&mut c, req).await.is_ok() {
                    break;
                }
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("the server was not ready within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.ready_after = started.elapsed();
        Ok(server)
    }

    /// The CA of its certificate.
    pub fn ca_pem(&self) -> anyhow::Result<Vec<u8>> {
        Ok(std::fs::read(self.dir.join(crate::certs::CA_FILE))?)
    }

    /// Current and peak resident memory, in bytes (from /proc).
    pub fn rss(&self) -> anyhow::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            let line = status
                .lines()
                .find(|l| l.starts_with(name))
                .with_context(|| format!("{name} not in /proc status"))?;
            let kb: u64 = line
                .split_whitespace()
                .nth(1)
                .context("malformed /proc status")?
                .parse()?;
            Ok(kb * 1024)
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Formats bytes as MiB with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
