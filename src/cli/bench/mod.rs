//! `bench` (built with the `bench` feature only): the policies in-process
//! (`bench policy`) and an HTTPS load on a real server (`bench http`), with
//! review fixtures from tests/fixtures compiled in.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::body::Bytes;
use clap::Subcommand;
use http_body_util::Full;
use serde::Serialize;

use super::{OutputFormat, emit};
use longhorn_talos_guard::config::Config;
use longhorn_talos_guard::pipeline;
use longhorn_talos_guard::policy::{Facts, Phase};

pub mod apiserver;
pub mod load;

/// `println!` through [`emit`]: a closed pipe ends the output quietly.
macro_rules! out {
    ($($arg:tt)*) => {
        emit(&format!("{}\n", format_args!($($arg)*)))?
    };
}

use load::{LoadOptions, Proto, client_config, connect, send};

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
                include_bytes!("../../../tests/fixtures/admission/namespace-create-baseline.json")
            }
            Fixture::Node => {
                include_bytes!("../../../tests/fixtures/admission/lhnode-update-bad-disks.json")
            }
            Fixture::Pod => {
                include_bytes!("../../../tests/fixtures/admission/pod-create-longhorn-manager.json")
            }
            Fixture::Update => {
                include_bytes!("../../../tests/fixtures/admission/namespace-update-restricted.json")
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
            let done = pipeline::review_with(
                Phase::Validate,
                std::hint::black_box(body),
                &config,
                &facts,
            )?;
            std::hint::black_box(done.body);
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
        let certs = longhorn_talos_guard::certs::generate(
            &longhorn_talos_guard::certs::default_sans(),
            1,
            1,
        )?;
        longhorn_talos_guard::certs::write(&dir, &certs)?;
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

    /// Its process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The CA of its certificate.
    pub fn ca_pem(&self) -> anyhow::Result<Vec<u8>> {
        Ok(std::fs::read(
            self.dir.join(longhorn_talos_guard::certs::CA_FILE),
        )?)
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

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Decode, evaluate and encode built-in reviews in a loop on one thread.
    Policy {
        /// One fixture; all of them without it.
        #[arg(long)]
        fixture: Option<Fixture>,
        /// Seconds per fixture.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        /// Output format.
        #[arg(short = 'o', long, default_value = "text")]
        format: OutputFormat,
        /// The same as `-o json` (the flag of earlier releases).
        #[arg(long, hide = true)]
        json: bool,
    },
    /// HTTPS load on /validate, then on /healthz with the same settings.
    /// Without --target, starts `serve` on a free loopback port with fresh dev
    /// certificates (a child process, so that its memory is measured alone).
    Http {
        /// The server, e.g. https://localhost:8443.
        #[arg(long)]
        target: Option<String>,
        /// CA of the target's certificate (default certs-dev/ca.crt).
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Connections, each with one request in flight.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Measured seconds per endpoint.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Unmeasured seconds before each measurement.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// The review to send.
        #[arg(long, default_value = "pod")]
        fixture: Fixture,
        /// Use HTTP/1.1 (the default, as the API server calls service webhooks).
        #[arg(long, conflicts_with = "http2")]
        http1: bool,
        /// Use HTTP/2.
        #[arg(long)]
        http2: bool,
        /// Output format.
        #[arg(short = 'o', long, default_value = "text")]
        format: OutputFormat,
        /// The same as `-o json` (the flag of earlier releases).
        #[arg(long, hide = true)]
        json: bool,
    },
    /// The latency a real kube-apiserver adds to a create: no admission of
    /// ours, the guard's webhooks, hand-written CEL policies
    /// (ValidatingAdmissionPolicy + MutatingAdmissionPolicy) and the ones
    /// `policies cel` generates, interleaved request by request; then a
    /// Longhorn Node create with three disks, with the API server's CPU time
    /// per call. Starts etcd, kube-apiserver and `serve`.
    Apiserver {
        /// The folder with kube-apiserver, etcd and kubectl (default:
        /// KUBEBUILDER_ASSETS, else what tests/envtest/build.sh builds).
        #[arg(long)]
        assets: Option<PathBuf>,
        /// Measured creates per mode (after 20 unmeasured ones).
        #[arg(long, default_value_t = 500)]
        creates: usize,
        /// Output format.
        #[arg(short = 'o', long, default_value = "text")]
        format: OutputFormat,
    },
}

/// Runs a `bench` subcommand.
pub fn run(command: BenchCommand) -> anyhow::Result<u8> {
    match command {
        BenchCommand::Policy {
            fixture,
            seconds,
            format,
            json,
        } => policy_cmd(fixture, seconds, json || format == OutputFormat::Json),
        BenchCommand::Apiserver {
            assets,
            creates,
            format,
        } => tokio::runtime::Runtime::new()
            .context("cannot start the async runtime")
            .and_then(|rt| rt.block_on(apiserver_cmd(assets, creates, format))),
        cmd @ BenchCommand::Http { .. } => tokio::runtime::Runtime::new()
            .context("cannot start the async runtime")
            .and_then(|rt| rt.block_on(http_cmd(cmd))),
    }
}

async fn apiserver_cmd(
    assets: Option<PathBuf>,
    creates: usize,
    format: OutputFormat,
) -> anyhow::Result<u8> {
    let report = apiserver::run(assets, creates.max(1)).await?;
    if format == OutputFormat::Json {
        out!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(0);
    }
    out!(
        "kube-apiserver {}: dry-run create of the Longhorn namespace, interleaved, one connection",
        report.kubernetes
    );
    out!(
        "(cel: hand-written policies; generated: what `policies cel` writes for the default configuration)"
    );
    out!(
        "{:<9} {:>8} {:>10} {:>10} {:>12}",
        "mode",
        "creates",
        "p50",
        "p90",
        "added p50"
    );
    for m in &report.modes {
        out!(
            "{:<9} {:>8} {:>7} µs {:>7} µs {:>9} µs",
            m.mode,
            m.creates,
            m.p50_us,
            m.p90_us,
            m.added_p50_us
        );
    }
    out!(
        "dry-run create of a Longhorn Node with three disks, modes in turn by blocks, one connection"
    );
    out!(
        "{:<9} {:>8} {:>10} {:>10} {:>12} {:>16} {:>12}",
        "mode",
        "creates",
        "p50",
        "p90",
        "added p50",
        "apiserver CPU",
        "guard CPU"
    );
    for n in &report.nodes {
        let m = &n.latency;
        out!(
            "{:<9} {:>8} {:>7} µs {:>7} µs {:>9} µs {:>8.0} µs/call {:>6.0} µs/call",
            m.mode,
            m.creates,
            m.p50_us,
            m.p90_us,
            m.added_p50_us,
            n.apiserver_cpu_us,
            n.guard_cpu_us
        );
    }
    Ok(0)
}

fn policy_cmd(fixture: Option<Fixture>, seconds: f64, json: bool) -> anyhow::Result<u8> {
    let fixtures = fixture.map_or(Fixture::ALL.to_vec(), |f| vec![f]);
    let mut reports = Vec::new();
    for f in fixtures {
        reports.push(policy(f, Duration::from_secs_f64(seconds))?);
    }
    if json {
        out!("{}", serde_json::to_string_pretty(&reports)?);
        return Ok(0);
    }
    out!("fixture    bytes   reviews/s   ns/review   (one thread: decode, evaluate, encode)");
    for r in &reports {
        out!(
            "{:<9} {:>6} {:>11.0} {:>11.0}",
            r.fixture.name(),
            r.bytes,
            r.reviews_per_sec,
            r.ns_per_review
        );
    }
    Ok(0)
}

/// One `GET /healthz` on `--target` before anything is measured, so that a
/// dead or wrong target fails at once, saying which step failed, instead of
/// counting errors for the whole run.
async fn reach(opts: &LoadOptions, url: &str) -> anyhow::Result<()> {
    const WAIT: Duration = Duration::from_secs(5);
    let addr = opts.addr;
    tokio::time::timeout(WAIT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| anyhow::anyhow!("--target {url}: {addr} did not answer within 5 s"))?
        .with_context(|| format!("--target {url}: cannot connect to {addr}"))?;
    let tls = tokio_rustls::TlsConnector::from(client_config(&opts.ca_pem, opts.proto)?);
    let step = |stage: String| {
        let hint = match stage.as_str() {
            "tls" => " (is --ca the CA of its certificate, and the URL's host one of its names?)",
            _ => "",
        };
        anyhow::anyhow!("--target {url}: the {stage} step failed against {addr}{hint}")
    };
    let mut conn = tokio::time::timeout(WAIT, connect(opts, &tls))
        .await
        .map_err(|_| step("connect".into()))?
        .map_err(step)?;
    let req = hyper::Request::get(format!(
        "https://{}:{}/healthz",
        opts.server_name,
        addr.port()
    ))
    .header(hyper::header::HOST, opts.server_name.as_str())
    .body(Full::new(Bytes::new()))?;
    tokio::time::timeout(WAIT, send(&mut conn, req))
        .await
        .map_err(|_| step("GET /healthz".into()))?
        .map_err(|e| step(format!("GET /healthz ({e})")))
}

async fn http_cmd(cmd: BenchCommand) -> anyhow::Result<u8> {
    let BenchCommand::Http {
        target,
        ca,
        concurrency,
        duration,
        warmup,
        fixture,
        http1: _,
        http2,
        format,
        json,
    } = cmd
    else {
        unreachable!("called for bench http only");
    };
    let json = json || format == OutputFormat::Json;
    let proto = if http2 { Proto::Http2 } else { Proto::Http1 };
    let (child, addr, server_name, ca_pem) = match &target {
        None => {
            let exe = std::env::current_exe().context("cannot find this executable")?;
            let child = ChildServer::start(&exe).await?;
            let (addr, ca) = (child.addr, child.ca_pem()?);
            (Some(child), addr, "localhost".to_string(), ca)
        }
        Some(url) => {
            let uri: axum::http::Uri = url
                .parse()
                .with_context(|| format!("--target {url:?} is not a URL"))?;
            let host = uri.host().context("--target has no host")?.to_string();
            let port = uri.port_u16().unwrap_or(443);
            let addr = tokio::net::lookup_host((host.as_str(), port))
                .await?
                .next()
                .with_context(|| format!("{host} does not resolve"))?;
            let ca = ca.unwrap_or_else(|| PathBuf::from("certs-dev/ca.crt"));
            let pem =
                std::fs::read(&ca).with_context(|| format!("cannot read CA {}", ca.display()))?;
            (None, addr, host, pem)
        }
    };
    let idle = match &child {
        Some(c) => Some(c.rss()?.0),
        None => None,
    };
    let opts = LoadOptions {
        addr,
        server_name,
        ca_pem,
        concurrency: concurrency.max(1),
        duration: Duration::from_secs_f64(duration),
        warmup: Duration::from_secs_f64(warmup),
        proto,
    };
    if let Some(url) = &target {
        reach(&opts, url).await?;
    }
    let review = load::load(&opts, "/validate", Some(Bytes::from_static(fixture.body()))).await?;
    let health = load::load(&opts, "/healthz", None).await?;
    let peak = match &child {
        Some(c) => Some(c.rss()?.1),
        None => None,
    };
    let ratio = if health.requests_per_sec > 0.0 {
        review.requests_per_sec / health.requests_per_sec
    } else {
        0.0
    };
    if json {
        let out = serde_json::json!({
            "target": addr.to_string(),
            "fixture": fixture,
            "bytes": fixture.body().len(),
            "proto": proto,
            "concurrency": opts.concurrency,
            "duration_s": duration,
            "validate": review,
            "healthz": health,
            "ratio": ratio,
            "ready_ms": child.as_ref().map(|c| c.ready_after.as_secs_f64() * 1000.0),
            "idle_rss_bytes": idle,
            "peak_rss_bytes": peak,
        });
        out!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        match &child {
            Some(c) => out!(
                "server: {} started by bench, ready in {:.1} ms, idle RSS {}",
                addr,
                c.ready_after.as_secs_f64() * 1000.0,
                mib(idle.unwrap_or(0))
            ),
            None => out!("server: {addr} (--target)"),
        }
        out!(
            "{}, {} connections, {duration} s measured after {warmup} s warm-up",
            proto,
            opts.concurrency
        );
        out!("endpoint                      req/s     p50 µs   p90 µs   p99 µs   max µs   errors");
        for (name, r) in [
            (
                format!(
                    "POST /validate ({}, {} B)",
                    fixture.name(),
                    fixture.body().len()
                ),
                &review,
            ),
            ("GET /healthz".to_string(), &health),
        ] {
            let errors: Vec<String> = r.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            out!(
                "{:<28} {:>8.0} {:>9} {:>8} {:>8} {:>8}   {}",
                name,
                r.requests_per_sec,
                r.p50_us,
                r.p90_us,
                r.p99_us,
                r.max_us,
                if errors.is_empty() {
                    "0".to_string()
                } else {
                    errors.join(", ")
                }
            );
        }
        out!("admission/healthz throughput: {:.0}%", ratio * 100.0);
        if let Some(p) = peak {
            out!("server peak RSS: {}", mib(p));
        }
    }
    let failed = review.errors.values().sum::<u64>() + health.errors.values().sum::<u64>();
    Ok(u8::from(failed > 0))
}
